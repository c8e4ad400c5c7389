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




def test_torch_build_is_read_without_importing_torch() -> None:
    from qa_gate.scoring.device import torch_build, torch_version

    build = torch_build()
    assert build["__version__"] == torch.__version__ == torch_version()
    assert (build["cuda"], build["hip"]) == (torch.version.cuda, torch.version.hip)


def test_cpu_is_chosen_without_torch_and_becomes_the_torch_cpu() -> None:
    from qa_gate.scoring.device import HostDevice, as_torch, choose_device

    chosen = choose_device("cpu")
    assert isinstance(chosen, HostDevice) and (chosen.type, chosen.index, str(chosen)) == ("cpu", None, "cpu")
    assert as_torch(chosen) == torch.device("cpu") and str(chosen) == str(torch.device("cpu"))
    assert autocast_dtype("bfloat16", chosen) is None
    assert choose_device("auto") == resolve_device("auto")  # torch is loaded here: it is asked


def test_cuda_ruled_out_only_when_torch_cannot_see_a_gpu() -> None:
    from qa_gate.scoring.device import cuda_ruled_out

    if cuda_ruled_out():
        assert not torch.cuda.is_available()


@pytest.mark.parametrize(("build", "driver", "env", "expected"), [
    ({"__version__": "2", "cuda": None, "hip": None}, True, {}, True),  # a CPU-only build, whatever the machine
    ({"__version__": "2", "cuda": "13.0", "hip": None}, False, {}, True),  # no NVIDIA driver library
    ({"__version__": "2", "cuda": "13.0", "hip": None}, True, {}, False),  # a driver: torch decides
    ({"__version__": "2", "cuda": "13.0", "hip": None}, False, {"PYTORCH_NVML_BASED_CUDA_CHECK": "1"}, False),
    ({"__version__": "2", "cuda": None, "hip": "6.2"}, False, {}, False),  # ROCm: torch decides
    ({}, False, {}, False),  # version.py unreadable
])
def test_cuda_ruled_out_rules(monkeypatch: pytest.MonkeyPatch, build: dict, driver: bool, env: dict,
                              expected: bool) -> None:
    from qa_gate.scoring import device

    def cdll(name: str) -> object:
        assert name == "libcuda.so.1"
        if not driver:
            raise OSError(f"{name}: cannot open shared object file")
        return object()

    monkeypatch.setattr(device, "torch_build", lambda: build)
    monkeypatch.setattr(device.ctypes, "CDLL", cdll)
    monkeypatch.setattr(device.sys, "platform", "linux")
    monkeypatch.delenv("PYTORCH_NVML_BASED_CUDA_CHECK", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert device.cuda_ruled_out() is expected
