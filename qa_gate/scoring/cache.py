"""The on-disk output cache: packs of model outputs, each checksummed and written atomically.

One folder per namespace (``qa_gate.scoring.cache_key``) under the cache directory holds, per
operation, *packs* (``qa_gate.scoring.cache_pack``): files of entries (a 32-byte entry key and the
output of that input: a row of numbers or a text). A pack is written once, atomically
(:func:`qa_gate.files.write_atomic`), and ends with the sha256 of everything before it, so a truncated
or altered pack is detected when it is read, ignored (its inputs are recomputed), and removed. Rows are
stored as float32 when that is exact (model outputs are float32), else float64, so a cached run's
numbers equal the run that wrote them bit for bit. Many small packs of one operation are merged into
one when read. The store holds the packs' keys, never their outputs: a lookup copies out the rows asked for.

A folder that cannot be written (read-only, full) costs one warning line; the run goes on and
writes nothing more. Nothing here ever fails a run.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from qa_gate.errors import first_line
from qa_gate.files import unwritable, write_atomic
from qa_gate.scoring.cache_pack import DIGEST, CorruptEntry, decode, embedding, encode_pack, read_keys

PACK_SUFFIX = ".pack"
CARD_SUFFIX = ".card"
PACK_ENTRIES = 4096
"""The most entries one pack holds (a write never copies more outputs than that at once)."""
MERGE_AT = 16
"""Small packs (under a quarter of :data:`PACK_ENTRIES`) of one operation that are merged into full ones."""
GATHER_ROWS = 1024
"""Rows copied from a pack into a gathered matrix at a time."""
KEEP = 8
"""Namespaces (models and ways of running them) a cache directory keeps: the most recently used."""
Warn = Callable[[str], None]


def _slug(operation: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", operation.lower()).strip("-")


class OutputStore:
    """One namespace's folder: look outputs up by entry key, add new ones, read and write model cards.

    The store indexes the keys of each operation's packs (the first lookup reads their headers); outputs
    are read from a pack, verified, only when looked up, and the caller gets copies of the rows it asked
    for: a run never holds the packs (the cache may be much larger than the run) beside its own matrices.
    """

    def __init__(self, folder: Path, warn: Warn, *, read: bool = True) -> None:
        self.folder, self._warn, self.read = folder, warn, read
        self.writable = True
        self._index: dict[str, dict[bytes, tuple[Path, int]]] = {}
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

    def _load(self, operation: str) -> dict[bytes, tuple[Path, int]]:
        """Where each key of ``operation`` is in the folder (pack, row), read once."""
        if operation in self._index:
            return self._index[operation]
        index: dict[bytes, tuple[Path, int]] = {}
        packs: dict[Path, list[bytes]] = {}
        folder = self.folder / _slug(operation)
        names = sorted(folder.glob(f"*{PACK_SUFFIX}")) if self.read and folder.is_dir() else []
        for path in names:
            try:
                header, keys = read_keys(path)
                if header.get("operation") != operation:
                    raise CorruptEntry(f"holds {header.get('operation')!r}")
            except FileNotFoundError:  # merged away by another run meanwhile
                continue
            except (OSError, CorruptEntry, ValueError, KeyError, TypeError) as exc:
                self._corrupt(path, exc)
                continue
            index.update((key, (path, row)) for row, key in enumerate(keys))
            packs[path] = keys
        self._index[operation], self._packs[operation] = index, packs
        return index

    def _corrupt(self, path: Path, exc: BaseException) -> None:
        self._warn(f"mm-gate: warning: cached outputs {path} are unusable ({first_line(exc)}); "
                   "they are recomputed, not trusted")
        if self.writable:
            path.unlink(missing_ok=True)

    def _forget(self, operation: str, path: Path) -> None:
        """Drop ``path``'s entries from the index (it is gone or unusable)."""
        index = self._index.get(operation, {})
        for key in self._packs.get(operation, {}).pop(path, []):
            if index.get(key, (None, 0))[0] == path:
                del index[key]

    def _read(self, operation: str, path: Path) -> tuple[list[bytes], Any] | None:
        """The verified keys and values of one of ``operation``'s packs; ``None`` (and the pack forgotten) when it
        is gone or unusable."""
        try:
            header, keys, values = decode(path.read_bytes())
            if header.get("operation") != operation or keys != self._packs[operation].get(path, keys):
                raise CorruptEntry("not the pack that was indexed")
        except FileNotFoundError:
            self._forget(operation, path)
            return None
        except (OSError, CorruptEntry, ValueError, KeyError, TypeError) as exc:
            self._corrupt(path, exc)
            self._forget(operation, path)
            return None
        return keys, values

    def _located(self, operation: str, keys: Sequence[bytes]) -> dict[Path, list[tuple[int, int]]]:
        """The (position in ``keys``, row in the pack) pairs to read, per pack."""
        index = self._load(operation)
        wanted: dict[Path, list[tuple[int, int]]] = {}
        for at, key in enumerate(keys):
            where = index.get(key)
            if where is not None:
                wanted.setdefault(where[0], []).append((at, where[1]))
        return wanted

    def _count(self, hit: int, asked: int) -> None:
        self.hits, self.misses = self.hits + hit, self.misses + asked - hit

    def release(self) -> None:
        """Forget the index read so far (the run is scored)."""
        self._index.clear()
        self._packs.clear()

    def lookup(self, operation: str, keys: Sequence[bytes]) -> list[Any | None]:
        """The cached output of each key (``None`` where there is none): rows (float32 for embeddings, float64
        otherwise) or texts, copies of just those asked for."""
        found: list[Any | None] = [None] * len(keys)
        for path, pairs in self._located(operation, keys).items():
            read = self._read(operation, path)
            if read is None:
                continue
            values = read[1]
            if isinstance(values, list):
                for at, row in pairs:
                    found[at] = values[row]
                continue
            chosen = values[[row for _, row in pairs]].astype(np.float32 if embedding(operation) and
                                                              values.dtype == np.float32 else np.float64)
            for (at, _), value in zip(pairs, chosen):
                found[at] = value
        self._count(sum(x is not None for x in found), len(found))
        return found

    def gather(self, operation: str, keys: Sequence[bytes]) -> tuple[np.ndarray | None, np.ndarray]:
        """The cached rows of ``keys`` as one float32 ``[len(keys), width]`` matrix (rows of keys not cached are
        zero; ``None`` when none is) and which keys were found: the rows copied from each pack straight into
        the matrix, no other copy. For embeddings (stored float32 where exact, as a run holds them)."""
        hit = np.zeros(len(keys), dtype=np.bool_)
        out: np.ndarray | None = None
        for path, pairs in self._located(operation, keys).items():
            read = self._read(operation, path)
            if read is None or isinstance(read[1], list):
                continue
            values = read[1]
            if out is None:
                out = np.zeros((len(keys), values.shape[1]), dtype=np.float32)
            if values.shape[1] != out.shape[1]:
                continue  # another width than the other packs': recomputed, and refused there if it persists
            at = np.fromiter((a for a, _ in pairs), dtype=np.int64, count=len(pairs))
            rows = np.fromiter((r for _, r in pairs), dtype=np.int64, count=len(pairs))
            for s in range(0, len(at), GATHER_ROWS):  # the rows' temporary copy stays small
                out[at[s:s + GATHER_ROWS]] = values[rows[s:s + GATHER_ROWS]]
            hit[at] = True
        self._count(int(hit.sum()), len(keys))
        return (out if hit.any() else None), hit

    def add(self, operation: str, keys: Sequence[bytes], values: Sequence[Any]) -> None:
        """Store ``values`` under ``keys`` in new packs of up to :data:`PACK_ENTRIES`; once :data:`MERGE_AT`
        small packs of the operation gather, their entries are rewritten as full packs and they go."""
        if not keys or not self.writable:
            return
        self._load(operation)
        new = dict(zip(keys, values))
        self._write_all(operation, new)
        packs = self._packs.setdefault(operation, {})
        small = [path for path, held in packs.items() if len(held) < PACK_ENTRIES // 4]
        if len(small) >= MERGE_AT and self.writable:
            merged: dict[bytes, Any] = {}
            for path in small:
                read = self._read(operation, path)
                if read is not None:
                    merged.update(zip(read[0], read[1]))
            small = [path for path in small if path in packs]
            written = self._write_all(operation, merged)
            if written is not None:
                for path in small:
                    if path not in written:
                        path.unlink(missing_ok=True)
                        packs.pop(path, None)

    def _write_all(self, operation: str, entries: dict[bytes, Any]) -> list[Path] | None:
        """``entries`` as packs of up to :data:`PACK_ENTRIES`: the packs, ``None`` on failure."""
        written = []
        keys = list(entries)
        for start in range(0, len(keys), PACK_ENTRIES):
            part = keys[start:start + PACK_ENTRIES]
            path = self._write(operation, part, [entries[k] for k in part])
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
        self._index.setdefault(operation, {}).update((key, (path, row)) for row, key in enumerate(keys))
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
