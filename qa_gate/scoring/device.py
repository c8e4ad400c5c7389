"""Where and how the model runs: device, autocast dtype, inference mode, and how they are labelled.

A run whose every output comes from the cache never needs torch (importing it costs seconds), so the
device is chosen without it where the answer is certain (:func:`choose_device`): ``cpu``, and ``auto``
on a machine where torch cannot see a GPU. That is the :class:`HostDevice`; :func:`as_torch` turns it
into ``torch.device("cpu")`` where the model really runs.
"""

from __future__ import annotations

import ast
import ctypes
import importlib.util
import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Union

from qa_gate.errors import AdapterError

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class HostDevice:
    """The CPU, named without importing torch: what is read of ``torch.device("cpu")`` before a model runs."""

    type: str = "cpu"
    index: None = None

    def __str__(self) -> str:
        return self.type


Device = Union["torch.device", HostDevice]
"""A resolved device: a ``torch.device``, or the CPU chosen without torch."""


def as_torch(device: Device) -> torch.device:
    """``device`` as a ``torch.device`` (imports torch)."""
    import torch

    return device if isinstance(device, torch.device) else torch.device(str(device))


@lru_cache(maxsize=1)
def torch_build() -> Mapping[str, str | None]:
    """What the installed torch was built with, read from its ``torch/version.py`` without importing it:
    ``__version__``, ``cuda`` and ``hip`` (``None`` for a build without them); empty when it cannot be read."""
    try:
        spec = importlib.util.find_spec("torch")
    except (ImportError, ValueError):
        return {}
    if spec is None or spec.origin is None:
        return {}
    try:
        tree = ast.parse(Path(spec.origin).with_name("version.py").read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError):
        return {}
    found: dict[str, str | None] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        else:
            continue
        if isinstance(target, ast.Name) and isinstance(value, ast.Constant):
            found[target.id] = value.value if value.value is None or isinstance(value.value, str) else str(value.value)
    return found if {"__version__", "cuda", "hip"} <= found.keys() else {}


def torch_version() -> str:
    """``torch.__version__``, without importing torch when it is not loaded yet."""
    if "torch" not in sys.modules:
        version = torch_build().get("__version__")
        if version:
            return version
    import torch

    return str(torch.__version__)


def cuda_ruled_out() -> bool:
    """Whether ``torch.cuda.is_available()`` is certainly False, told without importing torch.

    Certain when torch was built without CUDA and ROCm (its ``version.py`` says so), or when it was built
    with CUDA but the NVIDIA driver's ``libcuda.so.1`` cannot be loaded on this Linux machine: torch counts
    devices through that library (the wheels never bundle it), so without it torch sees none. Anything
    else (a ROCm build, another platform, ``PYTORCH_NVML_BASED_CUDA_CHECK``, a driver present, torch
    already loaded) is left to torch.
    """
    build = torch_build()
    if not build:
        return False
    if build["cuda"] is None and build["hip"] is None:
        return True
    if build["hip"] is not None or not sys.platform.startswith("linux") or \
            os.environ.get("PYTORCH_NVML_BASED_CUDA_CHECK"):
        return False
    try:
        ctypes.CDLL("libcuda.so.1")
    except OSError:
        return True
    return False


def choose_device(spec: str) -> Device:
    """:func:`resolve_device`, as a :class:`HostDevice` without importing torch when the answer is the CPU
    and certain (``cpu``; ``auto`` where :func:`cuda_ruled_out`)."""
    if spec == "cpu" or (spec == "auto" and "torch" not in sys.modules and cuda_ruled_out()):
        return HostDevice()
    return resolve_device(spec)


@contextmanager
def inference(device: Device, dtype: torch.dtype | None) -> Iterator[None]:
    """``torch.inference_mode``, with autocast to ``dtype`` when one is given (CUDA)."""
    import torch

    with torch.inference_mode():
        if dtype is None:
            yield
        else:
            with torch.autocast(device_type=device.type, dtype=dtype):
                yield


def device_label(device: Device) -> str:
    """``cuda:<GPU name>``, or ``cpu:<CPU model>, <n> threads of <m>``: the device and its model."""
    if device.type == "cuda":
        import torch

        return f"cuda:{torch.cuda.get_device_name(as_torch(device))}"
    if device.type == "cpu":
        from qa_gate.scoring.stopwatch import cpu_label

        return cpu_label()
    return device.type


def autocast_label(dtype: torch.dtype | None) -> str:
    """The autocast dtype as recorded in environments and definitions."""
    return str(dtype).replace("torch.", "") if dtype is not None else "off (float32)"


def resolve_device(spec: str) -> torch.device:
    """``auto`` picks CUDA when present; ``cuda`` without a GPU is a clear error."""
    import torch

    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if spec.startswith("cuda") and not torch.cuda.is_available():
        raise AdapterError(f"model.device is '{spec}' but torch sees no CUDA device; use 'auto' or 'cpu'")
    return torch.device(spec)


def autocast_dtype(spec: str, device: Device) -> torch.dtype | None:
    """The autocast dtype: ``None`` (full precision) on CPU and for ``float32``.

    ``auto`` on CUDA is bfloat16 where supported, else float16.
    """
    if device.type != "cuda" or spec == "float32":
        return None
    import torch

    if spec == "auto":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return {"float16": torch.float16, "bfloat16": torch.bfloat16}[spec]
