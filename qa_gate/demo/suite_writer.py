"""Writing a demo golden suite folder: ``images/<id>.png`` and a hand-formatted ``manifest.yaml``.

The manifest is written line by line rather than with ``yaml.dump`` so its bytes do not
depend on the PyYAML version: plain lower-case words stay unquoted (as in
``golden/shapes``), anything else (``42``, ``yes``, a question mark) is written as a JSON
string, which is also a valid double-quoted YAML scalar. The caller writes ``SHA256SUMS``
(see :func:`qa_gate.golden.write_hashes`).
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

Scalar = str | int | float | bool
Value = Scalar | Sequence[Scalar] | Mapping[str, Scalar]

# Words YAML reads as something other than a string (PyYAML resolves YAML 1.1 booleans and nulls).
_KEYWORDS = frozenset({"y", "n", "yes", "no", "on", "off", "true", "false", "null"})
_PLAIN = re.compile(r"[a-z][a-z0-9_./-]*( [a-z0-9_./-]+)*")


@dataclass(frozen=True)
class GoldenEntry:
    """One sample to write: its id, its image and its manifest fields after ``id`` and ``image``, in order."""

    id: str
    image: Image.Image
    fields: tuple[tuple[str, Value], ...]


def yaml_scalar(value: Scalar) -> str:
    """``value`` as a YAML flow scalar that reads back as exactly ``value`` (and keeps its type)."""
    if isinstance(value, str) and _PLAIN.fullmatch(value) and value.lower() not in _KEYWORDS:
        return value
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise TypeError(f"expected a string or number, got {value!r} ({type(value).__name__})")
    return json.dumps(value)


def yaml_value(value: Value) -> str:
    """A scalar, a flow list ``[a, b]`` or a flow mapping ``{k: v}`` of scalars."""
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{yaml_scalar(k)}: {yaml_scalar(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(yaml_scalar(item) for item in value) + "]"
    return yaml_scalar(value)  # type: ignore[arg-type]


def image_path(sample_id: str) -> str:
    """Where a sample's image lives, relative to the suite folder."""
    return f"images/{sample_id}.png"


def manifest_text(description: str, entries: Sequence[GoldenEntry], labels: Sequence[str] = ()) -> str:
    """The ``manifest.yaml`` text (version 1) for ``entries``, with a top-level ``labels`` list when given."""
    lines = ["version: 1", f"description: {yaml_scalar(description)}"]
    if labels:
        lines.append(f"labels: {yaml_value(list(labels))}")
    lines.append("samples:")
    for entry in entries:
        lines += [f"  - id: {yaml_scalar(entry.id)}", f"    image: {yaml_scalar(image_path(entry.id))}"]
        lines += [f"    {key}: {yaml_value(value)}" for key, value in entry.fields]
    return "\n".join(lines) + "\n"


def write_suite(out: Path, description: str, entries: Sequence[GoldenEntry], labels: Sequence[str] = ()) -> Path:
    """Write ``entries`` as a suite folder ``out`` (deleted first) and return ``out``; ids must be unique."""
    ids = [entry.id for entry in entries]
    if len(set(ids)) != len(ids):
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        raise ValueError(f"{out}: duplicate sample ids {duplicates}")
    if out.exists():
        shutil.rmtree(out)
    (out / "images").mkdir(parents=True)
    for entry in entries:
        # No pnginfo and default compression: identical pixels give identical bytes.
        entry.image.save(out / image_path(entry.id), format="PNG")
    (out / "manifest.yaml").write_text(manifest_text(description, entries, labels), encoding="utf-8")
    return out
