"""The YAML manifest (``manifest.yaml``), for small hand-written suites: read in qa_gate's YAML dialect, written back.

It is read with libyaml's C parser where PyYAML has it (``config.values.load_yaml``: the dialect's word
rules are Python resolvers either way; a refused file is read again by the pure-Python parser so its
message and position are the ones it always had), numbers keeping how they were written. The
document is built whole, then each sample is checked and its raw entry dropped; nothing of the YAML
(nodes or raw entries) is kept once the samples are parsed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

from qa_gate.golden.manifest import MANIFEST, TOP_KEYS, Head, Place, Sample, parse_head, parse_sample, show
from qa_gate.golden.problems import ProblemSink
from qa_gate.golden.written import as_written

_MAP, _SEQ = "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"


@cache
def manifest_loaders() -> tuple[Any, Any]:
    """qa_gate's YAML dialect at C speed and in pure Python (``config.values``), numbers remembering their
    text (``as_written``) so ``1:30`` or ``1.10`` in a text field can be quoted back rather than read as 90 or 1.1."""
    import yaml

    from qa_gate.config.values import PureYamlLoader, YamlLoader

    def number(loader: Any, node: yaml.ScalarNode) -> float:  # an int is kept an int
        value = loader.construct_yaml_int(node) if node.tag.endswith(":int") else loader.construct_yaml_float(node)
        return as_written(value, node.value)

    made = []
    for base in (YamlLoader, PureYamlLoader):
        loader: Any = type(f"Manifest{base.__name__}", (base,), {"__doc__": "A manifest's YAML loader."})
        loader.add_constructor("tag:yaml.org,2002:int", number)
        loader.add_constructor("tag:yaml.org,2002:float", number)
        made.append(loader)
    return made[0], made[1]


def read_yaml_manifest(path: Path, problems: ProblemSink,
                       check_image: Callable[[str, str], Path | None]) -> tuple[Head, list[Sample]]:
    """The manifest's head and samples; problems go to ``problems``."""
    import yaml

    from qa_gate.config.values import load_yaml

    try:
        data = load_yaml(Path(path).read_text(encoding="utf-8"), *manifest_loaders())
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        problems.add(f"{MANIFEST}: not valid YAML: {exc}")
        return Head(), []
    return parse_manifest(data, problems, check_image)


def parse_manifest(data: Any, problems: ProblemSink,
                   check_image: Callable[[str, str], Path | None]) -> tuple[Head, list[Sample]]:
    """The head and samples of a YAML manifest's document ``data`` (its raw entries are dropped as they are read)."""
    if not isinstance(data, dict):
        problems.add(f"{MANIFEST}: expected a mapping with 'version' and 'samples', got {show(data)}")
        return Head(), []
    head = parse_head(data, TOP_KEYS, "version", MANIFEST, problems)
    raw = data.get("samples")
    if not isinstance(raw, list):
        problems.add(f"{MANIFEST}: 'samples' must be a list of samples, got {show(raw)}")
        return head, []
    if not raw:
        problems.add(f"{MANIFEST}: the suite has no samples; expected at least one")
    seen: dict[str, str] = {}
    samples = []
    for i, entry in enumerate(raw):
        raw[i] = None
        sample = parse_sample(Place(MANIFEST, i), entry, head.labels, problems, seen, check_image)
        if sample is not None:
            samples.append(sample)
    return head, samples


class _Flow(list):
    """A list written in flow style: ``[a, b]``."""


class _FlowMap(dict):
    """A mapping written in flow style: ``{k: v}``."""


class _Block(dict):
    """A mapping written in block style, one key a line (a sample)."""


@cache
def _dumper() -> Any:
    """A safe dumper (libyaml's emitter where available) that quotes every string qa_gate's dialect or
    YAML 1.1 would read as something else (``yes``, ``007``, ``1e-3``), in the demo's manifest layout."""
    import re

    import yaml

    base = getattr(yaml, "CSafeDumper", None) if getattr(yaml, "__with_libyaml__", False) else None
    dumper: Any = type("ManifestDumper", (base or yaml.SafeDumper,), {})
    dumper.add_implicit_resolver("tag:yaml.org,2002:float",
                                 re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
                                 list("-+0123456789"))
    dumper.add_representer(_Flow, lambda d, v: d.represent_sequence(_SEQ, v, flow_style=True))
    dumper.add_representer(_FlowMap, lambda d, v: d.represent_mapping(_MAP, v, flow_style=True))
    dumper.add_representer(_Block, lambda d, v: d.represent_mapping(_MAP, v, flow_style=False))
    return dumper


def _styled(entry: Mapping[str, Any]) -> _Block:
    return _Block({key: _Flow(value) if isinstance(value, list) else _FlowMap(value) if isinstance(value, dict)
                   else value for key, value in entry.items()})


def render_yaml(head: Head, entries: Iterable[Mapping[str, Any]]) -> str:
    """A YAML manifest holding ``head`` and ``entries``: ``version``, ``description``, ``labels``, ``samples``."""
    import yaml

    data: dict[str, Any] = {"version": 1}
    if head.description:
        data["description"] = head.description
    if head.labels is not None:
        data["labels"] = _Flow(head.labels)
    if head.kind != "golden":
        data["kind"] = head.kind
    data["samples"] = [_styled(entry) for entry in entries]
    return str(yaml.dump(data, Dumper=_dumper(), sort_keys=False, allow_unicode=True, width=1 << 20))
