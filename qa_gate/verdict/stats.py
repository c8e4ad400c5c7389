"""Paired bootstrap for regression rules (``max_drop``, ``max_drop_pct``; DESIGN.md §5).

Baseline and candidate hold one row of sufficient statistics per sample, in the
same sample order. A resample draws ``n`` row indices with replacement and uses
the *same* indices on both sides, so per-sample correlation between the two
checkpoints cancels out of the drop, and any metric whose ``aggregate`` maps
``[..., n, k] -> [...]`` (a mean, or a corpus formula over summed counts) works.

The drop is oriented so that positive is worse: ``baseline - candidate`` when
higher is better, ``candidate - baseline`` otherwise; relative rules use
``100 * drop / |baseline aggregate|`` per resample (``inf`` when the baseline
aggregate is zero and the candidate is worse, ``0`` when it is not).

Confidence bounds are **percentile bootstrap** bounds: the one-sided lower bound
at confidence ``c`` is the ``1 - c`` empirical quantile of the resampled drops
and the upper bound the ``c`` quantile (``method="inverted_cdf"``: an order
statistic, no interpolation, so infinite drops stay exact). The percentile
method needs no variance formula per metric and follows skewed ratio metrics;
it runs slightly narrow (optimistic) on suites of a few tens of samples. Index draws
come from ``np.random.default_rng(seed)`` in resample order, so a result depends on the
inputs and the seed, not on the chunk size.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from qa_gate.config.model import MODES

Aggregate = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class DropEstimate:
    """A drop and its one-sided bootstrap bounds, in the rule's unit (absolute or percent)."""

    drop: float
    """Point estimate on all rows."""
    low: float
    """Lower confidence bound on the drop (one-sided, at ``confidence``)."""
    high: float
    """Upper confidence bound on the drop (one-sided, at ``confidence``)."""
    confidence: float
    resamples: int
    min_detectable: float
    """``allowed + (drop - low)``: the smallest drop beyond ``allowed`` that ``significant`` mode
    tells from noise on this suite (NaN when the drop is infinite)."""
    n: int


