"""The type checks of a predictions row's values: a bad value is one line naming the file, the row and the field."""

from __future__ import annotations

import math
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from qa_gate.errors import AdapterError

Record = dict[str, Any]
FIELDS = ("caption", "answer", "text", "labels", "scores", "image_embedding", "text_embedding")


def sample_id(name: str, at: str, value: Any) -> str:
    if isinstance(value, bool) or isinstance(value, (int, float)):
        raise AdapterError(f"{name}: {at}: id {value!r} is a number; ids are strings, as the manifest's are: "
                           f'write "id": "{value}"')
    if not isinstance(value, str) or not value:
        raise AdapterError(f"{name}: {at}: id: expected a non-empty string (the sample's id), got {value!r}")
    return value


def text_row(name: str, at: str, record: Record) -> tuple[str, str, Any]:
    text = record.get("input_text")
    if text is None:
        raise AdapterError(f"{name}: {at}: has no id; expected a sample row with an 'id', or a text row with "
                           "'input_text' and its 'text_embedding'")
    if not isinstance(text, str):
        raise AdapterError(f"{name}: {at}: input_text: expected a string, got {type(text).__name__} {text!r:.40}")
    extra = sorted(k for k in record if k in FIELDS and k != "text_embedding" and record[k] is not None)
    if extra:
        raise AdapterError(f"{name}: {at}: a text row (no id) holds {', '.join(extra)}; a text row holds only "
                           "input_text and its text_embedding (or is missing its id)")
    return text, at, record.get("text_embedding")


def text(name: str, at: str, key: str, value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise AdapterError(f"{name}: {at}: {key}: expected a string, got {type(value).__name__} {value!r:.60}")


def labels(name: str, at: str, value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not isinstance(value, (list, tuple)) or not all(isinstance(x, str) for x in value):
        raise AdapterError(f"{name}: {at}: labels: expected a list of label names, got {value!r:.60}")
    return tuple(value)


def scores(name: str, at: str, value: Any) -> Mapping[str, float] | None:
    if value is None:
        return None
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise AdapterError(f"{name}: {at}: scores: expected a mapping of label name to score, got {value!r:.60}")
    out: dict[str, float] = {}
    for label, score in value.items():
        given = number(score)
        if given is None or not 0.0 <= given <= 1.0:
            raise AdapterError(f"{name}: {at}: scores: {label!r} has {score!r:.40}; expected a finite number in "
                               "[0, 1] (a probability per label)")
        out[label] = given
    return MappingProxyType(out)


def number(value: Any) -> float | None:
    """``value`` as a finite float; ``None`` when it is none (a bool, text, NaN, inf or too large)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None
