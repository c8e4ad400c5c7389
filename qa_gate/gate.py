"""The gate: a pure function from results, baseline and rules to a verdict."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, replace

from qa_gate.config import GateConfig, Rule
from qa_gate.metrics.registry import get_metric
from qa_gate.results import MetricResult, RunResult, SuiteResult

TOP_SAMPLES = 10
_EPS = 1e-12


class Status(str, enum.Enum):
    """Outcome of one check."""

    PASS = "pass"
    FAIL = "fail"
    INCOMPARABLE = "incomparable"
    NO_BASELINE = "no baseline"
    UPDATED = "updated"

    @property
    def failed(self) -> bool:
        """True for the statuses that fail the build."""
        return self in (Status.FAIL, Status.INCOMPARABLE)


@dataclass(frozen=True)
class Check:
    """One (suite, metric, rule) check and its outcome."""

    suite: str
    suite_label: str
    metric: str
    rule: Rule
    value: float
    baseline: float | None
    status: Status
    message: str
    higher_is_better: bool = True

    @property
    def id(self) -> str:
        """The readable id, e.g. ``golden/shapes::clipscore::min``."""
        return f"{self.suite_label}::{self.metric}::{self.rule.kind}"

    @property
    def delta(self) -> float | None:
        """Candidate minus baseline, when a comparable baseline exists."""
        return None if self.baseline is None else self.value - self.baseline

    def summary(self) -> str:
        """One line: value, threshold, baseline, delta and the rule's outcome."""
        base = "none" if self.baseline is None else f"{self.baseline:.4f}"
        delta = "n/a" if self.delta is None else f"{self.delta:+.4f}"
        return (f"{self.metric} = {self.value:.4f}, {self.rule.kind} {self.rule.value:g}, "
                f"baseline {base}, delta {delta}: {self.message}")


@dataclass(frozen=True)
class SliceDelta:
    """A metric on the samples sharing one tag value (``colour=red``)."""

    suite: str
    metric: str
    slice: str
    n: int
    value: float
    baseline: float | None
    higher_is_better: bool

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

    @property
    def failures(self) -> tuple[Check, ...]:
        """The checks that fail the build."""
        return tuple(c for c in self.checks if c.status.failed)


def _oriented(delta: float, higher_is_better: bool) -> float:
    """A delta where positive always means better."""
    return delta if higher_is_better else -delta


def _floor(rule: Rule, value: float) -> tuple[Status, str]:
    ok = value >= rule.value if rule.kind == "min" else value <= rule.value
    op = ">=" if rule.kind == "min" else "<="
    verb = "holds" if ok else "broken"
    return (Status.PASS if ok else Status.FAIL), f"{rule.kind} {verb}: {value:.4f} (need {op} {rule.value:g})"


def _regression(rule: Rule, value: float, base: float, higher_is_better: bool) -> tuple[Status, str]:
    drop = -_oriented(value - base, higher_is_better)
    if rule.kind == "max_drop":
        allowed, measured, unit = rule.value, drop, ""
    else:
        if base == 0:
            measured = 0.0 if drop <= 0 else float("inf")
        else:
            measured = 100.0 * drop / abs(base)
        allowed, unit = rule.value, "%"
    ok = measured <= allowed + _EPS
    text = (
        f"{rule.kind} {'holds' if ok else 'broken'}: {value:.4f} vs baseline {base:.4f}, "
        f"drop {measured:.4f}{unit} (allowed {allowed:g}{unit})"
    )
    return (Status.PASS if ok else Status.FAIL), text


def _baseline_metric(
    suite: SuiteResult, metric: MetricResult, baseline: RunResult | None
) -> tuple[MetricResult | None, str | None]:
    """The comparable baseline result, or ``None`` and the reason it is not usable."""
    if baseline is None:
        return None, "no baseline"
    base_suite = baseline.suite(suite.name)
    if base_suite is None:
        return None, "no baseline"
    if base_suite.fingerprint != suite.fingerprint:
        return None, (
            f"incomparable: golden suite changed (baseline fingerprint {base_suite.fingerprint}, "
            f"now {suite.fingerprint}); update the baseline deliberately"
        )
    base_metric = base_suite.metrics.get(metric.name)
    if base_metric is None:
        return None, "no baseline"
    if base_metric.fingerprint != metric.fingerprint:
        return None, (
            f"incomparable: metric definition changed (baseline {base_metric.fingerprint}, "
            f"now {metric.fingerprint}); update the baseline deliberately"
        )
    return base_metric, None


def _rows_by_id(suite: SuiteResult) -> Mapping[str, int]:
    return {s.id: i for i, s in enumerate(suite.samples)}


