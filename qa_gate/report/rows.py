"""Table rows of a report: checks (failures first), skipped metrics, slices (worst first, noise apart).

Numbers are formatted here; user text (ids, messages, slice names) stays raw for the
templates to escape.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from qa_gate.report.formatting import (
    MISSING,
    format_delta,
    format_detectable,
    format_drop,
    format_interval,
    format_number,
    format_rule,
    format_value,
    rule_unit,
)
from qa_gate.verdict.checks import Check, Status
from qa_gate.verdict.diffs import SliceDelta, oriented

SLICE_WARN_DROP = 0.02
"""A slice whose value moved this much the wrong way is flagged with ⚠️."""
TOO_SMALL_FACTOR = 2.0
"""A suite is too small to protect a metric when its smallest detectable drop exceeds this × the allowance."""

_STATUS_RANK = {Status.FAIL: 0, Status.INCOMPARABLE: 1, Status.MISSING_BASELINE: 1, Status.NO_BASELINE: 2,
                Status.SKIPPED: 2, Status.PASS: 4}
STATUS_EMOJI = {
    Status.PASS: "✅",
    Status.FAIL: "❌",
    Status.INCOMPARABLE: "⚠️",
    Status.NO_BASELINE: "➖",
    Status.MISSING_BASELINE: "❌",
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
    interval: str = MISSING
    """Δ with its two-sided bounds where the gate measured them (``−0.5574 [−0.6173, −0.4988]``), else Δ."""


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
    moved: bool = True
    """False when the change is within noise: no Δ beyond the report's precision, or an interval holding 0."""
    worse: float = 0.0
    """The oriented change relative to the baseline (−1: lost everything), to rank slices of different metrics."""
    suite: str = ""


@dataclass(frozen=True)
class TooSmall:
    """A suite (or slice) too small to protect a metric: drops below ``detectable`` look like noise."""

    where: str
    metric: str
    detectable: str
    n: int

    def __str__(self) -> str:
        return (f"{self.where} is too small to protect {self.metric}: drops smaller than {self.detectable} "
                f"are indistinguishable from noise at n={self.n}")


def _interval(check: Check) -> str:
    estimate = check.estimate
    if estimate is None or check.delta is None:
        return format_delta(check.delta)
    unit = rule_unit(check.rule)
    if unit:
        return f"{format_delta(check.delta)} (drop {format_drop(estimate, unit)})"
    sign = 1.0 if check.higher_is_better else -1.0  # the drop is oriented; Δ = −drop · sign
    low, high = sorted((-sign * estimate.high, -sign * estimate.low))
    return format_interval(check.delta, low, high)


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
        skipped=check.status is Status.SKIPPED, interval=_interval(check),
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


def moved(s: SliceDelta) -> bool:
    """True when a slice changed beyond noise: a Δ visible at four decimals whose interval (if any) excludes 0."""
    if s.delta is None or format_delta(s.delta) == "±0.0000":
        return False
    if s.low is None or s.high is None:
        return True
    return s.low > 0 or s.high < 0


def slice_rows(slices: Sequence[SliceDelta], metric_order: Mapping[str, int]) -> list[SliceRow]:
    """Slices with a baseline by how much they got worse, then the rest by value, worst first."""
    rows = []
    for s in sorted(slices, key=_slice_key(metric_order)):
        degraded = s.delta is not None and oriented(s.delta, s.higher_is_better) < -SLICE_WARN_DROP
        worse = 0.0
        if s.delta is not None and s.baseline is not None:
            worse = oriented(s.delta, s.higher_is_better) / max(abs(s.baseline), 1e-12)
        rows.append(SliceRow(s.slice, s.metric, s.n, format_number(s.baseline), format_number(s.value),
                             format_interval(s.delta, s.low, s.high), degraded, moved(s), worse, s.suite))
    return rows
