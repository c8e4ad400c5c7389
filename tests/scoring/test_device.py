"""Device and autocast dtype choice."""

from __future__ import annotations

import pytest
import torch

from qa_gate.errors import AdapterError
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


