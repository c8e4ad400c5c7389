"""Efficiency metrics: latency per batch, throughput and peak memory of the model's main operation.

The operation is what the checkpoint does on the suite: image encoding (a dual
encoder), caption generation (image-to-text), answering (VQA) or classification; the
definition records which (``timed``). The runner times every batch of it (wall clock
around the model call, the device synchronised before the clock starts and stops on
CUDA) and records the peak memory of the operation: the allocator peak
(``torch.cuda.max_memory_allocated``, reset just before the first batch) on CUDA, the
process peak RSS (``ru_maxrss``) on CPU. The RSS peak is process-wide and monotone: it
includes everything the process did before, so it only ever grows within a session.
On CPU the device label names the CPU model and torch's thread count.

The unit of measurement is the batch, but the metric contract is per-sample rows:
each sample row holds its batch's latency in milliseconds, its share of the batch's
seconds (``seconds / batch_size``) and its batch index. Over all rows the aggregates
reproduce the batch statistics exactly:

- ``latency_p50_ms``, ``latency_p95_ms``: ``numpy.percentile`` (linear interpolation)
  over the latencies of the distinct batches present in the rows;
- ``throughput``: rows / summed shares = images / encoding seconds;
- ``peak_memory_mb``: the max of a value repeated on every row.

A bootstrap resamples rows, so it is approximate here: a batch counts once in the
percentiles when any of its rows is drawn (duplicates do not weight it), and a
throughput resample re-weights batches by how many of their rows were drawn. The
intervals are therefore only indicative. Efficiency numbers are noisy and depend on
the machine: the device, batch size and autocast dtype are part of the definition
(so a baseline measured elsewhere is incomparable), and absolute ``max`` floors
(``min`` for throughput) are the intended use; regression rules are allowed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Protocol

import numpy as np

from qa_gate.metrics.base import Metric


class EfficiencyInputs(Protocol):
    """What the efficiency metrics read, measured by the runner while encoding images."""

    sample_ids: tuple[str, ...]

    def batches(self) -> list[tuple[float, int]]:
        """``(seconds, batch_size)`` of every image-encoding batch, in sample order."""
        ...

    def peak_memory_mb(self) -> float:
        """Peak memory while encoding, in MiB (CUDA allocator peak, or process peak RSS on CPU)."""
        ...


def batch_rows(batches: list[tuple[float, int]]) -> np.ndarray:
    """``[n, 3]`` rows ``[batch_ms, seconds / batch_size, batch index]``, one per sample."""
    rows = [[seconds * 1000.0, seconds / size, float(index)]
            for index, (seconds, size) in enumerate(batches) for _ in range(size)]
    return np.asarray(rows, dtype=np.float64).reshape(-1, 3)


def batch_percentile(stats: np.ndarray, q: float) -> np.ndarray:
    """``numpy.percentile(q)`` (linear) over the distinct batches' latencies, per leading index."""
    stats = np.asarray(stats, dtype=np.float64)
    lead, n = stats.shape[:-2], stats.shape[-2]
    if n == 0:
        return np.full(lead, np.nan)
    flat = stats.reshape(-1, n, stats.shape[-1])
    count = int(flat[..., 2].max()) + 1
    per_batch = np.full((flat.shape[0], count), np.nan)  # NaN where no row of the batch is present
    rows = np.broadcast_to(np.arange(flat.shape[0])[:, None], (flat.shape[0], n))
    per_batch[rows, flat[..., 2].astype(np.int64)] = flat[..., 0]  # rows of a batch share one latency
    ordered = np.sort(per_batch, axis=1)  # NaN sort last
    present = np.sum(~np.isnan(ordered), axis=1)
    position = (present - 1) * q / 100.0
    low = np.floor(position).astype(np.int64)
    high = np.minimum(low + 1, present - 1)
    take = np.arange(flat.shape[0])
    frac = position - low
    value = ordered[take, low] * (1 - frac) + ordered[take, high] * frac
    return value.reshape(lead)


class _Efficiency(Metric[EfficiencyInputs]):
    family: ClassVar[str] = "efficiency"
    higher_is_better: ClassVar[bool] = False
    columns: ClassVar[tuple[str, ...]] = ("batch_ms", "seconds_share", "batch")

    def definition(self, params: Mapping[str, Any], scorer: str) -> dict[str, Any]:
        """The base definition; the runner adds the device, batch size and autocast it measured with."""
        return {**super().definition(params, scorer), "timed": "image encoding per batch, wall clock"}

    def per_sample(self, inputs: EfficiencyInputs, params: Mapping[str, Any]) -> np.ndarray:
        """Columns: the sample's batch latency (ms), its share of the batch's seconds, the batch index."""
        return batch_rows(inputs.batches())


class LatencyP50(_Efficiency):
    """Median image-encoding latency per batch, milliseconds."""

    name: ClassVar[str] = "latency_p50_ms"

    def aggregate(self, stats: np.ndarray) -> np.ndarray:
        """The 50th percentile (linear) over the batches present."""
        return batch_percentile(stats, 50.0)


class LatencyP95(_Efficiency):
    """95th-percentile image-encoding latency per batch, milliseconds."""

    name: ClassVar[str] = "latency_p95_ms"

    def aggregate(self, stats: np.ndarray) -> np.ndarray:
        """The 95th percentile (linear) over the batches present."""
        return batch_percentile(stats, 95.0)


class Throughput(_Efficiency):
    """Images encoded per second: images / total encoding seconds."""

    name: ClassVar[str] = "throughput"
    higher_is_better: ClassVar[bool] = True

    def aggregate(self, stats: np.ndarray) -> np.ndarray:
        """Rows over their summed seconds shares."""
        stats = np.asarray(stats, dtype=np.float64)
        return stats.shape[-2] / stats[..., 1].sum(axis=-1)

    def sample_values(self, stats: np.ndarray) -> np.ndarray:
        """The throughput of the sample's batch."""
        return 1.0 / np.asarray(stats, dtype=np.float64)[:, 1]


class PeakMemory(Metric[EfficiencyInputs]):
    """Peak memory while encoding the suite's images, MiB (CUDA allocator peak; process peak RSS on CPU)."""

    name: ClassVar[str] = "peak_memory_mb"
    family: ClassVar[str] = "efficiency"
    higher_is_better: ClassVar[bool] = False
    columns: ClassVar[tuple[str, ...]] = ("peak_mb",)

    def per_sample(self, inputs: EfficiencyInputs, params: Mapping[str, Any]) -> np.ndarray:
        """One column: the peak, repeated on every row."""
        return np.full((len(inputs.sample_ids), 1), float(inputs.peak_memory_mb()))

    def aggregate(self, stats: np.ndarray) -> np.ndarray:
        """The max over rows."""
        stats = np.asarray(stats, dtype=np.float64)
        return stats[..., 0].max(axis=-1) if stats.shape[-2] else np.full(stats.shape[:-2], np.nan)
