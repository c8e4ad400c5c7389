"""``--map FIELD=COLUMN``: which source column fills which manifest field (or ``tags.NAME`` a tag)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from qa_gate.errors import GoldenError
from qa_gate.golden.manifest import SAMPLE_KEYS

LIST_FIELDS = ("references", "answers", "choices", "labels", "objects")
TARGETS = tuple(key for key in SAMPLE_KEYS if key != "tags")


def parse_map(items: Iterable[str]) -> dict[str, str]:
    """``["caption=text", "tags.colour=col,id=key"]`` -> ``{"caption": "text", "tags.colour": "col", "id": "key"}``."""
    mapping: dict[str, str] = {}
    for item in items:
        for part in filter(None, (p.strip() for p in item.split(","))):
            target, sep, column = part.partition("=")
            target, column = target.strip(), column.strip()
            if not sep or not target or not column:
                raise GoldenError(f"--map {part!r}: expected FIELD=COLUMN (e.g. caption=text or tags.colour=colour)")
            if target not in TARGETS and target != "tags" and not (target.startswith("tags.") and len(target) > 5):
                raise GoldenError(f"--map {part!r}: unknown field {target!r}; expected one of {', '.join(TARGETS)}, "
                                  "tags (a mapping) or tags.NAME")
            mapping[target] = column
    return mapping


def with_defaults(mapping: Mapping[str, str], columns: Iterable[str]) -> dict[str, str]:
    """``mapping`` plus each column named like a field (``caption``, ``tags``, ...) that is not mapped already."""
    merged = dict(mapping)
    used = set(mapping.values())
    for column in columns:
        if column in (*TARGETS, "tags") and column not in merged and column not in used:
            merged[column] = column
    return merged


def list_value(value: Any, where: str, field: str) -> Any:
    """A list field from a table cell: a list stays, a JSON array text is parsed, other text split on ``|``."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text.startswith("["):
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise GoldenError(f"{where}: {field}: {text[:60]!r} is not a JSON array ({exc.msg}); expected a JSON "
                              "array or values separated by '|'") from None
    return [part.strip() for part in text.split("|")] if text else []


def fill(row: Mapping[str, Any], mapping: Mapping[str, str], get: Any, where: str) -> tuple[dict[str, Any],
                                                                                             dict[str, str]]:
    """The manifest fields and tags of one row; ``get(row, column)`` reads a column (``KeyError`` if absent)."""
    fields: dict[str, Any] = {}
    tags: dict[str, str] = {}
    for target, column in mapping.items():
        if target in ("id", "image"):
            continue
        try:
            value = get(row, column)
        except KeyError:
            raise GoldenError(f"{where}: no column {column!r} (mapped to {target}); the row has "
                              f"{', '.join(map(str, row)) or 'no columns'}") from None
        if value is None or value == "":
            continue
        if target == "tags":
            value = json.loads(value) if isinstance(value, str) else value
            if not isinstance(value, dict):
                raise GoldenError(f"{where}: tags: expected a mapping of tag names to values, got {value!r}")
            tags.update({str(k): _scalar(v) for k, v in value.items()})
        elif target.startswith("tags."):
            tags[target[5:]] = _scalar(value)
        else:
            fields[target] = list_value(value, where, target) if target in LIST_FIELDS else value
    return fields, tags


def _scalar(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)
