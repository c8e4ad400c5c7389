"""Device and dtype choice, checkpoint hashing and backend import hints."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from qa_gate.errors import AdapterError
from qa_gate.files import checkpoint_sha256
from qa_gate.registry import import_backend
from qa_gate.scoring.device import autocast_dtype, resolve_device

NO_CUDA = not torch.cuda.is_available()


def test_auto_device_follows_cuda_availability() -> None:
    assert resolve_device("auto") == torch.device("cuda" if torch.cuda.is_available() else "cpu")


@pytest.mark.skipif(not NO_CUDA, reason="CUDA is present here")
def test_auto_device_is_cpu_without_cuda() -> None:
    assert resolve_device("auto") == torch.device("cpu")


@pytest.mark.skipif(not NO_CUDA, reason="CUDA is present here")
@pytest.mark.parametrize("spec", ["cuda", "cuda:1"])
def test_cuda_without_a_gpu_is_a_clear_error(spec: str) -> None:
    with pytest.raises(AdapterError, match=rf"^model\.device is '{spec}' but torch sees no CUDA device") as info:
        resolve_device(spec)
    assert "'auto' or 'cpu'" in str(info.value)


def test_cpu_device() -> None:
    assert resolve_device("cpu") == torch.device("cpu")


@pytest.mark.parametrize("spec", ["auto", "float32", "float16", "bfloat16"])
def test_no_autocast_on_cpu(spec: str) -> None:
    assert autocast_dtype(spec, torch.device("cpu")) is None


@pytest.mark.parametrize(("spec", "expected"), [
    ("float32", None), ("float16", torch.float16), ("bfloat16", torch.bfloat16),
])
def test_explicit_autocast_dtype_on_cuda(spec: str, expected: torch.dtype | None) -> None:
    """An explicit dtype needs no GPU to be chosen: only the device type is read."""
    assert autocast_dtype(spec, torch.device("cuda")) is expected


@pytest.mark.skipif(NO_CUDA, reason="needs a CUDA device")
def test_auto_autocast_on_cuda_prefers_bfloat16() -> None:
    expected = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    assert autocast_dtype("auto", torch.device("cuda")) is expected


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


def test_missing_backend_names_the_install_command() -> None:
    with pytest.raises(AdapterError, match=r"pip install no-such-pkg$") as info:
        import_backend("no_such_mod_xyz", "no-such-pkg")
    assert "'no_such_mod_xyz'" in str(info.value)


def test_installed_backend_is_returned() -> None:
    module = import_backend("json", "json")
    assert module.loads("[1]") == [1]
