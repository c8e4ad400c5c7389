"""The bootstrap of one suite for the verdict: every regression rule and every shown slice interval
resampled from the suite's one set of draws (``resampling``; DESIGN.md §5).

``plan_suite`` lists what the verdict needs resampled: each comparable metric with a regression
rule on the whole suite or on a slice, and the ``SHOWN_SLICES`` worst slices of the suite (all
metrics together, by the point Δ computed for every slice) for their Δ intervals. Slices beyond
those get no interval. One ``resample`` call then draws for all of them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace

import numpy as np

from qa_gate.config.model import Rule
from qa_gate.metrics.counted import CountedMetric
from qa_gate.metrics.registry import get_metric
from qa_gate.results import MetricResult, SuiteResult
from qa_gate.verdict.diffs import SliceDelta
from qa_gate.verdict.resampling import Request, Resampled, resample
from qa_gate.verdict.stats import DropEstimate, drop_estimate, oriented_drop

Key = tuple[str, "str | None"]
"""``(metric name, slice name or None for the whole suite)``."""


class SuiteDraws:
    """Resampled aggregates of one suite, by ``(metric, slice)``; the point values beside them."""

    def __init__(self, wanted: Mapping[Key, Request], resampled: Sequence[Resampled]) -> None:
        self._requests = dict(wanted)
        self._resampled = dict(zip(wanted, resampled))

    def __contains__(self, key: Key) -> bool:
        return key in self._resampled

    def estimate(self, metric: MetricResult, slice_name: str | None, rule: Rule) -> DropEstimate | None:
        """The drop estimate of ``rule`` on ``metric`` (on ``slice_name``), ``None`` if it was not drawn."""
        key = (metric.name, slice_name)
        if key not in self._resampled:
            return None
        request, drawn = self._requests[key], self._resampled[key]
        relative = rule.kind == "max_drop_pct"
        point = float(oriented_drop(request.aggregate(request.cand), request.aggregate(request.base),
                                    higher_is_better=metric.higher_is_better, relative=relative))
        drops = oriented_drop(drawn.cand, drawn.base, higher_is_better=metric.higher_is_better,
                              relative=relative)[drawn.drawn]
        return drop_estimate(point, drops, allowed=rule.value, confidence=rule.confidence, n=len(request.cand))

    def interval(self, point: SliceDelta, confidence: float) -> SliceDelta:
        """``point`` with its two-sided Δ interval (candidate − baseline) when it was drawn."""
        drawn = self._resampled.get((point.metric, point.slice))
        if drawn is None:
            return point
        deltas = (drawn.cand - drawn.base)[drawn.drawn]
        if len(deltas) == 0:
            return replace(point, low=float("nan"), high=float("nan"), confidence=confidence)
        tail = (1.0 - confidence) / 2.0
        low, high = np.quantile(deltas, [tail, 1.0 - tail], method="inverted_cdf")
        return replace(point, low=float(low), high=float(high), confidence=confidence)


class Plan:
    """What one suite's verdict resamples, collected before one draw for all."""

    def __init__(self, suite: SuiteResult, groups: Mapping[str, list[int]]) -> None:
        self.suite, self.groups = suite, groups
        self.wanted: dict[Key, Request] = {}
        self._rows: dict[str, np.ndarray] = {}
        self._base_index: dict[int, dict[str, int] | None] = {}

    def _base_rows(self, base_suite: SuiteResult, rows: Iterable[int]) -> list[int] | None:
        if id(base_suite) not in self._base_index:  # None: the same samples in the same order (the usual case)
            same = [s.id for s in base_suite.samples] == [s.id for s in self.suite.samples]
            self._base_index[id(base_suite)] = None if same else {s.id: i for i, s in enumerate(base_suite.samples)}
        index = self._base_index[id(base_suite)]
        if index is None:
            return list(rows)
        found = [index.get(self.suite.samples[i].id) for i in rows]
        return None if any(j is None for j in found) else [j for j in found if j is not None]

    def add(self, metric: MetricResult, base_suite: SuiteResult, base_metric: MetricResult,
            slice_name: str | None) -> None:
        """Resample ``metric`` against ``base_metric`` on the whole suite or on ``slice_name``."""
        key = (metric.name, slice_name)
        if key in self.wanted:
            return
        if slice_name is None:
            rows_list: list[int] = list(range(len(self.suite.samples)))
            rows = None
        else:
            rows_list = self.groups.get(slice_name, [])
            if not rows_list:
                return
            rows = self._rows.setdefault(slice_name, np.asarray(rows_list, dtype=np.int64))
        base_rows = self._base_rows(base_suite, rows_list)
        if base_rows is None:
            return
        impl = get_metric(metric.name, f"suite '{self.suite.name}'")  # a plug-in's faults name the suite
        cand = metric.stats if rows is None else metric.stats[rows]
        counted = impl.counted if isinstance(impl, CountedMetric) else None
        self.wanted[key] = Request(key, impl.aggregate, impl.mean_sufficient, np.asarray(cand, dtype=np.float64),
                                   np.asarray(base_metric.stats[base_rows], dtype=np.float64), rows, counted)

    def draw(self, resamples: int, seed: int) -> SuiteDraws:
        """Every planned request from the suite's one set of draws."""
        if not self.wanted:
            return SuiteDraws({}, [])
        found = resample(list(self.wanted.values()), len(self.suite.samples), resamples=resamples, seed=seed)
        return SuiteDraws(self.wanted, found)
