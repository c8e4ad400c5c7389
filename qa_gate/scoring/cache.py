"""The on-disk output cache: packs of model outputs, each checksummed and written atomically.

One folder per namespace (``qa_gate.scoring.cache_key``) under the cache directory holds, per
operation, *packs*: files of entries (a 32-byte entry key and the output of that input: a row of
numbers or a text). A pack is written once, atomically (:func:`qa_gate.files.write_atomic`), and
ends with the sha256 of everything before it, so a truncated or altered pack is detected when it
is read, ignored (its inputs are recomputed), and removed. Rows are stored as float32 when that
is exact (model outputs are float32), else float64, so a cached run's numbers equal the run that
wrote them bit for bit. Many small packs of one operation are merged into one when read.

A folder that cannot be written (read-only, full) costs one warning line; the run goes on and
writes nothing more. Nothing here ever fails a run.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import struct
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from qa_gate.errors import first_line
from qa_gate.files import unwritable, write_atomic

MAGIC = b"qa_gate outputs\n"
DIGEST = 32
KEY = 32
PACK_SUFFIX = ".pack"
CARD_SUFFIX = ".card"
PACK_ENTRIES = 4096
"""The most entries one pack holds (a write never copies more outputs than that at once)."""
MERGE_AT = 16
"""Small packs (under a quarter of :data:`PACK_ENTRIES`) of one operation that are merged into full ones."""
KEEP = 8
"""Namespaces (models and ways of running them) a cache directory keeps: the most recently used."""
Warn = Callable[[str], None]


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


def decode_pack(data: bytes) -> tuple[dict[str, Any], list[bytes], list[Any]]:
    """The header, keys and values of a pack; :class:`CorruptEntry` when its checksum or layout is wrong."""
    body, digest = data[:-DIGEST], data[-DIGEST:]
    if len(data) < len(MAGIC) + 4 + DIGEST or not body.startswith(MAGIC):
        raise CorruptEntry("truncated or not a pack")
    if hashlib.sha256(body).digest() != digest:
        raise CorruptEntry("checksum mismatch")
    at = len(MAGIC)
    (size,) = struct.unpack_from("<I", body, at)
    header = json.loads(body[at + 4:at + 4 + size])
    at += 4 + size
    count = int(header["count"])
    keys = [body[at + i * KEY:at + (i + 1) * KEY] for i in range(count)]
    at += count * KEY
    if header["kind"] == "texts":
        texts = json.loads(body[at:].decode("utf-8"))
        if len(texts) != count or not all(isinstance(t, str) for t in texts):
            raise CorruptEntry("texts do not match the keys")
        return header, keys, texts
    rows = np.frombuffer(body[at:], dtype=np.dtype(header["dtype"]))
    if rows.size != count * int(header["width"]):
        raise CorruptEntry("rows do not match the keys")
    table = rows.reshape(count, int(header["width"]))
    if not str(header.get("operation", "")).endswith(" encoding"):  # a run holds embeddings as float32, others float64
        table = table.astype(np.float64)
    return header, keys, list(table)


def _slug(operation: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", operation.lower()).strip("-")


class OutputStore:
    """One namespace's folder: look outputs up by entry key, add new ones, read and write model cards."""

    def __init__(self, folder: Path, warn: Warn, *, read: bool = True) -> None:
        self.folder, self._warn, self.read = folder, warn, read
        self.writable = True
        self._index: dict[str, dict[bytes, Any]] = {}
        self._packs: dict[str, dict[Path, list[bytes]]] = {}
        self.hits = 0
        self.misses = 0
        why = unwritable(folder / "probe")
        if why is not None:
            self._stop_writing(why)
        elif folder.is_dir():
            os.utime(folder)  # used now: pruning keeps the most recently used

    def _stop_writing(self, why: str) -> None:
        if self.writable:
            self.writable = False
            self._warn(f"mm-gate: warning: output cache {self.folder.parent} cannot be written ({why}); "
                       "this run's model outputs are not cached")

    def _load(self, operation: str) -> dict[bytes, Any]:
        """Every verified entry of ``operation`` in the folder, read once."""
        if operation in self._index:
            return self._index[operation]
        index: dict[bytes, Any] = {}
        packs: dict[Path, list[bytes]] = {}
        folder = self.folder / _slug(operation)
        names = sorted(folder.glob(f"*{PACK_SUFFIX}")) if self.read and folder.is_dir() else []
        for path in names:
            try:
                header, keys, values = decode_pack(path.read_bytes())
                if header.get("operation") != operation:
                    raise CorruptEntry(f"holds {header.get('operation')!r}")
            except FileNotFoundError:  # merged away by another run meanwhile
                continue
            except (OSError, CorruptEntry, ValueError, KeyError, TypeError) as exc:
                self._corrupt(path, exc)
                continue
            index.update(zip(keys, values))
            packs[path] = keys
        self._index[operation], self._packs[operation] = index, packs
        return index

    def _corrupt(self, path: Path, exc: BaseException) -> None:
        self._warn(f"mm-gate: warning: cached outputs {path} are unusable ({first_line(exc)}); "
                   "they are recomputed, not trusted")
        if self.writable:
            path.unlink(missing_ok=True)

    def release(self) -> None:
        """Forget the entries read so far (the run is scored): their memory goes now, not with the store."""
        self._index.clear()
        self._packs.clear()

    def lookup(self, operation: str, keys: Sequence[bytes]) -> list[Any | None]:
        """The cached output of each key (``None`` where there is none)."""
        index = self._load(operation)
        found = [index.get(k) for k in keys]
        hit = sum(x is not None for x in found)
        self.hits, self.misses = self.hits + hit, self.misses + len(found) - hit
        return found

    def add(self, operation: str, keys: Sequence[bytes], values: Sequence[Any]) -> None:
        """Store ``values`` under ``keys`` in new packs of up to :data:`PACK_ENTRIES`; once :data:`MERGE_AT`
        small packs of the operation gather, their entries are rewritten as full packs and they go."""
        if not keys or not self.writable:
            return
        index = self._load(operation)
        new = dict(zip(keys, values))
        index.update(new)
        self._write_all(operation, list(new), index)
        packs = self._packs.setdefault(operation, {})
        small = [path for path, held in packs.items() if len(held) < PACK_ENTRIES // 4]
        if len(small) >= MERGE_AT and self.writable:
            merged = list(dict.fromkeys(k for path in small for k in packs[path]))
            written = self._write_all(operation, merged, index)
            if written is not None:
                for path in small:
                    if path not in written:
                        path.unlink(missing_ok=True)
                        packs.pop(path, None)

    def _write_all(self, operation: str, keys: list[bytes], index: dict[bytes, Any]) -> list[Path] | None:
        """``keys`` (values in ``index``) as packs of up to :data:`PACK_ENTRIES`: the packs, ``None`` on failure."""
        written = []
        for start in range(0, len(keys), PACK_ENTRIES):
            part = keys[start:start + PACK_ENTRIES]
            path = self._write(operation, part, [index[k] for k in part])
            if path is None:
                return None
            written.append(path)
        return written

    def _write(self, operation: str, keys: list[bytes], values: list[Any]) -> Path | None:
        data = encode_pack(operation, keys, values)
        path = self.folder / _slug(operation) / f"{hashlib.sha256(data).hexdigest()[:32]}{PACK_SUFFIX}"
        try:
            write_atomic(path, data)
        except OSError as exc:
            self._stop_writing(exc.strerror or first_line(exc))
            return None
        self._packs.setdefault(operation, {})[path] = keys
        return path

    def card(self, name: str) -> dict[str, Any] | None:
        """The model card ``name`` (what a model was loaded as, see ``cached_model``), if stored and intact."""
        path = self.folder / f"{name}{CARD_SUFFIX}"
        if not self.read or not path.is_file():
            return None
        try:
            data = path.read_bytes()
            body, digest = data[:-DIGEST], data[-DIGEST:]
            if hashlib.sha256(body).digest() != digest:
                raise CorruptEntry("checksum mismatch")
            card = json.loads(body)
            if not isinstance(card, dict):
                raise CorruptEntry("not a card")
            return card
        except (OSError, CorruptEntry, ValueError) as exc:
            self._corrupt(path, exc)
            return None

    def write_card(self, name: str, card: dict[str, Any]) -> None:
        """Store the model card ``name`` (JSON-able values)."""
        if not self.writable:
            return
        body = json.dumps(card, sort_keys=True, default=str).encode("utf-8")
        try:
            write_atomic(self.folder / f"{name}{CARD_SUFFIX}", body + hashlib.sha256(body).digest())
        except OSError as exc:
            self._stop_writing(exc.strerror or first_line(exc))


def prune(root: Path, keep: int = KEEP, spare: Path | None = None) -> list[Path]:
    """Remove all but the ``keep`` most recently used namespace folders under ``root`` (never ``spare``); the
    removed. Best effort: a folder another run is using may go, and that run then recomputes what it misses."""
    import shutil

    try:
        folders = [p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")]
    except OSError:
        return []
    folders.sort(key=lambda p: (p == spare, _used(p)), reverse=True)
    removed = folders[keep:]
    for folder in removed:
        shutil.rmtree(folder, ignore_errors=True)
    return removed


def _used(folder: Path) -> float:
    try:
        return folder.stat().st_mtime
    except OSError:
        return 0.0
