"""Files on disk: the sha256 of checkpoints (content, not names alone), the writer's lock, the temporary
files a killed writer leaves, and the check that a path can be written."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support.scripts import HOLDER, KILLED_WRITER
from support.unprivileged import unprivileged_prefix

from qa_gate.files import FileBusy, checkpoint_sha256, file_lock, lock_path, stale_temps, unwritable, write_atomic


def _checkpoint_folder(root: Path) -> Path:
    folder = root / "ckpt"
    (folder / "sub").mkdir(parents=True)
    (folder / "config.json").write_text('{"hidden_size": 32}\n', encoding="utf-8")
    (folder / "model.safetensors").write_bytes(bytes(range(256)) * 8)
    (folder / "sub" / "tokenizer.json").write_text('{"vocab": {}}\n', encoding="utf-8")
    return folder


def _flip_one_byte(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def test_folder_hash_is_the_content(tmp_path: Path) -> None:
    folder = _checkpoint_folder(tmp_path)
    copy = shutil.copytree(folder, tmp_path / "elsewhere" / "renamed")

    digest = checkpoint_sha256(str(folder))

    assert len(digest) == 64 and int(digest, 16) >= 0
    assert checkpoint_sha256(str(copy)) == digest  # where the folder lives does not matter


@pytest.mark.parametrize(("name", "offset"), [("model.safetensors", 1000), ("sub/tokenizer.json", 0)])
def test_folder_hash_changes_with_one_byte(tmp_path: Path, name: str, offset: int) -> None:
    folder = _checkpoint_folder(tmp_path)
    before = checkpoint_sha256(str(folder))

    _flip_one_byte(folder / name, offset)

    assert checkpoint_sha256(str(folder)) != before


def test_folder_hash_changes_when_a_file_is_renamed(tmp_path: Path) -> None:
    folder = _checkpoint_folder(tmp_path)
    before = checkpoint_sha256(str(folder))

    (folder / "config.json").rename(folder / "config.old.json")

    assert checkpoint_sha256(str(folder)) != before


def test_file_hash_is_its_sha256(tmp_path: Path) -> None:
    weights = tmp_path / "model.pt"
    weights.write_bytes(b"abc")
    # sha256("abc"), FIPS 180-2 test vector
    assert checkpoint_sha256(str(weights)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_location_not_on_disk_is_recorded_by_name() -> None:
    assert checkpoint_sha256("openai/clip-vit-base-patch32") == "unhashed:openai/clip-vit-base-patch32"


def _hold_lock(path: Path, seconds: float) -> subprocess.Popen[str]:
    """A child process holding ``path``'s lock for ``seconds``, started once it holds it."""
    child = subprocess.Popen([sys.executable, "-c", HOLDER, str(path), str(seconds)], stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None and child.stdout.readline() == "locked\n"
    return child


def test_a_killed_writer_leaves_a_temporary_file_that_stale_temps_finds(tmp_path: Path) -> None:
    target = tmp_path / "baseline.json"
    target.write_bytes(b"old content")
    done = subprocess.run([sys.executable, "-c", KILLED_WRITER, str(target)], check=False)
    assert done.returncode == -signal.SIGKILL
    assert target.read_bytes() == b"old content"  # readers still see the whole old file
    (leftover,) = stale_temps(target)
    assert leftover.name.startswith(".baseline.json.") and leftover.name.endswith(".tmp")
    assert leftover.read_bytes() == b"half an update"
    assert stale_temps(tmp_path / "other.json") == []


def test_a_held_lock_makes_a_second_writer_give_up_naming_the_holder(tmp_path: Path) -> None:
    target = tmp_path / "baseline.json"
    child = _hold_lock(target, 30)
    try:
        started = time.monotonic()
        with pytest.raises(FileBusy) as err, file_lock(target, timeout=0.3):
            pass
        assert time.monotonic() - started >= 0.3  # it waited before giving up
        message = str(err.value)
        assert f"process {child.pid} is writing it" in message and str(lock_path(target)) in message
        assert "\n" not in message
    finally:
        child.kill()
        child.wait()
    # the OS released the killed holder's lock; its lock file is left, and does not block
    assert lock_path(target).exists()
    with file_lock(target, timeout=0.3):
        assert lock_path(target).read_text().strip() == str(os.getpid())
    assert not lock_path(target).exists()  # removed on release


def test_a_second_writer_waits_for_the_first(tmp_path: Path) -> None:
    target = tmp_path / "baseline.json"
    child = _hold_lock(target, 0.5)
    started = time.monotonic()
    with file_lock(target, timeout=10):
        waited = time.monotonic() - started
    child.wait()
    assert child.returncode == 0 and waited >= 0.3


def test_unwritable_paths_say_why(tmp_path: Path) -> None:
    regular = tmp_path / "report.md"
    regular.write_text("a file\n")
    assert unwritable(tmp_path / "new" / "deeper" / "report.md") is None  # write_atomic creates the folders
    assert unwritable(regular) is None
    assert unwritable(tmp_path) == f"{tmp_path} is a folder, not a file"
    assert unwritable(regular / "out.md") == f"{regular} is a file, not a folder"
    assert unwritable(regular / "a" / "b.md") == f"{regular} is a file, not a folder"
    with pytest.raises(OSError):  # what write_atomic itself would meet there
        write_atomic(regular / "out.md", b"x")


def test_a_read_only_folder_is_unwritable(tmp_path: Path) -> None:
    folder = tmp_path / "baselines"
    folder.mkdir()
    (folder / "baseline.json").write_text("{}\n")
    code = "import sys; from qa_gate.files import unwritable; print(unwritable(sys.argv[1]), unwritable(sys.argv[2]))"
    folder.chmod(0o555)
    try:
        done = subprocess.run([*unprivileged_prefix(), sys.executable, "-c", code, str(folder / "baseline.json"),
                               str(folder / "sub" / "new.json")], capture_output=True, text=True, check=True)
    finally:
        folder.chmod(0o755)
    assert done.stdout.split("\n")[0] == f"the folder {folder} is not writable the folder {folder} is not writable"
