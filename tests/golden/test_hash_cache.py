"""Verification at the cost of hashing: one walk, parallel hashing, and the local verified-hash cache
(skipped files counted through ``verify.file_digest``, never timed)."""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
from support.project import write_thresholds, write_tiny_suite

from qa_gate.config.load import load_config
from qa_gate.config.model import Overrides
from qa_gate.errors import GoldenError
from qa_gate.files import file_sha256
from qa_gate.golden import verify
from qa_gate.golden.hash_cache import HashCache, cache_home, hash_cache_allowed
from qa_gate.golden.suite import HASHES, load_suite, write_hashes
from qa_gate.pipeline import prepare

REPO = Path(__file__).resolve().parents[2]
HOUR_AGO = time.time() - 3600


@pytest.fixture
def hashed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The files hashed (read) by verification, in the order their hashing finished."""
    seen: list[str] = []
    real = verify.file_digest

    def counting(path: str) -> tuple[os.stat_result, str]:
        seen.append(Path(path).name)
        return real(path)

    monkeypatch.setattr(verify, "file_digest", counting)
    return seen


def _settled(folder: Path) -> Path:
    """``folder``'s files dated an hour back: files modified just now are never taken from the cache."""
    for path in folder.rglob("*"):
        os.utime(path, (HOUR_AGO, HOUR_AGO))
    return folder


def _suite(tmp_path: Path) -> Path:
    return _settled(write_tiny_suite(tmp_path / "golden" / "tiny"))


def test_a_cache_hit_skips_hashing_and_an_uncached_load_hashes_all(tmp_path: Path, hashed: list[str]) -> None:
    folder = _suite(tmp_path)
    hashed.clear()  # writing SHA256SUMS hashed them too
    first = load_suite(folder, cached=True)
    assert len(hashed) == 7  # six images and the manifest
    hashed.clear()
    assert load_suite(folder, cached=True) == first
    assert hashed == []
    assert load_suite(folder) == first and len(hashed) == 7  # no cache unless asked
    assert list((cache_home() / "golden").glob("*.json"))  # under $XDG_CACHE_HOME/qa_gate (conftest: a tmp folder)


def test_a_changed_file_of_the_same_size_is_hashed_again_and_refused(tmp_path: Path, hashed: list[str]) -> None:
    folder = _suite(tmp_path)
    load_suite(folder, cached=True)
    image = folder / "images" / "green-1.png"
    data = bytearray(image.read_bytes())
    data[-20] ^= 0xFF
    image.write_bytes(bytes(data))
    os.utime(image, (HOUR_AGO + 60, HOUR_AGO + 60))  # another mtime, same size
    hashed.clear()
    with pytest.raises(GoldenError) as info:
        load_suite(folder, cached=True)
    assert hashed == ["green-1.png"]
    assert str(info.value).startswith(f"{folder}: sample 'green-1': image 'images/green-1.png' does not match its "
                                      "sha256 in SHA256SUMS (expected ")


def test_entries_for_another_suite_version_are_not_trusted(tmp_path: Path, hashed: list[str]) -> None:
    folder = _suite(tmp_path)
    load_suite(folder, cached=True)
    (folder / "notes.txt").write_text("an added file")
    write_hashes(folder)  # a new SHA256SUMS: another version of the suite
    _settled(folder)
    hashed.clear()
    load_suite(folder, cached=True)
    assert len(hashed) == 8


def test_a_corrupt_or_lying_cache_is_not_trusted(tmp_path: Path, hashed: list[str]) -> None:
    folder = _suite(tmp_path)
    load_suite(folder, cached=True)
    cache_file = next((cache_home() / "golden").glob("*.json"))
    data = json.loads(cache_file.read_text())
    data["files"]["images/red-0.png"][4] = "0" * 64  # right stat, wrong digest
    cache_file.write_text(json.dumps(data))
    hashed.clear()
    load_suite(folder, cached=True)
    assert hashed == ["red-0.png"]
    cache_file.write_text('{"format": 1, "files": ')  # truncated
    hashed.clear()
    load_suite(folder, cached=True)
    assert len(hashed) == 7
    assert json.loads(cache_file.read_text())["sums"] == hashlib.sha256((folder / HASHES).read_bytes()).hexdigest()


