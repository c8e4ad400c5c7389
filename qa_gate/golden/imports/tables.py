"""``csv`` and ``jsonl``: a table with an image path column, its columns mapped to fields by ``--map``.

A column named like a field (``id``, ``image``, ``caption``, ``answers``, ``tags``, ...) fills it unless
mapped otherwise; ``--map tags.NAME=COLUMN`` makes a tag. List fields take a JSON array, or (in CSV)
values separated by ``|``. In JSON Lines a column may name a nested key (``meta.caption``). Image
paths are relative to ``--images`` (default: the table's folder); a row without an id column gets
``<table name>-<row>``.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from qa_gate.errors import GoldenError
from qa_gate.golden.imports.mapping import fill, with_defaults
from qa_gate.golden.imports.record import FileImage, Reader, ReadSettings, Record, inside, text_id


def _nested(row: Mapping[str, Any], column: str) -> Any:
    if column in row:
        return row[column]
    value: Any = row
    for part in column.split("."):
        if not isinstance(value, Mapping) or part not in value:
            raise KeyError(column)
        value = value[part]
    return value


def _record(row: Mapping[str, Any], mapping: Mapping[str, str], source: Path, root: Path, number: int,
            where: str) -> Record:
    get = _nested if source.suffix != ".csv" else lambda r, c: r[c]
    image_column = mapping.get("image", "image")
    try:
        raw_id = get(row, mapping["id"]) if "id" in mapping else f"{source.stem}-{number:06d}"
        image = get(row, image_column)
    except KeyError as exc:
        raise GoldenError(f"{where}: no column {exc.args[0]!r}; the row has {', '.join(map(str, row))} (map one "
                          "with --map image=COLUMN / id=COLUMN)") from None
    sample_id = text_id(raw_id, where)
    fields, tags = fill(row, mapping, get, where)
    picture = None if image in (None, "") else FileImage(root, inside(root, str(image), f"{where}: sample "
                                                                       f"{sample_id!r}"))
    return Record(sample_id, where, picture, fields, tags)


def csv_table(settings: ReadSettings) -> Reader:
    """Rows of CSV files (a header row, then one sample a row)."""
    def records() -> Iterator[Record]:
        for source in settings.sources:
            root = settings.images or source.parent
            with source.open(encoding="utf-8-sig", newline="") as handle:
                rows = csv.DictReader(handle)
                mapping = with_defaults(settings.mapping, rows.fieldnames or ())
                for number, row in enumerate(rows, start=1):
                    yield _record(row, mapping, source, root, number, f"{source.name} line {rows.line_num}")
    return records


def jsonl_table(settings: ReadSettings) -> Reader:
    """Objects of JSON Lines files (one sample a line)."""
    def records() -> Iterator[Record]:
        for source in settings.sources:
            root = settings.images or source.parent
            with source.open(encoding="utf-8") as handle:
                number = 0
                for line_no, line in enumerate(handle, start=1):
                    if not line.strip():
                        continue
                    where = f"{source.name} line {line_no}"
                    try:
                        row = json.loads(line)
                    except json.JSONDecodeError as exc:
                        raise GoldenError(f"{where}: not valid JSON: {exc.msg} at column {exc.colno}") from None
                    if not isinstance(row, dict):
                        raise GoldenError(f"{where}: expected one JSON object a line, got {type(row).__name__}")
                    number += 1
                    yield _record(row, with_defaults(settings.mapping, row), source, root, number, where)
    return records
