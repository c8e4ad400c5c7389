"""``webdataset``: ``.tar`` shards whose members sharing a key make one sample (WebDataset's convention).

A member ``dir/0001.jpg`` has key ``dir/0001`` and extension ``jpg`` (the key ends at the first dot of
the base name); a sample's members are consecutive in the shard. ``jpg``/``jpeg``/``png``/``webp`` is
the image, ``txt`` the caption, ``json`` metadata (``--map FIELD=json.path`` or ``tags.NAME=json.path``),
``cls`` a class label (``--map tags.label=cls``). Shards are read as streams (``tarfile`` ``r|*``),
one member at a time. A source ``name-{000000..000009}.tar`` is expanded as WebDataset does.
"""

from __future__ import annotations

import json
import re
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from qa_gate.errors import GoldenError
from qa_gate.golden.imports.mapping import fill
from qa_gate.golden.imports.record import BytesImage, Reader, ReadSettings, Record

IMAGE_EXTENSIONS = ("jpg", "jpeg", "png", "webp")
_BRACES = re.compile(r"\{(\d+)\.\.(\d+)\}")


def expand(source: Path) -> list[Path]:
    """``name-{000000..000002}.tar`` -> the three shard paths (zero padding kept); any other path as it is."""
    match = _BRACES.search(source.name)
    if match is None:
        return [source]
    first, last = match.groups()
    if int(last) < int(first):
        raise GoldenError(f"{source}: the range {{{first}..{last}}} is empty; expected a first number <= the last")
    width = len(first)
    names = [source.name[:match.start()] + str(n).zfill(width) + source.name[match.end():]
             for n in range(int(first), int(last) + 1)]
    return [path for name in names for path in expand(source.with_name(name))]


def _split(name: str) -> tuple[str, str]:
    folder, _, base = name.rpartition("/")
    stem, dot, ext = base.partition(".")
    return (f"{folder}/{stem}" if folder else stem), (ext.lower() if dot else "")


def _members(shard: Path) -> Iterator[tuple[str, dict[str, bytes]]]:
    key, parts = None, {}
    try:
        with tarfile.open(shard, mode="r|*") as tar:
            for member in tar:
                if not member.isfile():
                    continue
                name_key, ext = _split(member.name)
                if key is not None and name_key != key:
                    yield key, parts
                    parts = {}
                key = name_key
                handle = tar.extractfile(member)
                parts[ext] = handle.read() if handle is not None else b""
    except tarfile.TarError as exc:
        raise GoldenError(f"{shard}: not a readable tar shard ({exc})") from None
    if key is not None:
        yield key, parts


def _get(row: dict[str, Any], column: str) -> Any:
    source, _, path = column.partition(".")
    if source not in row:
        raise KeyError(column)
    value = row[source]
    for part in filter(None, path.split(".")):
        if not isinstance(value, dict) or part not in value:
            raise KeyError(column)
        value = value[part]
    return value


def webdataset(settings: ReadSettings) -> Reader:
    """Samples of WebDataset shards."""
    mapping = {"caption": "txt", **settings.mapping}

    def records() -> Iterator[Record]:
        for shard in settings.sources:
            for key, parts in _members(shard):
                where = f"{shard.name}: {key}"
                row: dict[str, Any] = {}
                for ext, data in parts.items():
                    if ext in ("txt", "cls"):
                        row[ext] = data.decode("utf-8", errors="replace").strip()
                    elif ext == "json":
                        try:
                            row["json"] = json.loads(data)
                        except ValueError as exc:
                            raise GoldenError(f"{where}.json: not valid JSON ({exc})") from None
                image_ext = next((ext for ext in IMAGE_EXTENSIONS if ext in parts), None)
                image = None if image_ext is None else BytesImage(parts[image_ext], f".{image_ext}")
                mapped = {target: column for target, column in mapping.items()
                          if target != "caption" or column != "txt" or "txt" in row}
                try:
                    fields, tags = fill(row, mapped, _get, where)
                except GoldenError:
                    raise
                skip = None
                if "caption" in mapping and "caption" not in fields and image is not None:
                    skip = f"no caption ({mapping['caption']})"
                yield Record(key, where, image, fields, tags, skip)
    return records