def test_files_modified_just_now_are_not_recorded(tmp_path: Path, hashed: list[str]) -> None:
    folder = write_tiny_suite(tmp_path / "golden" / "tiny")  # written this second: a rewrite could keep its stat
    hashed.clear()
    load_suite(folder, cached=True)
    hashed.clear()
    load_suite(folder, cached=True)
    assert len(hashed) == 7


def test_an_unwritable_cache_folder_warns_once_and_verifies(tmp_path: Path, hashed: list[str],
                                                           monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    folder = _suite(tmp_path)
    blocked = tmp_path / "blocked"
    blocked.mkdir()
    (blocked / "qa_gate").write_text("a file where the cache folder would be")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocked))
    hashed.clear()
    first = load_suite(folder, cached=True)
    load_suite(folder, cached=True)
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith(f"mm-gate: warning: golden hash cache {blocked}/qa_gate/golden not "
                                               "used (") and err[0].endswith("; every golden file is hashed")
    assert len(hashed) == 14 and first.fingerprint == load_suite(folder).fingerprint


@pytest.mark.skipif(sys.platform == "win32" or os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_cache_folder_warns_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    folder = _suite(tmp_path)
    read_only = tmp_path / "ro"
    (read_only / "qa_gate" / "golden").mkdir(parents=True)
    (read_only / "qa_gate" / "golden").chmod(0o500)
    monkeypatch.setenv("XDG_CACHE_HOME", str(read_only))
    try:
        load_suite(folder, cached=True)
        load_suite(folder, cached=True)
    finally:
        (read_only / "qa_gate" / "golden").chmod(0o700)
    assert len(capsys.readouterr().err.splitlines()) == 1


def _project(tmp_path: Path, **gate: str) -> Path:
    _suite(tmp_path)
    suites = {"tiny": {"path": "golden/tiny", "metrics": {"clipscore": {"min": 0.0, "max_drop": 0.01}}}}
    model = {"adapter": "open_clip", "checkpoint": str(REPO / "qa_gate" / "demo" / "checkpoints" / "good")}
    return write_thresholds(tmp_path, model, suites, **({"gate": gate} if gate else {}))


def test_strict_runs_and_sign_offs_always_hash(tmp_path: Path, hashed: list[str]) -> None:
    thresholds = _project(tmp_path)
    prepare(thresholds)
    hashed.clear()
    prepare(thresholds)
    assert hashed == []  # a developer's re-run: nothing hashed again
    prepare(thresholds, Overrides(mode="strict"))
    assert len(hashed) == 7
    config = load_config(thresholds)
    assert hash_cache_allowed(config, Overrides())
    assert not hash_cache_allowed(config, Overrides(mode="strict"))  # --mm-mode strict, and sign_off's overrides
    assert not hash_cache_allowed(config, replace(Overrides(), no_cache=True))
    assert not hash_cache_allowed(load_config(_project(tmp_path / "other", mode="strict")), Overrides())


def test_parallel_hashes_equal_sha256_of_each_file(tmp_path: Path) -> None:
    files = {}
    for i, size in enumerate([0, 1, verify.CHUNK - 1, verify.CHUNK, verify.CHUNK + 1, 3 * verify.CHUNK + 5]):
        path = tmp_path / f"f{i}"
        path.write_bytes(os.urandom(size))
        files[path.name] = str(path)
    assert verify.hash_files(files) == {name: file_sha256(Path(path)) for name, path in files.items()}


def test_the_walk_lists_nested_files_once(tmp_path: Path) -> None:
    for rel in ("a.txt", "d/b.txt", "d/e/c.txt", HASHES, f".{HASHES}.tmp"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(rel)
    tree = verify.walk(tmp_path)
    assert sorted(tree.files) == ["a.txt", "d/b.txt", "d/e/c.txt"] and tree.plain == set(tree.files)
    assert isinstance(HashCache(tmp_path, "0" * 64).path, Path)
