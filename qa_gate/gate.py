"""The gate: a pure function from results, baseline and rules to a verdict (DESIGN.md §5).

Floors (``min``/``max``) are absolute. Regression rules (``max_drop``,
``max_drop_pct``) compare with the baseline on the same golden and metric
fingerprints through a paired bootstrap: in ``significant`` mode a drop fails
only when it exceeds the allowance with the rule's confidence; in ``strict``
mode it passes only when it is shown to be within the allowance.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

from qa_gate.baseline.base import HistoryPoint
from qa_gate.config import GateConfig, MetricConfig, Rule
from qa_gate.diffs import (SampleDelta, SliceDelta, changed_samples, flipped_samples, oriented, paired_rows,
                           slice_rows, slices)
from qa_gate.metrics.registry import get_metric
from qa_gate.results import MetricResult, RunResult, SuiteResult
from qa_gate.stats import DropEstimate, estimate_drop, judge_drop

_EPS = 1e-12


class Status(str, enum.Enum):
    """Outcome of one check."""

    PASS = "pass"
    FAIL = "fail"
    INCOMPARABLE = "incomparable"
    NO_BASELINE = "no baseline"
    UPDATED = "updated"
    SKIPPED = "skipped"
    """The metric could not be computed (no Java for the captioning metrics); ``message`` holds the reason.
    Never fails the build, but a baseline is never recorded from such a run."""

    @property
    def failed(self) -> bool:
        """True for the statuses that fail the build."""
        return self in (Status.FAIL, Status.INCOMPARABLE)


@dataclass(frozen=True)
class Check:
    """One (suite or slice, metric, rule) check and its outcome."""

    suite: str
    suite_label: str
    metric: str
    rule: Rule
    value: float
    baseline: float | None
    status: Status
    message: str
    higher_is_better: bool = True
    slice: str | None = None
    estimate: DropEstimate | None = None
    """The bootstrap estimate of the drop, for regression rules judged against a baseline."""

    @property
    def id(self) -> str:
        """The readable id: ``golden/shapes::clipscore::min``, ``golden/shapes[colour=red]::clipscore::min``."""
        where = f"{self.suite_label}[{self.slice}]" if self.slice else self.suite_label
        return f"{where}::{self.metric}::{self.rule.kind}"

    @property
    def delta(self) -> float | None:
        """Candidate minus baseline, when a comparable baseline exists."""
        return None if self.baseline is None else self.value - self.baseline

    def summary(self) -> str:
        """One line: value, threshold, baseline, delta and the rule's outcome (or why it was skipped)."""
        if self.status is Status.SKIPPED:
            return f"{self.metric}: {self.rule.kind} {self.rule.value:g} skipped: {self.message}"
        base = "none" if self.baseline is None else f"{self.baseline:.4f}"
        delta = "n/a" if self.delta is None else f"{self.delta:+.4f}"
        return (f"{self.metric} = {self.value:.4f}, {self.rule.kind} {self.rule.value:g}, "
                f"baseline {base}, delta {delta}: {self.message}")


@dataclass(frozen=True)
class Verdict:
    """The gate's decision and everything the report explains it with."""

    passed: bool
    checks: tuple[Check, ...]
    slices: tuple[SliceDelta, ...]
    samples: tuple[SampleDelta, ...]
    notes: tuple[str, ...]
    run: RunResult
    baseline: RunResult | None
    baseline_source: str | None = None
    changes: tuple[str, ...] = ()
    """What the change under test did to the baseline or the golden suites (report's first lines)."""
    history: tuple[HistoryPoint, ...] = ()
    """Earlier baselines on the target branch, oldest first."""
    flips: tuple[SampleDelta, ...] = ()
    """Samples that crossed their metric's floor from the right side to the wrong one."""

    @property
    def failures(self) -> tuple[Check, ...]:
        """The checks that fail the build."""
        return tuple(c for c in self.checks if c.status.failed)

    @property
    def skipped(self) -> tuple[Check, ...]:
        """The checks of metrics the run could not compute (each ``message`` is the reason)."""
        return tuple(c for c in self.checks if c.status is Status.SKIPPED)

    def skipped_metrics(self) -> tuple[SkippedMetric, ...]:
        """One entry per skipped (suite, metric), in check order, with how many checks it skipped."""
        found: dict[tuple[str, str], SkippedMetric] = {}
        for c in self.skipped:
            prior = found.get((c.suite, c.metric))
            found[(c.suite, c.metric)] = SkippedMetric(c.suite_label, c.metric, c.message,
                                                       1 if prior is None else prior.checks + 1)
        return tuple(found.values())


