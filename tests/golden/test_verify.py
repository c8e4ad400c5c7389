"""Hashing a suite's files: small files in the calling thread, large ones by threads, the same digests either way."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

import pytest

from qa_gate.golden import verify
from qa_gate.golden.hash_cache import HashCache
from qa_gate.golden.verify import hash_files


def _files(folder: Path, count: int, size: int) -> dict[str, str]:
    folder.mkdir()
    out = {}
    for i in range(count):
        path = folder / f"f{i:04d}.bin"
        path.write_bytes(os.urandom(size))
        out[f"f{i:04d}.bin"] = str(path)
    return out


def _threads_used(monkeypatch: pytest.MonkeyPatch) -> set[int]:
    """The threads files are read in; a pool that starts adds ``-1``."""
    seen: set[int] = set()
    real, pool = verify.file_digest, verify.ThreadPoolExecutor

    def spy(path: str):  # type: ignore[no-untyped-def]
        seen.add(threading.get_ident())
        return real(path)

    def started(*args, **kwargs):  # type: ignore[no-untyped-def]
        seen.add(-1)
        return pool(*args, **kwargs)

    monkeypatch.setattr(verify, "file_digest", spy)
    monkeypatch.setattr(verify, "ThreadPoolExecutor", started)
    return seen


@pytest.mark.parametrize(("size", "threaded"), [(600, False), (verify.THREADED_BYTES + 1, True)],
                         ids=["small files in one thread", "large files by threads"])
def test_digests_are_hashlibs_in_one_thread_or_many(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    size: int, threaded: bool) -> None:
    files = _files(tmp_path / "suite", verify.FIRST + 200, size)
    seen = _threads_used(monkeypatch)
    got = hash_files(files)
    assert got == {rel: hashlib.sha256(Path(path).read_bytes()).hexdigest() for rel, path in files.items()}
    assert (-1 in seen) is threaded and (seen != {threading.get_ident()}) is threaded


def test_files_the_cache_knows_are_not_read_and_do_not_start_threads(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    files = _files(tmp_path / "suite", verify.FIRST + 50, verify.THREADED_BYTES * 2)
    for path in files.values():  # older than the racy window: the cache may trust their stat
        os.utime(path, ns=(1_000_000_000, 1_000_000_000))
    listed = {rel: hashlib.sha256(Path(path).read_bytes()).hexdigest() for rel, path in files.items()}
    cache = HashCache(tmp_path / "suite", "sums-digest")
    assert hash_files(files, listed, cache) == listed
    cache.save()
    seen = _threads_used(monkeypatch)
    assert hash_files(files, listed, HashCache(tmp_path / "suite", "sums-digest")) == listed
    assert not seen  # every file known to the cache: none read, and no pool started