def _check_pair(candidate: np.ndarray, baseline: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both sides as float64 ``[n, k]`` arrays of the same shape with ``n > 0``."""
    cand = np.asarray(candidate, dtype=np.float64)
    base = np.asarray(baseline, dtype=np.float64)
    if cand.ndim != 2 or base.ndim != 2:
        raise ValueError(f"statistics must be [n, k] arrays, got candidate {cand.shape}, baseline {base.shape}")
    if cand.shape != base.shape:
        raise ValueError(f"candidate {cand.shape} and baseline {base.shape} statistics differ in shape; "
                         "align both sides by sample id first")
    if cand.shape[0] == 0:
        raise ValueError("no samples (n == 0): a drop needs at least one paired row")
    return cand, base


def _oriented(cand_value: np.ndarray, base_value: np.ndarray, higher_is_better: bool,
              relative: bool) -> np.ndarray:
    """Drop (positive is worse), in percent of ``|baseline|`` when ``relative``."""
    drop = base_value - cand_value if higher_is_better else cand_value - base_value
    if not relative:
        return drop
    scale = np.abs(base_value)
    with np.errstate(divide="ignore", invalid="ignore"):
        pct = 100.0 * drop / np.where(scale == 0, 1.0, scale)
    at_zero = np.where(drop > 0, np.inf, np.where(np.isnan(drop), np.nan, 0.0))
    return np.where(scale == 0, at_zero, pct)


def _aggregate_batch(aggregate: Aggregate, stats: np.ndarray) -> np.ndarray:
    """``aggregate`` over a ``[b, n, k]`` batch, checked to return ``[b]``."""
    values = np.asarray(aggregate(stats), dtype=np.float64)
    if values.shape != stats.shape[:1]:
        raise ValueError(f"aggregate must reduce [b, n, k] statistics to [b] (keeping leading axes); "
                         f"got shape {values.shape} from {stats.shape}")
    return values


def _chunk_sizes(resamples: int, n: int, chunk_elements: int) -> list[int]:
    """Resamples per chunk so that ``resamples_in_chunk * n <= chunk_elements`` (at least one)."""
    rows = max(1, chunk_elements // n)
    return [min(rows, resamples - start) for start in range(0, resamples, rows)]


def paired_drops(aggregate: Aggregate, candidate: np.ndarray, baseline: np.ndarray, *,
                 higher_is_better: bool, relative: bool, resamples: int = 10_000, seed: int = 0,
                 chunk_elements: int = 100_000, mean_sufficient: bool = False) -> tuple[float, np.ndarray]:
    """Point drop and the bootstrap distribution of the drop.

    Each resample draws ``n`` row indices (the SAME indices for both sides),
    aggregates both sides and takes the oriented drop; ``relative=True`` gives
    ``100 * drop / |baseline aggregate|`` per resample. Work is vectorised in
    chunks of at most ``chunk_elements`` gathered rows (``resamples * n``, at
    least one resample) so memory stays bounded; the default was the fastest in
    ``benchmarks/bench_bootstrap.py`` (small chunks stay in cache). Seeded with
    ``np.random.default_rng(seed)``: the same inputs and seed give the same
    result whatever the chunk size.

    ``mean_sufficient`` declares that ``aggregate`` depends only on the mean of the rows
    (``Metric.mean_sufficient``: a mean, or a ratio of sums). Each resample is then
    aggregated from one row, its draw counts times the rows over ``n`` (a matrix product),
    instead of ``n`` gathered rows: the same draws and, up to rounding, the same drops, at a
    fraction of the cost for wide statistics (multilabel F1 keeps ``3 L + 1`` columns).

    Returns ``(drop on all rows, drops[resamples])``.
    """
    cand, base = _check_pair(candidate, baseline)
    if resamples < 1:
        raise ValueError(f"resamples must be >= 1, got {resamples}")
    if chunk_elements < 1:
        raise ValueError(f"chunk_elements must be >= 1, got {chunk_elements}")
    n, k = cand.shape
    point = float(_oriented(np.asarray(aggregate(cand), dtype=np.float64),
                            np.asarray(aggregate(base), dtype=np.float64), higher_is_better, relative))
    # Column-major copy: each gather reads and writes one contiguous column, and the
    # [b, n, k] views handed to ``aggregate`` keep the sample axis contiguous.
    if mean_sufficient:
        return point, _counted_drops(aggregate, cand, base, higher_is_better, relative, resamples, seed,
                                     chunk_elements)
    columns = np.ascontiguousarray(np.concatenate([cand, base], axis=1).T)
    sizes = _chunk_sizes(resamples, n, chunk_elements)
    buffer = np.empty((2 * k, sizes[0], n))
    drops = np.empty(resamples)
    start = 0
    rng = np.random.default_rng(seed)
    for b in sizes:
        indices = rng.integers(0, n, size=(b, n))
        gathered = buffer[:, :b]
        for j in range(2 * k):
            np.take(columns[j], indices, out=gathered[j])
        cand_values = _aggregate_batch(aggregate, gathered[:k].transpose(1, 2, 0))
        base_values = _aggregate_batch(aggregate, gathered[k:].transpose(1, 2, 0))
        drops[start:start + b] = _oriented(cand_values, base_values, higher_is_better, relative)
        start += b
    return point, drops


def _counted_drops(aggregate: Aggregate, cand: np.ndarray, base: np.ndarray, higher_is_better: bool,
                   relative: bool, resamples: int, seed: int, chunk_elements: int) -> np.ndarray:
    """``paired_drops`` for a mean-sufficient aggregate: the same index draws, turned into counts."""
    n, k = cand.shape
    both = np.concatenate([cand, base], axis=1) / n
    drops = np.empty(resamples)
    start = 0
    rng = np.random.default_rng(seed)
    for b in _chunk_sizes(resamples, n, chunk_elements):
        indices = rng.integers(0, n, size=(b, n))
        counts = np.bincount((indices + n * np.arange(b)[:, None]).ravel(), minlength=b * n).reshape(b, n)
        means = (counts @ both)[:, None, :]  # [b, 1, 2k]: each resample's mean row
        cand_values = _aggregate_batch(aggregate, means[..., :k])
        base_values = _aggregate_batch(aggregate, means[..., k:])
        drops[start:start + b] = _oriented(cand_values, base_values, higher_is_better, relative)
        start += b
    return drops


def _check_confidence(confidence: float) -> None:
    """Confidence of a one-sided bound must lie strictly between 0.5 and 1."""
    if not 0.5 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0.5, 1), got {confidence}")


def estimate_drop(aggregate: Aggregate, candidate: np.ndarray, baseline: np.ndarray, *,
                  higher_is_better: bool, relative: bool, allowed: float, confidence: float = 0.95,
                  resamples: int = 10_000, seed: int = 0, mean_sufficient: bool = False) -> DropEstimate:
    """The drop with one-sided percentile-bootstrap bounds at ``confidence``.

    ``allowed`` is the rule's limit in the same unit (absolute, or percent when
    ``relative``); it only enters ``min_detectable``.
    """
    _check_confidence(confidence)
    point, drops = paired_drops(aggregate, candidate, baseline, higher_is_better=higher_is_better,
                                relative=relative, resamples=resamples, seed=seed, mean_sufficient=mean_sufficient)
    return drop_estimate(point, drops, allowed=allowed, confidence=confidence, n=len(np.asarray(candidate)))


def oriented_drop(cand_value: np.ndarray, base_value: np.ndarray, *, higher_is_better: bool,
                  relative: bool) -> np.ndarray:
    """The drop (positive is worse) from aggregates, in percent of ``|baseline|`` when ``relative``."""
    return _oriented(np.asarray(cand_value, dtype=np.float64), np.asarray(base_value, dtype=np.float64),
                     higher_is_better, relative)


def drop_estimate(point: float, drops: np.ndarray, *, allowed: float, confidence: float, n: int) -> DropEstimate:
    """The estimate from a point drop and its resampled drops: one-sided percentile bounds at ``confidence``
    (NaN without resamples); ``resamples`` is how many drops there are."""
    _check_confidence(confidence)
    if len(drops) == 0:
        low = high = math.nan
    else:
        low, high = (float(q) for q in np.quantile(drops, [1.0 - confidence, confidence], method="inverted_cdf"))
    return DropEstimate(drop=point, low=low, high=high, confidence=confidence, resamples=len(drops),
                        min_detectable=float(allowed) + (point - low), n=n)


def judge_drop(estimate: DropEstimate, allowed: float, mode: str) -> bool:
    """True when the rule holds.

    ``significant``: fails only when the drop exceeds ``allowed`` with the given
    confidence (``estimate.low > allowed``). ``strict``: holds only when the drop
    is shown to be within ``allowed`` (``estimate.high <= allowed``). A NaN drop
    or bound (an aggregate that is undefined on the data) fails in both modes.
    """
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; expected one of {', '.join(MODES)}")
    if any(math.isnan(v) for v in (estimate.drop, estimate.low, estimate.high)):
        return False
    if mode == "significant":
        return estimate.low <= allowed
    return estimate.high <= allowed
