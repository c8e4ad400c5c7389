"""The bytes of a pack of model outputs: a header, the entry keys, the outputs, and a checksum.

A pack (written by ``qa_gate.scoring.cache.OutputStore``) is ``MAGIC``, the length and JSON of a header
(operation, kind, count, width, dtype), ``count`` 32-byte entry keys, the outputs (rows of one width,
float32 when that is exact, else float64; or a JSON list of texts), then the sha256 of everything before.
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

MAGIC = b"qa_gate outputs\n"
DIGEST = 32
KEY = 32


class CorruptEntry(ValueError):
    """A pack or card whose bytes do not match its checksum or layout."""


def encode_pack(operation: str, keys: Sequence[bytes], values: Sequence[Any]) -> bytes:
    """The bytes of a pack holding ``values`` (1-d rows of one width, or strings) under ``keys``."""
    if values and isinstance(values[0], str):
        header: dict[str, Any] = {"operation": operation, "kind": "texts", "count": len(keys)}
        payload = json.dumps(list(values), ensure_ascii=False).encode("utf-8")
    else:
        rows = np.asarray(values, dtype=np.float64).reshape(len(keys), -1)
        narrow = rows.astype(np.float32)
        exact = bool(np.array_equal(narrow.astype(np.float64), rows))
        stored = narrow if exact else rows
        header = {"operation": operation, "kind": "rows", "count": len(keys), "width": int(rows.shape[1]),
                  "dtype": "<f4" if exact else "<f8"}
        payload = stored.astype(header["dtype"]).tobytes()
    head = json.dumps(header, sort_keys=True).encode("utf-8")
    body = MAGIC + struct.pack("<I", len(head)) + head + b"".join(keys) + payload
    return body + hashlib.sha256(body).digest()


def _header(data: bytes) -> tuple[dict[str, Any], int]:
    """A pack's header and where its keys begin; :class:`CorruptEntry` when the start is no pack's."""
    if len(data) < len(MAGIC) + 4 or not data.startswith(MAGIC):
        raise CorruptEntry("truncated or not a pack")
    at = len(MAGIC)
    (size,) = struct.unpack_from("<I", data, at)
    if len(data) < at + 4 + size:
        raise CorruptEntry("truncated header")
    header = json.loads(data[at + 4:at + 4 + size])
    if not isinstance(header, dict) or not isinstance(header.get("count"), int):
        raise CorruptEntry("not a pack header")
    return header, at + 4 + size


def decode(data: bytes) -> tuple[dict[str, Any], list[bytes], Any]:
    """The header, keys and values (a ``[count, width]`` array, or a list of texts) of a verified pack; the rows
    are a read-only view of ``data`` (no copy of a pack's outputs)."""
    if len(data) < len(MAGIC) + 4 + DIGEST or not data.startswith(MAGIC):
        raise CorruptEntry("truncated or not a pack")
    end = len(data) - DIGEST
    if hashlib.sha256(memoryview(data)[:end]).digest() != data[end:]:
        raise CorruptEntry("checksum mismatch")
    header, at = _header(data)
    count = int(header["count"])
    if at + count * KEY > end:
        raise CorruptEntry("truncated keys")
    keys = [data[at + i * KEY:at + (i + 1) * KEY] for i in range(count)]
    at += count * KEY
    if header["kind"] == "texts":
        texts = json.loads(data[at:end].decode("utf-8"))
        if len(texts) != count or not all(isinstance(t, str) for t in texts):
            raise CorruptEntry("texts do not match the keys")
        return header, keys, texts
    dtype, width = np.dtype(header["dtype"]), int(header["width"])
    if end - at != count * width * dtype.itemsize:
        raise CorruptEntry("rows do not match the keys")
    return header, keys, np.frombuffer(data, dtype=dtype, count=count * width, offset=at).reshape(count, width)


def embedding(operation: str) -> bool:
    return operation.endswith(" encoding")  # a run holds embeddings as float32, other rows as float64


def decode_pack(data: bytes) -> tuple[dict[str, Any], list[bytes], list[Any]]:
    """The header, keys and values of a pack; :class:`CorruptEntry` when its checksum or layout is wrong."""
    header, keys, values = decode(data)
    if isinstance(values, list):
        return header, keys, values
    if not embedding(str(header.get("operation", ""))):
        values = values.astype(np.float64)
    return header, keys, list(values)


def read_keys(path: Path) -> tuple[dict[str, Any], list[bytes]]:
    """A pack's header and keys, read without the outputs (and so unverified: :meth:`OutputStore.lookup`
    verifies a pack when it reads outputs from it)."""
    with path.open("rb") as handle:
        start = handle.read(len(MAGIC) + 4)
        if len(start) < len(MAGIC) + 4:
            raise CorruptEntry("truncated or not a pack")
        (size,) = struct.unpack_from("<I", start, len(MAGIC))
        head = start + handle.read(size)
        header, at = _header(head)
        data = head + handle.read(int(header["count"]) * KEY)
    count = int(header["count"])
    if len(data) < at + count * KEY:
        raise CorruptEntry("truncated keys")
    return header, [data[at + i * KEY:at + (i + 1) * KEY] for i in range(count)]
