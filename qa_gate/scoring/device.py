"""Where and how the model runs: device, autocast dtype, inference mode, and how they are labelled."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from qa_gate.errors import AdapterError

if TYPE_CHECKING:
    import torch


@contextmanager
def inference(device: torch.device, dtype: torch.dtype | None) -> Iterator[None]:
    """``torch.inference_mode``, with autocast to ``dtype`` when one is given (CUDA)."""
    import torch

    with torch.inference_mode():
        if dtype is None:
            yield
        else:
            with torch.autocast(device_type=device.type, dtype=dtype):
                yield


def device_label(device: torch.device) -> str:
    """``cuda:<GPU name>``, or ``cpu:<CPU model>, <n> threads of <m>``: the device and its model."""
    if device.type == "cuda":
        import torch

        return f"cuda:{torch.cuda.get_device_name(device)}"
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


def autocast_dtype(spec: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype: ``None`` (full precision) on CPU and for ``float32``.

    ``auto`` on CUDA is bfloat16 where supported, else float16.
    """
    import torch

    if device.type != "cuda" or spec == "float32":
        return None
    if spec == "auto":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return {"float16": torch.float16, "bfloat16": torch.bfloat16}[spec]
