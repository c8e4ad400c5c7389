"""The sha256 of checkpoint files and folders: content, not names alone."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from qa_gate.files import checkpoint_sha256


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
