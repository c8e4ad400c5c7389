"""The canonical JSON text of a stored run (``json.dumps(data, indent=1, sort_keys=True)``), faster.

A run's digest (``qa_gate.verdict.record.run_digest``: the verdict file and a sign-off record pin the
baseline by it) is the sha256 of that text, so the text must be the standard library's to the byte.
With ``indent`` set, ``json`` encodes through its pure-Python generators (its C encoder takes no indent
before Python 3.13): ~5 s for 100k samples. :func:`canonical_dumps` builds the same text by direct
recursion, strings escaped by ``json``'s own C function, each list of plain numbers joined at once,
numbers written by ``float.__repr__`` and ``int.__repr__`` as ``json`` writes them (``NaN``,
``Infinity``); anything else (a key that is not a string, a type ``json`` converts or refuses) is
left to ``json`` itself.
"""

from __future__ import annotations

import json
from itertools import chain
from json.encoder import encode_basestring_ascii
from typing import Any


class _Unusual(Exception):
    """Something only ``json`` itself should decide (a non-string key, an unknown type)."""


def _number(value: float | int) -> str:
    if type(value) is int:
        return int.__repr__(value)
    text = float.__repr__(value)
    return text.replace("nan", "NaN").replace("inf", "Infinity") if "n" in text else text


_PLAIN = {float, int}


def _numbers(values: Any, separator: str) -> str:
    """Plain numbers (``float``, ``int``) as ``json`` writes them, joined by ``separator``."""
    text = separator.join(map(repr, values))
    if "n" in text:  # nan, inf, -inf: the only reprs of a float or int holding an "n"
        text = text.replace("nan", "NaN").replace("inf", "Infinity")
    return text


def _table(rows: list[Any] | tuple[Any, ...], depth: int) -> str | None:
    """A list of equally long non-empty lists of plain numbers (per-sample statistics) at once; ``None`` for
    anything else."""
    if not set(map(type, rows)) <= {list, tuple}:
        return None
    width = len(rows[0])
    if not width or any(len(r) != width for r in rows):
        return None
    flat = list(chain.from_iterable(rows))
    if not set(map(type, flat)) <= _PLAIN:
        return None
    inner, outer = "\n" + " " * (depth + 1), "\n" + " " * depth
    cell, close = inner + " ", inner + "]"
    texts = _numbers(flat, "\0").split("\0")
    body = [("," + cell).join(texts[i:i + width]) for i in range(0, len(texts), width)]
    return "[" + inner + "[" + cell + ("," + cell).join(body[:1]) + "".join(
        close + "," + inner + "[" + cell + row for row in body[1:]) + close + outer + "]"


def _encode(obj: Any, depth: int) -> str:
    kind = type(obj)
    if kind is str:
        return str(encode_basestring_ascii(obj))
    if kind is float or kind is int:
        return _number(obj)
    if obj is None:
        return "null"
    if obj is True:
        return "true"
    if obj is False:
        return "false"
    inner, outer = "\n" + " " * (depth + 1), "\n" + " " * depth
    if kind is dict:
        if not obj:
            return "{}"
        if not all(type(k) is str for k in obj):
            raise _Unusual
        items = [encode_basestring_ascii(k) + ": " + _encode(obj[k], depth + 1) for k in sorted(obj)]
        return "{" + inner + ("," + inner).join(items) + outer + "}"
    if kind is list or kind is tuple:
        if not obj:
            return "[]"
        if set(map(type, obj)) <= _PLAIN:
            return "[" + inner + _numbers(obj, "," + inner) + outer + "]"
        table = _table(obj, depth)
        if table is not None:
            return table
        return "[" + inner + ("," + inner).join(_encode(v, depth + 1) for v in obj) + outer + "]"
    if isinstance(obj, (str, int, float, dict, list, tuple)):  # a subclass: json's own rules
        raise _Unusual
    raise _Unusual


def canonical_dumps(data: Any) -> str:
    """Exactly ``json.dumps(data, indent=1, sort_keys=True)``."""
    try:
        return _encode(data, 0)
    except (_Unusual, RecursionError):
        return json.dumps(data, indent=1, sort_keys=True)