@dataclass(frozen=True)
class SkippedMetric:
    """A metric the run could not compute: where, why, and how many checks were skipped with it."""

    suite_label: str
    metric: str
    reason: str
    checks: int

    @property
    def id(self) -> str:
        """``golden/captions::meteor``."""
        return f"{self.suite_label}::{self.metric}"


def _floor(rule: Rule, value: float) -> tuple[Status, str]:
    ok = value >= rule.value if rule.kind == "min" else value <= rule.value
    op = ">=" if rule.kind == "min" else "<="
    verb = "holds" if ok else "broken"
    return (Status.PASS if ok else Status.FAIL), f"{rule.kind} {verb}: {value:.4f} (need {op} {rule.value:g})"


def _regression(rule: Rule, metric: MetricResult, base_metric: MetricResult, rows: Sequence[int],
                base_rows: Sequence[int], config: GateConfig) -> tuple[Status, str, DropEstimate]:
    relative = rule.kind == "max_drop_pct"
    impl = get_metric(metric.name)
    estimate = estimate_drop(
        impl.aggregate, metric.stats[list(rows)], base_metric.stats[list(base_rows)],
        higher_is_better=metric.higher_is_better, relative=relative, allowed=rule.value,
        confidence=rule.confidence, resamples=config.resamples, seed=config.seed,
        mean_sufficient=impl.mean_sufficient,
    )
    ok = judge_drop(estimate, rule.value + _EPS, rule.mode)
    unit = "%" if relative else ""
    text = (f"{rule.kind} ({rule.mode}, {rule.confidence:.0%}) {'holds' if ok else 'broken'}: "
            f"drop {estimate.drop:.4f}{unit}, {rule.confidence:.0%} bounds [{estimate.low:.4f}, "
            f"{estimate.high:.4f}]{unit}, allowed {rule.value:g}{unit}; smallest detectable drop at n="
            f"{estimate.n}: {estimate.min_detectable:.4f}{unit}")
    return (Status.PASS if ok else Status.FAIL), text, estimate


def _comparable(suite: SuiteResult, metric: MetricResult, baseline: RunResult | None
                ) -> tuple[SuiteResult | None, MetricResult | None, str | None]:
    """The baseline's suite and metric when comparable, else the reason they are not."""
    base_suite = baseline.suite(suite.name) if baseline is not None else None
    if base_suite is None:
        return None, None, "no baseline"
    if base_suite.fingerprint != suite.fingerprint:
        return None, None, (f"incomparable: golden suite changed (baseline fingerprint {base_suite.fingerprint}, "
                            f"now {suite.fingerprint}); update the baseline deliberately")
    base_metric = base_suite.metrics.get(metric.name)
    if base_metric is None:
        return None, None, "no baseline"
    if base_metric.fingerprint != metric.fingerprint:
        return None, None, (f"incomparable: metric definition changed (baseline {base_metric.fingerprint}, "
                            f"now {metric.fingerprint}); update the baseline deliberately")
    return base_suite, base_metric, None


def _skipped_checks(suite: SuiteResult, metric_cfg: MetricConfig, reason: str,
                    slice_name: str | None = None) -> list[Check]:
    """A ``skipped`` check per rule of a metric the run could not compute (no value, no baseline)."""
    higher = get_metric(metric_cfg.name).higher_is_better
    return [Check(suite.name, suite.label, metric_cfg.name, rule, math.nan, None, Status.SKIPPED, reason,
                  higher, slice_name) for rule in metric_cfg.rules]


def _checks(suite: SuiteResult, metric: MetricResult, metric_cfg: MetricConfig, rows: list[int],
            base_suite: SuiteResult | None, base_metric: MetricResult | None, why: str | None,
            config: GateConfig, slice_name: str | None = None) -> list[Check]:
    impl = get_metric(metric.name)
    value = float(impl.aggregate(metric.stats[rows]))
    base_rows = paired_rows(suite, base_suite, rows) if base_suite is not None else None
    base_value = (float(impl.aggregate(base_metric.stats[base_rows]))
                  if base_metric is not None and base_rows is not None else None)
    out = []
    for rule in metric_cfg.rules:
        estimate = None
        if rule.is_floor:
            status, message = _floor(rule, value)
        elif base_metric is None or base_rows is None:
            reason = why or "no baseline"
            status = Status.INCOMPARABLE if reason.startswith("incomparable") else Status.NO_BASELINE
            message = f"{rule.kind}: {reason}"
        else:
            status, message, estimate = _regression(rule, metric, base_metric, rows, base_rows, config)
        out.append(Check(suite.name, suite.label, metric.name, rule, value, base_value, status, message,
                         metric.higher_is_better, slice_name, estimate))
    return out


