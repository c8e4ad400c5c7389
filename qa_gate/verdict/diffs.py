"""Where a run differs from its baseline: per-slice deltas with intervals, per-sample changes and flips."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from qa_gate.metrics.registry import get_metric
from qa_gate.results import MetricResult, SampleInfo, SuiteResult
from qa_gate.verdict.stats import paired_drops

TOP_SAMPLES = 10
SHOWN_SLICES = 20
"""Slices (of all metrics of a suite) the report's slice table shows, worst first: they get Δ intervals."""


@dataclass(frozen=True)
class SliceDelta:
    """A metric on the samples sharing one tag value (``colour=red``), with a paired interval on Δ."""

    suite: str
    metric: str
    slice: str
    n: int
    value: float
    baseline: float | None
    higher_is_better: bool
    low: float | None = None
    high: float | None = None
    confidence: float | None = None

    @property
    def delta(self) -> float | None:
        """Candidate minus baseline on this slice."""
        return None if self.baseline is None else self.value - self.baseline


@dataclass(frozen=True)
class SampleDelta:
    """One sample's per-sample metric value before and after."""

    suite: str
    metric: str
    sample_id: str
    text: str
    value: float
    baseline: float
    higher_is_better: bool = True

    @property
    def delta(self) -> float:
        """Candidate minus baseline for this sample."""
        return self.value - self.baseline


def oriented(delta: float, higher_is_better: bool) -> float:
    """A delta where positive always means better."""
    return delta if higher_is_better else -delta


def slice_rows(suite: SuiteResult) -> dict[str, list[int]]:
    """Row indices of every ``key=value`` tag slice, by slice name."""
    groups: dict[str, list[int]] = {}
    for i, sample in enumerate(suite.samples):
        for key, val in sample.tags.items():
            groups.setdefault(f"{key}={val}", []).append(i)
    return dict(sorted(groups.items()))


def paired_rows(suite: SuiteResult, base_suite: SuiteResult, rows: Sequence[int]) -> list[int] | None:
    """Baseline rows of the same samples as ``rows``; ``None`` when one is missing."""
    index = {s.id: i for i, s in enumerate(base_suite.samples)}
    found = [index.get(suite.samples[i].id) for i in rows]
    return None if any(j is None for j in found) else [j for j in found if j is not None]


def delta_interval(metric: MetricResult, base_metric: MetricResult, rows: Sequence[int], base_rows: Sequence[int],
                   confidence: float, resamples: int, seed: int) -> tuple[float, float]:
    """Two-sided paired-bootstrap interval on candidate − baseline over the given rows."""
    impl = get_metric(metric.name)
    # Orientation "lower is better" makes the drop equal to candidate − baseline.
    _, deltas = paired_drops(impl.aggregate, metric.stats[list(rows)], base_metric.stats[list(base_rows)],
                             higher_is_better=False, relative=False, resamples=resamples, seed=seed,
                             mean_sufficient=impl.mean_sufficient)
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(deltas, [tail, 1.0 - tail], method="inverted_cdf")
    return float(low), float(high)


def slice_points(suite: SuiteResult, metric: MetricResult, base_suite: SuiteResult | None,
                 base_metric: MetricResult | None, groups: Mapping[str, list[int]] | None = None) -> list[SliceDelta]:
    """Every tag slice of one metric with the baseline's value when comparable, without intervals
    (``groups``: ``slice_rows(suite)``, computed once by the caller)."""
    where = base_positions(suite, base_suite) if base_suite is not None else None
    out = []
    for name, rows in (slice_rows(suite) if groups is None else groups).items():
        impl = get_metric(metric.name, f"suite '{suite.name}', tag slice {name}")  # a plug-in's faults name it
        value = float(impl.aggregate(metric.stats[rows]))
        found = where[rows] if where is not None else None
        if base_metric is None or found is None or bool((found < 0).any()):
            out.append(SliceDelta(suite.name, metric.name, name, len(rows), value, None, metric.higher_is_better))
            continue
        base_value = float(impl.aggregate(base_metric.stats[found]))
        out.append(SliceDelta(suite.name, metric.name, name, len(rows), value, base_value, metric.higher_is_better))
    return out


