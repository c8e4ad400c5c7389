"""Timing model calls batch by batch, with the peak memory of the whole operation.

One ``Stopwatch`` per operation a suite runs (image encoding, caption generation,
answering, classification). When an efficiency metric reads it (``sync``), on CUDA the
device is synchronised before the clock starts and before it stops, and the allocator
peak is reset when the operation starts; otherwise nothing waits for the device (the
batches' times are then only what the host saw). On CPU the peak is the process's peak
RSS (process-wide and monotone).
"""

from __future__ import annotations

import os
import platform
import resource
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Protocol


class DeviceLike(Protocol):
    """What a stopwatch reads of its device (a ``torch.device``, or the CPU chosen without torch)."""

    @property
    def type(self) -> str:
        """``cpu``, ``cuda``, ..."""


class Stopwatch:
    """``(seconds, batch_size)`` of every batch of one operation, and its peak memory in MiB."""

    def __init__(self, device: DeviceLike, sync: bool = True) -> None:
        self.device, self.sync = device, sync
        self._name = str(device)  # what torch.cuda calls take (a CUDA device is always a torch.device)
        self.batches: list[tuple[float, int]] = []
        self.peak_memory_mb: float | None = None
        self._started = False

    def _cuda(self) -> bool:
        return self.sync and self.device.type == "cuda"

    @contextmanager
    def batch(self, size: int) -> Iterator[None]:
        """Time one batch of ``size`` samples (the first batch resets the CUDA peak)."""
        import torch

        if self._cuda():
            if not self._started:
                torch.cuda.reset_peak_memory_stats(self._name)
            torch.cuda.synchronize(self._name)
        self._started = True
        began = time.perf_counter()
        yield
        if self._cuda():
            torch.cuda.synchronize(self._name)
        self.batches.append((time.perf_counter() - began, size))

    def stop(self) -> None:
        """Record the operation's peak memory: CUDA allocator peak, else process peak RSS."""
        if self._cuda():
            import torch

            self.peak_memory_mb = torch.cuda.max_memory_allocated(self._name) / 2**20
        else:
            self.peak_memory_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


@lru_cache(maxsize=1)
def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``, else ``platform.processor()``), or ``unknown``."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def cpu_label() -> str:
    """``cpu:<model>, <n> threads``: timings on CPU depend on the model and torch's thread count."""
    import torch

    return f"cpu:{cpu_model()}, {torch.get_num_threads()} threads of {os.cpu_count()}"
