"""A suite's one manifest file, in either format: find it, read it, write it, and its format-free content digest."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from qa_gate.errors import GoldenError
from qa_gate.files import write_atomic
from qa_gate.golden.jsonl import read_jsonl, render_jsonl
from qa_gate.golden.manifest import MANIFEST, MANIFEST_JSONL, MANIFESTS, Head, Sample, sample_entry
from qa_gate.golden.problems import ProblemSink, display
from qa_gate.golden.yaml_manifest import read_yaml_manifest, render_yaml

FORMATS = {"yaml": MANIFEST, "jsonl": MANIFEST_JSONL}
"""``--to`` of ``mm-gate golden convert`` -> the manifest file name."""


def find_manifest(root: Path, where: str, ignore: Iterable[str] = ()) -> str:
    """The name of the one manifest in the suite folder ``root`` (``where`` as messages show it)."""
    present = [name for name in MANIFESTS if name not in ignore and (root / name).is_file()]
    if len(present) > 1:
        raise GoldenError(f"{where}: holds both {MANIFEST} and {MANIFEST_JSONL}; expected exactly one manifest "
                          f"(mm-gate golden convert {where} --to yaml|jsonl --force replaces one with the other)")
    if not present:
        raise GoldenError(f"{where}: missing {MANIFEST} (or {MANIFEST_JSONL}); expected a manifest listing the "
                          "suite's samples")
    return present[0]


def read_manifest(path: Path, name: str, problems: ProblemSink,
                  check_image: Callable[[str, str], Path | None]) -> tuple[Head, list[Sample]]:
    """The head and samples of the manifest file at ``path``, read in the format of the manifest ``name``
    (``manifest.yaml`` or ``manifest.jsonl``); problems go to ``problems``."""
    reader = read_jsonl if name == MANIFEST_JSONL else read_yaml_manifest
    return reader(path, problems, check_image)


def render_manifest(name: str, head: Head, entries: Iterable[Mapping[str, Any]]) -> bytes:
    """The bytes of a manifest file ``name`` (``manifest.yaml`` or ``manifest.jsonl``)."""
    if name == MANIFEST_JSONL:
        return "".join(render_jsonl(head, entries)).encode("utf-8")
    return render_yaml(head, entries).encode("utf-8")


def content_digest(head: Head, samples: Iterable[Sample]) -> str:
    """sha256 of the manifest's canonical form (the JSON Lines :func:`render_manifest` writes for it):
    the same for a YAML and a JSON Lines manifest of the same samples, whatever their layout."""
    digest = hashlib.sha256()
    for line in render_jsonl(head, (sample_entry(sample) for sample in samples)):
        digest.update(line.encode("utf-8"))
    return digest.hexdigest()


def write_manifest(folder: Path, entries: Iterable[Mapping[str, Any]], *, kind: str = "jsonl",
                   description: str | None = None, labels: Sequence[str] | None = None,
                   overwrite: bool = False) -> Path:
    """Write a suite's manifest (``kind``: ``jsonl`` or ``yaml``) atomically into ``folder`` and return its path.

    ``entries`` are samples as the manifest holds them (``id``, ``image`` relative to ``folder``,
    ``caption``, ...: see :mod:`golden.manifest`); ``labels`` is the suite's label set. Nothing is
    checked here: run :func:`golden.suite.write_hashes` once the images are in place, which checks
    the manifest and pins every file. Refused when ``folder`` holds a manifest of the other format
    (a suite has one), or one of this format unless ``overwrite``.
    """
    if kind not in FORMATS:
        raise GoldenError(f"manifest format {kind!r}: expected one of {', '.join(FORMATS)}")
    name, folder = FORMATS[kind], Path(folder)
    other = next(n for n in MANIFESTS if n != name)
    if (folder / other).exists():
        raise GoldenError(f"{display(folder)}: holds {other}; a suite has one manifest (mm-gate golden convert "
                          f"{display(folder)} --to {kind} changes its format)")
    if (folder / name).exists() and not overwrite:
        raise GoldenError(f"{display(folder)}: {name} exists; not overwritten")
    head = Head(description, None if labels is None else tuple(labels))
    return write_atomic(folder / name, render_manifest(name, head, entries))
