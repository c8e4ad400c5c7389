"""What a report shows, in the order it shows it: one view of a verdict for Markdown and HTML.

This module decides order (failures first, worst slices first) and formats numbers.
User text (captions, ids, labels, messages) stays raw here; each template escapes it
with its own filter, so escaping happens in exactly one place per output format.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from qa_gate.report.formatting import (
    MISSING,
    format_definition,
    format_delta,
    format_detectable,
    format_drop,
    format_interval,
    format_number,
    format_rule,
    format_value,
    rule_unit,
)
from qa_gate.report.sections import (
    LabelF1Table,
    TypeTable,
    label_f1_tables,
    vqa_type_tables,
)
from qa_gate.report.trend import Trend, trends
from qa_gate.results import CheckpointInfo, RunResult, SuiteResult
from qa_gate.scoring.families import sections
from qa_gate.verdict.checks import Check, Status, Verdict
from qa_gate.verdict.diffs import SampleDelta, SliceDelta, oriented

SLICE_WARN_DROP = 0.02
"""A slice whose value moved this much the wrong way is flagged with ⚠️."""
MAX_SLICE_ROWS = 20
MAX_FLIP_ROWS = 20
SHORT_SHA = 12
TOO_SMALL_FACTOR = 2.0
"""A suite is too small to protect a metric when its smallest detectable drop exceeds this × the allowance."""

_STATUS_RANK = {Status.FAIL: 0, Status.INCOMPARABLE: 1, Status.NO_BASELINE: 2, Status.SKIPPED: 2, Status.PASS: 4}
STATUS_EMOJI = {
    Status.PASS: "✅",
    Status.FAIL: "❌",
    Status.INCOMPARABLE: "⚠️",
    Status.NO_BASELINE: "➖",
    Status.UPDATED: "🔄",
    Status.SKIPPED: "⏭️",
}


def _status_rank(status: Status) -> int:
    """Failures first, then statuses that need a look, passes last."""
    return _STATUS_RANK.get(status, 1 if status.failed else 3)


@dataclass(frozen=True)
class CheckRow:
    """One row of a suite's check table; numbers formatted, user text raw."""

    id: str
    metric: str
    rule: str
    baseline: str
    candidate: str
    delta: str
    drop: str
    detectable: str
    status: str
    emoji: str
    message: str
    failed: bool
    skipped: bool = False


@dataclass(frozen=True)
class SkippedRow:
    """A metric the run could not compute: ``captions::meteor``, its skipped checks and why."""

    id: str
    checks: int
    reason: str
    emoji: str = STATUS_EMOJI[Status.SKIPPED]


@dataclass(frozen=True)
class SliceRow:
    """One row of a suite's slice table; ``delta`` carries the interval when there is one."""

    slice: str
    metric: str
    n: int
    baseline: str
    candidate: str
    delta: str
    degraded: bool


@dataclass(frozen=True)
class SampleRow:
    """One row of a most-regressed or flipped-samples table."""

    suite: str
    sample_id: str
    text: str
    metric: str
    change: str
    delta: str


@dataclass(frozen=True)
class MetricInfo:
    """A metric's fingerprint and definition, and the baseline's fingerprint when it differs."""

    name: str
    fingerprint: str
    definition: str
    baseline_fingerprint: str | None


@dataclass(frozen=True)
class TooSmall:
    """A suite (or slice) too small to protect a metric: drops below ``detectable`` look like noise."""

    where: str
    metric: str
    detectable: str
    n: int


@dataclass(frozen=True)
class SuiteView:
    """Everything a report shows for one suite."""

    name: str
    label: str
    n: int
    fingerprint: str
    baseline_fingerprint: str | None
    failed: int
    checks: tuple[CheckRow, ...]
    too_small: tuple[TooSmall, ...]
    slices: tuple[SliceRow, ...]
    slices_hidden: int
    samples: tuple[SampleRow, ...]
    flips: tuple[SampleRow, ...]
    flips_hidden: int
    trends: tuple[Trend, ...]
    metrics: tuple[MetricInfo, ...]
    label_f1: tuple[LabelF1Table, ...] = ()
    vqa_types: tuple[TypeTable, ...] = ()