def evaluate(run: RunResult, baseline: RunResult | None, config: GateConfig,
             baseline_source: str | None = None) -> Verdict:
    """Judge ``run`` against the rules of ``config`` and the comparable parts of ``baseline``."""
    checks: list[Check] = []
    slice_deltas: list[SliceDelta] = []
    samples: list[SampleDelta] = []
    flips: list[SampleDelta] = []
    notes: list[str] = []
    if baseline is None:
        notes.append("No baseline yet: only absolute floors (min/max) were checked. "
                     "Record one with: pytest --mm-gate --mm-update-baseline")
    for suite_cfg in config.suites:
        suite = run.suite(suite_cfg.name)
        if suite is None:
            continue
        prior = baseline.suite(suite.name) if baseline is not None else None
        if prior is not None and prior.fingerprint != suite.fingerprint:
            notes.append(f"Golden suite {suite.label} changed since the baseline "
                         f"({prior.fingerprint} → {suite.fingerprint}): regression rules on it "
                         "are incomparable until the baseline is updated deliberately.")
        groups = slice_rows(suite)
        confidence = max((r.confidence for m in suite_cfg.metrics for r in m.rules), default=0.95)
        for metric_cfg in suite_cfg.metrics:
            if metric_cfg.name in suite.skipped:
                checks.extend(_skipped_checks(suite, metric_cfg, suite.skipped[metric_cfg.name]))
                continue
            metric = suite.metrics[metric_cfg.name]
            base_suite, base_metric, why = _comparable(suite, metric, baseline)
            checks.extend(_checks(suite, metric, metric_cfg, list(range(len(suite.samples))), base_suite,
                                  base_metric, why, config))
            slice_deltas.extend(slices(suite, metric, base_suite, base_metric, confidence,
                                       config.resamples, config.seed))
            per_sample_meaningful = get_metric(metric.name).family != "efficiency"  # rows are batch timings
            if base_suite is not None and base_metric is not None and per_sample_meaningful:
                samples.extend(changed_samples(suite, base_suite, metric, base_metric))
                for rule in metric_cfg.rules:
                    if rule.kind == ("min" if metric.higher_is_better else "max"):
                        flips.extend(flipped_samples(suite, base_suite, metric, base_metric, rule.value))
        for slice_cfg in suite_cfg.slices:
            rows = groups.get(slice_cfg.slice, [])
            for metric_cfg in slice_cfg.metrics:
                if metric_cfg.name in suite.skipped:
                    checks.extend(_skipped_checks(suite, metric_cfg, suite.skipped[metric_cfg.name],
                                                  slice_cfg.slice))
                    continue
                metric = suite.metrics[metric_cfg.name]
                base_suite, base_metric, why = _comparable(suite, metric, baseline)
                checks.extend(_checks(suite, metric, metric_cfg, rows, base_suite, base_metric, why, config,
                                      slice_cfg.slice))
    passed = not any(c.status.failed for c in checks)
    return Verdict(passed, tuple(checks), tuple(slice_deltas), tuple(samples), tuple(notes), run,
                   baseline, baseline_source, flips=tuple(flips))


def accept_as_baseline(verdict: Verdict) -> Verdict:
    """The verdict of a deliberate baseline update: regression checks become ``updated``.

    Floors and skipped checks keep their outcome; the old baseline stays in the verdict so
    the report still shows what changed.
    """
    checks = tuple(
        c if c.rule.is_floor or c.status in (Status.NO_BASELINE, Status.SKIPPED)
        else replace(c, status=Status.UPDATED, message=f"{c.rule.kind}: baseline updated deliberately ({c.message})")
        for c in verdict.checks
    )
    notes = verdict.notes + ("Baseline update requested: regression rules were not enforced; "
                             "the new results become the baseline when every floor holds and no metric was skipped.",)
    return replace(verdict, checks=checks, notes=notes, passed=not any(c.status.failed for c in checks))


def worst_slices(verdict: Verdict, limit: int = 10) -> list[SliceDelta]:
    """Slices with a baseline, the most regressed first."""
    with_base = [s for s in verdict.slices if s.delta is not None]
    with_base.sort(key=lambda s: oriented(s.delta or 0.0, s.higher_is_better))
    return with_base[:limit]
