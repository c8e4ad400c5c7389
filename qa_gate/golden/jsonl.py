"""The JSON Lines manifest (``manifest.jsonl``): one JSON object a line, read and checked in one streaming pass.

The first line is the header, the suite-level keys of ``manifest.yaml`` beside ``samples``::

    {"qa_gate_manifest": 1, "description": "Product photos", "labels": ["bags", "shoes"]}

(``qa_gate_manifest`` is the format version, as ``version`` is in YAML; ``description`` and
``labels`` are optional). Every other non-blank line is one sample with the fields of a YAML
sample. Lines are parsed with :mod:`json`'s C scanner and checked as they are read, so no parse
tree of the whole file is ever held; a problem names the file, the line number, the sample and
the field. JSON has no YAML word rules: ``"yes"`` is text and ``true`` a boolean; numbers in text
fields are read as :mod:`golden.written` says. ``NaN``/``Infinity`` and a key given twice in one
object are refused.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from qa_gate.golden.manifest import MANIFEST_JSONL, Head, Place, Sample, parse_head, parse_sample, show
from qa_gate.golden.problems import ProblemSink
from qa_gate.golden.written import as_written

HEADER_KEY = "qa_gate_manifest"
HEAD_KEYS = (HEADER_KEY, "description", "labels", "kind")


class _Refused(ValueError):
    """A value strict JSON does not have, or a key given twice: the line is refused."""


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    data = dict(pairs)
    if len(data) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _Refused(f"duplicate key {key!r}")
            seen.add(key)
    return data


def _constant(name: str) -> Any:
    raise _Refused(f"{name} is not a JSON number")


_DECODER = json.JSONDecoder(object_pairs_hook=_unique_keys, parse_constant=_constant,
                            parse_int=lambda text: as_written(int(text), text),
                            parse_float=lambda text: as_written(float(text), text))
_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False)


def _decode(raw: bytes, where: str, problems: ProblemSink) -> tuple[bool, Any]:
    """``(True, value)`` of one line, or ``(False, None)`` after reporting why it is not one JSON value."""
    try:
        text = raw.rstrip(b"\r\n").decode("utf-8")  # so a column past the end is on this line
    except UnicodeDecodeError as exc:
        problems.add(f"{where}: not valid UTF-8 text (byte {exc.start + 1} of the line)")
        return False, None
    try:
        return True, _DECODER.decode(text)
    except json.JSONDecodeError as exc:
        problems.add(f"{where}: not valid JSON: {exc.msg} at column {exc.colno}; expected one JSON object a line")
    except (ValueError, RecursionError) as exc:  # _Refused, or an integer too long to read
        problems.add(f"{where}: not valid JSON: {exc}; expected one JSON object a line")
    return False, None


def _head(value: Any, number: int, problems: ProblemSink) -> Head | None:
    """The header of line ``number``, or ``None`` after reporting that the line is not one."""
    where = f"{MANIFEST_JSONL} line {number}"
    if isinstance(value, dict) and HEADER_KEY in value:
        return parse_head(value, HEAD_KEYS, HEADER_KEY, where, problems, language="JSON")
    problems.add(f"{where}: expected the header line first, {{\"{HEADER_KEY}\": 1, ...}} (optionally "
                 f"\"description\" and \"labels\"), got {show(value)}")
    return None


def read_jsonl(path: Path, problems: ProblemSink,
               check_image: Callable[[str, str], Path | None]) -> tuple[Head, list[Sample]]:
    """The manifest's header and samples, read line by line; problems go to ``problems``."""
    head: Head | None = None
    samples: list[Sample] = []
    seen: dict[str, str] = {}
    entries = 0
    with Path(path).open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            ok, value = _decode(raw, f"{MANIFEST_JSONL} line {number}", problems)
            if head is None:
                head = Head()
                if ok and (found := _head(value, number, problems)) is not None:
                    head = found
                    continue
            entries += 1
            if ok and (sample := parse_sample(Place(MANIFEST_JSONL, number, lines=True), value, head.labels,
                                              problems, seen, check_image)) is not None:
                samples.append(sample)
    if head is None:
        problems.add(f"{MANIFEST_JSONL}: the file is empty; expected a header line "
                     f"{{\"{HEADER_KEY}\": 1}} and then one sample a line")
    elif not entries:
        problems.add(f"{MANIFEST_JSONL}: the suite has no samples; expected at least one")
    return head or Head(), samples


def render_jsonl(head: Head, entries: Iterable[Mapping[str, Any]]) -> Iterator[str]:
    """The lines (each ending in a newline) of a JSON Lines manifest holding ``head`` and ``entries``."""
    header: dict[str, Any] = {HEADER_KEY: 1}
    if head.description:
        header["description"] = head.description
    if head.labels is not None:
        header["labels"] = list(head.labels)
    if head.kind != "golden":
        header["kind"] = head.kind
    yield _ENCODER.encode(header) + "\n"
    for entry in entries:
        yield _ENCODER.encode(entry) + "\n"
