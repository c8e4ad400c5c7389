"""Batches of prepared images onto the model's device.

On CUDA a batch is stacked straight into pinned (page-locked) host memory and copied with
``non_blocking=True``: the host goes on (the next batch's decoding runs in the loader's
workers meanwhile) and the model's kernels queue behind the copy on the same stream. torch's
pinned-memory allocator caches the blocks and keeps each until its copy is done. On the CPU
the stacked batch is the model's input as it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


def stacked(rows: Sequence[torch.Tensor], device: torch.device) -> torch.Tensor:
    """``rows`` (prepared ``[3, H, W]`` tensors of one shape) as one ``[n, 3, H, W]`` batch on ``device``."""
    import torch

    if device.type != "cuda":
        return torch.stack(list(rows))
    first = rows[0]
    host = torch.empty((len(rows), *first.shape), dtype=first.dtype, pin_memory=True)
    torch.stack(list(rows), out=host)
    return host.to(device, non_blocking=True)


def on_device(batch: torch.Tensor, device: torch.device) -> torch.Tensor:
    """``batch`` (a host tensor, e.g. a processor's output) on ``device``, through pinned memory on CUDA."""
    if device.type != "cuda" or batch.device.type == "cuda":
        return batch.to(device)
    return batch.pin_memory().to(device, non_blocking=True)
