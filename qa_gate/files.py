"""Files on disk: atomic writes (readers see the old file or the new one, never half of one), a writer's
lock, the check that a path can be written, and sha256 digests."""

from __future__ import annotations

import hashlib
import os
import stat
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from qa_gate.errors import GateError

TEMP_SUFFIX = ".tmp"
"""A temporary file of :func:`write_atomic` is ``.<name>.<random>.tmp`` beside its target."""
LOCK_SUFFIX = ".lock"
LOCK_TIMEOUT = 10.0
"""Seconds a writer waits for another one's lock before it gives up (a write itself takes milliseconds)."""


class FileBusy(GateError):
    """Another process holds the lock on a file and did not release it in time; the message says who."""


def temp_prefix(path: Path) -> str:
    """The name prefix of :func:`write_atomic`'s temporary files for ``path``: ``.<name>.``."""
    return f".{Path(path).name}."


def synced_temp(path: Path, data: bytes) -> Path:
    """``data`` in a synced temporary file beside ``path``, with ``path``'s mode (0644 for a new file),
    creating parent folders; the caller renames it into place (a later write removes one left behind)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        mode = 0o644
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=temp_prefix(path), suffix=TEMP_SUFFIX)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp)


def write_atomic(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically, creating parent folders and keeping the file's mode.

    The bytes go to a temporary file in the same folder that then replaces ``path``,
    so readers see the old file or the new one, never half of one.
    """
    tmp = synced_temp(Path(path), data)
    try:
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return Path(path)


def stale_temps(path: Path) -> list[Path]:
    """Temporary files of :func:`write_atomic` for ``path`` left behind by a killed writer, sorted.

    Only meaningful while holding :func:`file_lock` on ``path``: then no live writer owns one.
    """
    path = Path(path)
    if not path.parent.is_dir():
        return []
    prefix = temp_prefix(path)
    return sorted(p for p in path.parent.iterdir()
                  if p.name.startswith(prefix) and p.name.endswith(TEMP_SUFFIX) and p.is_file())


def lock_path(path: Path) -> Path:
    """The lock file of ``path``: ``.<name>.lock`` beside it (it exists only while a writer holds it)."""
    path = Path(path)
    return path.parent / f".{path.name}{LOCK_SUFFIX}"


@contextmanager
def file_lock(path: Path, timeout: float = LOCK_TIMEOUT, poll: float = 0.05) -> Iterator[Path]:
    """Hold the exclusive writer's lock of ``path`` (an OS lock on :func:`lock_path`), waiting up to ``timeout``.

    The OS releases the lock when its holder dies, so a killed writer never leaves it held;
    the lock file is removed on release. Raises :class:`FileBusy` naming the holder's pid
    when the lock is still held after ``timeout`` seconds.
    """
    lock = lock_path(path)
    lock.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + timeout
    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        if _try_lock(fd):
            if _is_current(fd, lock):
                break
            _unlock(fd)  # the previous holder removed this file after we opened it: lock the new one
        else:
            holder = _holder(fd)
            if time.monotonic() >= deadline:
                os.close(fd)
                who = f"process {holder}" if holder else "another process"
                raise FileBusy(f"{path}: {who} is writing it (lock {lock} held for over {timeout:g} s); wait for "
                               f"it to finish, or, if no such process runs any more, delete {lock}")
            time.sleep(poll)
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode("ascii"))
        yield lock
    finally:
        lock.unlink(missing_ok=True)  # before unlocking: a waiter that then gets this file sees it is stale
        _unlock(fd)
        os.close(fd)


def _is_current(fd: int, lock: Path) -> bool:
    """Whether the open lock file ``fd`` is still the file at ``lock`` (not removed or replaced meanwhile)."""
    try:
        on_disk = os.stat(lock)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (mine.st_dev, mine.st_ino) == (on_disk.st_dev, on_disk.st_ino)


def _holder(fd: int) -> str:
    """The pid the lock's holder wrote into it ("" when unknown)."""
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return ""
    return text if text.isdigit() else ""


if sys.platform == "win32":  # pragma: no cover - the gate is tested on Linux
    import msvcrt

    def _try_lock(fd: int) -> bool:
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _unlock(fd: int) -> None:
        try:
            os.lseek(fd, 0, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
        except OSError:
            pass
else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)


def unwritable(path: Path) -> str | None:
    """Why :func:`write_atomic` could not write ``path`` (``None`` when it could), checked without writing.

    The file must be a writable regular file or absent, and its folder (or the nearest
    existing folder above it, where :func:`write_atomic` creates the rest) writable.
    """
    path = Path(os.path.abspath(path))
    if path.exists():
        if path.is_dir():
            return f"{path} is a folder, not a file"
        if not path.is_file():
            return f"{path} is not a regular file"
        if not os.access(path, os.W_OK):
            return f"{path} is read-only"
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        return f"{folder} is a file, not a folder"
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"the folder {folder} is not writable"
    return None


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