@dataclass(frozen=True)
class ReportView:
    """Everything a report shows, top to bottom."""

    passed: bool
    failed: int
    total: int
    changes: tuple[str, ...]
    checkpoint: CheckpointInfo
    short_sha: str
    created: str
    baseline: RunResult | None
    baseline_source: str | None
    notes: tuple[str, ...]
    failures: tuple[CheckRow, ...]
    suites: tuple[SuiteView, ...]
    environment: tuple[tuple[Any, Any], ...]
    skipped: tuple[SkippedRow, ...] = ()
    skipped_checks: int = 0
    cautions: tuple[str, ...] = ()
    """How the run was less safe than the default (``model.allow_pickle``), shown near the top."""


def check_row(check: Check) -> CheckRow:
    """A check as a table row: slice checks name their slice beside the metric."""
    emoji = STATUS_EMOJI.get(check.status, "❔")
    unit = rule_unit(check.rule)
    return CheckRow(
        id=check.id, metric=f"{check.metric} [{check.slice}]" if check.slice else check.metric,
        rule=format_rule(check.rule), baseline=format_number(check.baseline),
        candidate=MISSING if check.status is Status.SKIPPED else format_number(check.value),
        delta=format_delta(check.delta),
        drop=format_drop(check.estimate, unit), detectable=format_detectable(check.estimate, unit),
        status=f"{emoji} {check.status.value}", emoji=emoji, message=check.message, failed=check.status.failed,
        skipped=check.status is Status.SKIPPED,
    )


def too_small(check: Check) -> TooSmall | None:
    """The note for a passing regression check whose suite cannot see a drop twice the allowance, else ``None``.

    A failed check needs no such note: the drop it found was detectable, and its
    spread reflects the regression itself rather than noise.
    """
    estimate = check.estimate
    if (estimate is None or check.rule.is_floor or check.status.failed
            or not math.isfinite(estimate.min_detectable)):
        return None
    if estimate.min_detectable <= TOO_SMALL_FACTOR * check.rule.value:
        return None
    where = f"slice {check.slice} of {check.suite_label}" if check.slice else check.suite_label
    return TooSmall(where, check.metric, format_value(estimate.min_detectable, rule_unit(check.rule)), estimate.n)


def failures_first(checks: Sequence[Check]) -> list[Check]:
    """Checks by status, failures first; the gate's order otherwise."""
    return sorted(checks, key=lambda c: _status_rank(c.status))


def _slice_key(order: Mapping[str, int]) -> Callable[[SliceDelta], tuple[int, float, int, float]]:
    def key(s: SliceDelta) -> tuple[int, float, int, float]:
        if s.delta is not None:
            return (0, oriented(s.delta, s.higher_is_better), 0, 0.0)
        return (1, 0.0, order.get(s.metric, 0), oriented(s.value, s.higher_is_better))
    return key


def slice_rows(slices: Sequence[SliceDelta], metric_order: Mapping[str, int]) -> list[SliceRow]:
    """Slices with a baseline by how much they got worse, then the rest by value, worst first."""
    rows = []
    for s in sorted(slices, key=_slice_key(metric_order)):
        degraded = s.delta is not None and oriented(s.delta, s.higher_is_better) < -SLICE_WARN_DROP
        rows.append(SliceRow(s.slice, s.metric, s.n, format_number(s.baseline), format_number(s.value),
                             format_interval(s.delta, s.low, s.high), degraded))
    return rows


def sample_row(d: SampleDelta) -> SampleRow:
    """A per-sample change as a table row."""
    change = f"{format_number(d.baseline)} → {format_number(d.value)}"
    return SampleRow(d.suite, d.sample_id, d.text, d.metric, change, format_delta(d.delta))