def slices(suite: SuiteResult, metric: MetricResult, base_suite: SuiteResult | None,
           base_metric: MetricResult | None, confidence: float, resamples: int, seed: int) -> list[SliceDelta]:
    """Every tag slice of one metric, with the baseline's value and, when comparable, a Δ interval from the
    slice's own resamples (the verdict draws every slice from the suite's draws instead: ``draws``)."""
    out = []
    for point in slice_points(suite, metric, base_suite, base_metric):
        if point.baseline is None or base_suite is None or base_metric is None:
            out.append(point)
            continue
        rows = slice_rows(suite)[point.slice]
        base_rows = paired_rows(suite, base_suite, rows) or []
        low, high = delta_interval(metric, base_metric, rows, base_rows, confidence, resamples, seed)
        out.append(replace(point, low=low, high=high, confidence=confidence))
    return out


def shown_slices(points: Sequence[SliceDelta], limit: int = SHOWN_SLICES) -> list[SliceDelta]:
    """The ``limit`` slices with a baseline that got worst (oriented Δ, stable in the given order): the
    slices the report's table leads with, which get intervals."""
    with_base = [s for s in points if s.delta is not None]
    with_base.sort(key=lambda s: oriented(s.delta or 0.0, s.higher_is_better))
    return with_base[:limit]


def changed_samples(suite: SuiteResult, base_suite: SuiteResult, metric: MetricResult,
                    base_metric: MetricResult) -> list[SampleDelta]:
    """Samples that got worse, the most regressed first (at most ``TOP_SAMPLES``)."""
    rows, base_rows, value, baseline = _paired_values(suite, base_suite, metric, base_metric)
    better = (value - baseline) if metric.higher_is_better else -(value - baseline)
    worse = np.flatnonzero(better < 0)
    order = worse[np.argsort(better[worse], kind="stable")][:TOP_SAMPLES]
    return [_delta(suite, metric, int(rows[k]), float(value[k]), float(baseline[k])) for k in order]


def flipped_samples(suite: SuiteResult, base_suite: SuiteResult, metric: MetricResult,
                    base_metric: MetricResult, floor: float) -> list[SampleDelta]:
    """Samples that were on the right side of ``floor`` in the baseline and are on the wrong side now."""
    rows, base_rows, value, baseline = _paired_values(suite, base_suite, metric, base_metric)
    with np.errstate(invalid="ignore"):
        ok_now = value >= floor if metric.higher_is_better else value <= floor
        ok_before = baseline >= floor if metric.higher_is_better else baseline <= floor
    return [_delta(suite, metric, int(rows[k]), float(value[k]), float(baseline[k]))
            for k in np.flatnonzero(ok_before & ~ok_now)]


def shown_text(sample: SampleInfo) -> str:
    """The text a sample row shows: the golden text, and ``→ output`` for generated captions."""
    return sample.text if sample.output is None else f"{sample.text} → {sample.output}".strip()


def base_positions(suite: SuiteResult, base_suite: SuiteResult) -> np.ndarray:
    """For each row of ``suite``, the row of the same sample id in ``base_suite`` (``-1`` where it has none)."""
    index: Mapping[str, int] = {s.id: i for i, s in enumerate(base_suite.samples)}
    return np.fromiter((index.get(s.id, -1) for s in suite.samples), dtype=np.int64, count=len(suite.samples))


def _paired_values(suite: SuiteResult, base_suite: SuiteResult, metric: MetricResult, base_metric: MetricResult
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The rows of samples in both runs (in the candidate's order), their baseline rows, and the per-sample
    values of each side there (float64)."""
    where = base_positions(suite, base_suite)
    rows = np.flatnonzero(where >= 0)
    value = np.asarray(metric.per_sample, dtype=np.float64)[rows]
    baseline = np.asarray(base_metric.per_sample, dtype=np.float64)[where[rows]]
    return rows, where[rows], value, baseline


def _delta(suite: SuiteResult, metric: MetricResult, row: int, value: float, baseline: float) -> SampleDelta:
    sample = suite.samples[row]
    return SampleDelta(suite.name, metric.name, sample.id, shown_text(sample), value, baseline, metric.higher_is_better)
