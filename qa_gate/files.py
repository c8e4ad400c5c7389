"""Files on disk: atomic writes (readers see the old file or the new one, never half of one) and sha256 digests."""

from __future__ import annotations

import hashlib
import os
import stat
import tempfile
from pathlib import Path


def write_atomic(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically, creating parent folders and keeping the file's mode.

    The bytes go to a temporary file in the same folder that then replaces ``path``,
    so readers see the old file or the new one, never half of one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        mode = 0o644
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


CHUNK = 1 << 20
"""Bytes read at a time when hashing a file."""


def file_sha256(path: Path) -> str:
    """The hex sha256 of the file at ``path``, read in chunks (a checkpoint may not fit in memory)."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def checkpoint_sha256(location: str) -> str:
    """sha256 of a checkpoint file, or of a folder's files (paths and contents, sorted).

    A location that is not on disk (a hub id or pretrained tag) has no content hash
    here and is recorded by name.
    """
    path = Path(location)
    if path.is_file():
        return file_sha256(path)
    if path.is_dir():
        outer = hashlib.sha256()
        for file in sorted(p for p in path.rglob("*") if p.is_file()):
            outer.update(file.relative_to(path).as_posix().encode())
            outer.update(bytes.fromhex(file_sha256(file)))
        return outer.hexdigest()
    return f"unhashed:{location}"