def _metrics(suite: SuiteResult, base_suite: SuiteResult | None) -> tuple[MetricInfo, ...]:
    out = []
    for name, result in suite.metrics.items():
        base = base_suite.metrics.get(name) if base_suite is not None else None
        base_fp = base.fingerprint if base is not None and base.fingerprint != result.fingerprint else None
        out.append(MetricInfo(name, result.fingerprint, format_definition(result.definition), base_fp))
    return tuple(out)


def suite_view(verdict: Verdict, suite: SuiteResult) -> SuiteView:
    """One suite's checks, notes, slices, family sections, samples, flips, trends and fingerprints."""
    own = [c for c in verdict.checks if c.suite == suite.name]
    checks = failures_first(own)
    failing_metrics = {c.metric for c in checks if c.status.failed}
    metric_order = {name: i for i, name in enumerate(suite.metrics)}
    slices = slice_rows([s for s in verdict.slices if s.suite == suite.name], metric_order)
    samples = [d for d in verdict.samples if d.suite == suite.name]
    samples.sort(key=lambda d: d.metric not in failing_metrics)
    flips = [d for d in verdict.flips if d.suite == suite.name]
    flips.sort(key=lambda d: (d.metric not in failing_metrics, oriented(d.delta, d.higher_is_better)))
    notes = list(dict.fromkeys(note for note in map(too_small, checks) if note is not None))
    gated = [name for name in suite.metrics if any(c.metric == name for c in own)]
    base_suite = verdict.baseline.suite(suite.name) if verdict.baseline is not None else None
    wanted = sections([(name, result.definition) for name, result in suite.metrics.items()])
    base_suite_fp = (base_suite.fingerprint if base_suite is not None
                     and base_suite.fingerprint != suite.fingerprint else None)
    return SuiteView(
        name=suite.name, label=suite.label, n=len(suite.samples), fingerprint=suite.fingerprint,
        baseline_fingerprint=base_suite_fp, failed=sum(c.status.failed for c in checks),
        checks=tuple(check_row(c) for c in checks), too_small=tuple(notes),
        slices=tuple(slices[:MAX_SLICE_ROWS]), slices_hidden=max(len(slices) - MAX_SLICE_ROWS, 0),
        samples=tuple(sample_row(d) for d in samples),
        flips=tuple(sample_row(d) for d in flips[:MAX_FLIP_ROWS]),
        flips_hidden=max(len(flips) - MAX_FLIP_ROWS, 0),
        trends=trends(verdict.history, suite, gated), metrics=_metrics(suite, base_suite),
        label_f1=label_f1_tables(suite, base_suite, wanted.get("label_f1", ())),
        vqa_types=vqa_type_tables(suite, base_suite, wanted.get("vqa_types", ())),
    )


def report_view(verdict: Verdict) -> ReportView:
    """The whole report: failing suites first, each in the order above."""
    suites = [suite_view(verdict, s) for s in verdict.run.suites]
    suites.sort(key=lambda v: v.failed == 0)
    run = verdict.run
    return ReportView(
        passed=verdict.passed, failed=len(verdict.failures), total=len(verdict.checks),
        changes=tuple(verdict.changes), checkpoint=run.checkpoint, short_sha=run.checkpoint.sha256[:SHORT_SHA],
        created=run.created, baseline=verdict.baseline, baseline_source=verdict.baseline_source,
        notes=tuple(verdict.notes), failures=tuple(check_row(c) for c in failures_first(verdict.failures)),
        suites=tuple(suites), environment=tuple(sorted(run.environment.items(), key=lambda kv: str(kv[0]))),
        skipped=tuple(SkippedRow(s.id, s.checks, s.reason) for s in verdict.skipped_metrics()),
        skipped_checks=len(verdict.skipped), cautions=tuple(verdict.cautions),
    )