def _slices(suite: SuiteResult, base_suite: SuiteResult | None, metric: MetricResult,
            base_metric: MetricResult | None) -> list[SliceDelta]:
    impl = get_metric(metric.name)
    groups: dict[str, list[int]] = {}
    for i, sample in enumerate(suite.samples):
        for key, val in sample.tags.items():
            groups.setdefault(f"{key}={val}", []).append(i)
    base_rows = _rows_by_id(base_suite) if base_suite is not None and base_metric is not None else None
    out = []
    for name, rows in sorted(groups.items()):
        value = float(impl.aggregate(metric.stats[rows]))
        base_value = None
        if base_rows is not None and base_metric is not None:
            ids = [suite.samples[i].id for i in rows]
            if all(i in base_rows for i in ids):
                base_value = float(impl.aggregate(base_metric.stats[[base_rows[i] for i in ids]]))
        out.append(SliceDelta(suite.name, metric.name, name, len(rows), value, base_value,
                              metric.higher_is_better))
    return out


def _samples(suite: SuiteResult, base_suite: SuiteResult, metric: MetricResult,
             base_metric: MetricResult) -> list[SampleDelta]:
    base_rows = _rows_by_id(base_suite)
    out = []
    for i, sample in enumerate(suite.samples):
        j = base_rows.get(sample.id)
        if j is None:
            continue
        value, base = metric.per_sample[i], base_metric.per_sample[j]
        if _oriented(value - base, metric.higher_is_better) < 0:
            out.append(SampleDelta(suite.name, metric.name, sample.id, sample.text, value, base,
                                   metric.higher_is_better))
    out.sort(key=lambda d: _oriented(d.delta, metric.higher_is_better))
    return out[:TOP_SAMPLES]


def evaluate(run: RunResult, baseline: RunResult | None, config: GateConfig,
             baseline_source: str | None = None) -> Verdict:
    """Judge ``run`` against the rules of ``config`` and the comparable parts of ``baseline``."""
    checks: list[Check] = []
    slices: list[SliceDelta] = []
    samples: list[SampleDelta] = []
    notes: list[str] = []
    if baseline is None:
        notes.append("No baseline yet: only absolute floors (min/max) were checked. "
                     "Record one with: pytest --mm-gate --mm-update-baseline")
    for suite_cfg in config.suites:
        suite = run.suite(suite_cfg.name)
        if suite is None:
            continue
        base_suite = baseline.suite(suite.name) if baseline is not None else None
        if base_suite is not None and base_suite.fingerprint != suite.fingerprint:
            notes.append(f"Golden suite {suite.label} changed since the baseline "
                         f"({base_suite.fingerprint} → {suite.fingerprint}): regression rules on it "
                         "are incomparable until the baseline is updated deliberately.")
        for metric_cfg in suite_cfg.metrics:
            metric = suite.metrics[metric_cfg.name]
            base_metric, why = _baseline_metric(suite, metric, baseline)
            comparable_suite = base_suite if base_metric is not None else None
            slices.extend(_slices(suite, comparable_suite, metric, base_metric))
            if base_metric is not None and base_suite is not None:
                samples.extend(_samples(suite, base_suite, metric, base_metric))
            for rule in metric_cfg.rules:
                if rule.is_floor:
                    status, message = _floor(rule, metric.value)
                elif base_metric is None:
                    incomparable = why is not None and why.startswith("incomparable")
                    status = Status.INCOMPARABLE if incomparable else Status.NO_BASELINE
                    message = f"{rule.kind}: {why}" if why else f"{rule.kind}: no baseline"
                else:
                    status, message = _regression(rule, metric.value, base_metric.value,
                                                  metric.higher_is_better)
                checks.append(Check(
                    suite=suite.name, suite_label=suite.label, metric=metric.name, rule=rule,
                    value=metric.value,
                    baseline=base_metric.value if base_metric is not None else None,
                    status=status, message=message, higher_is_better=metric.higher_is_better,
                ))
    passed = not any(c.status.failed for c in checks)
    return Verdict(passed, tuple(checks), tuple(slices), tuple(samples), tuple(notes), run,
                   baseline, baseline_source)


def accept_as_baseline(verdict: Verdict) -> Verdict:
    """The verdict of a deliberate baseline update: regression checks become ``updated``.

    Floors keep their outcome; the old baseline stays in the verdict so the report
    still shows what changed.
    """
    checks = tuple(
        c if c.rule.is_floor or c.status is Status.NO_BASELINE
        else replace(c, status=Status.UPDATED, message=f"{c.rule.kind}: baseline updated deliberately ({c.message})")
        for c in verdict.checks
    )
    notes = verdict.notes + ("Baseline update requested: regression rules were not enforced; "
                             "the new results become the baseline when every floor holds.",)
    return replace(verdict, checks=checks, notes=notes, passed=not any(c.status.failed for c in checks))


def worst_slices(verdict: Verdict, limit: int = 10) -> list[SliceDelta]:
    """Slices with a baseline, the most regressed first."""
    with_base = [s for s in verdict.slices if s.delta is not None]
    with_base.sort(key=lambda s: _oriented(s.delta or 0.0, s.higher_is_better))
    return with_base[:limit]
