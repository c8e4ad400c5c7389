"""The gate: a pure function from results, baseline and rules to a verdict (DESIGN.md §5).

Floors (``min``/``max``) are absolute. Regression rules (``max_drop``,
``max_drop_pct``) compare with the baseline on the same golden and metric
fingerprints through a paired bootstrap: in ``significant`` mode a drop fails
only when it exceeds the allowance with the rule's confidence; in ``strict``
mode it passes only when it is shown to be within the allowance.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace

from qa_gate.config.model import GateConfig, MetricConfig, Rule, SuiteConfig
from qa_gate.metrics.registry import get_metric
from qa_gate.results import MetricResult, RunResult, SuiteResult
from qa_gate.verdict.checks import Check, Status, Verdict
from qa_gate.verdict.diffs import (
    SampleDelta,
    SliceDelta,
    changed_samples,
    flipped_samples,
    oriented,
    paired_rows,
    shown_slices,
    slice_points,
    slice_rows,
)
from qa_gate.verdict.draws import Plan, SuiteDraws
from qa_gate.verdict.stats import DropEstimate, estimate_drop, judge_drop

_EPS = 1e-6
"""Tolerance on a regression rule's allowance: continuous per-sample values are stored in float32
(baseline.samples.npz, about 1e-7 relative), so an identical re-run must not read as a drop beyond
``max_drop: 0``."""


def _floor(rule: Rule, value: float) -> tuple[Status, str]:
    ok = value >= rule.value if rule.kind == "min" else value <= rule.value
    op = ">=" if rule.kind == "min" else "<="
    verb = "holds" if ok else "broken"
    return (Status.PASS if ok else Status.FAIL), f"{rule.kind} {verb}: {value:.4f} (need {op} {rule.value:g})"


def _regression(rule: Rule, metric: MetricResult, base_metric: MetricResult, rows: Sequence[int],
                base_rows: Sequence[int], config: GateConfig, draws: SuiteDraws | None = None,
                slice_name: str | None = None) -> tuple[Status, str, DropEstimate]:
    relative = rule.kind == "max_drop_pct"
    impl = get_metric(metric.name)
    estimate = draws.estimate(metric, slice_name, rule) if draws is not None else None
    if estimate is None:  # not planned: its own draws
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


def _unjudged(rule: Rule, why: str | None, config: GateConfig) -> tuple[Status, str]:
    """A regression rule with no comparable baseline: incomparable, or no baseline (failing under
    ``gate.missing_baseline: fail``)."""
    if why is not None and why.startswith("incomparable"):
        return Status.INCOMPARABLE, f"{rule.kind}: {why}"
    if config.missing_baseline == "fail":
        return Status.MISSING_BASELINE, (
            f"{rule.kind}: no baseline to compare with, and gate.missing_baseline is fail "
            f"({config.missing_baseline_why}): a regression rule with nothing to compare with is not a pass; "
            "record a baseline on the target branch, or set gate.missing_baseline: warn")
    return Status.NO_BASELINE, f"{rule.kind}: {why or 'no baseline'} (gate.missing_baseline: warn)"


def _skipped_checks(suite: SuiteResult, metric_cfg: MetricConfig, reason: str,
                    slice_name: str | None = None) -> list[Check]:
    """A ``skipped`` check per rule of a metric the run could not compute (no value, no baseline)."""
    higher = get_metric(metric_cfg.name).higher_is_better
    return [Check(suite.name, suite.label, metric_cfg.name, rule, math.nan, None, Status.SKIPPED, reason,
                  higher, slice_name) for rule in metric_cfg.rules]


def _checks(suite: SuiteResult, metric: MetricResult, metric_cfg: MetricConfig, rows: list[int],
            base_suite: SuiteResult | None, base_metric: MetricResult | None, why: str | None,
            config: GateConfig, slice_name: str | None = None, draws: SuiteDraws | None = None) -> list[Check]:
    impl = get_metric(metric.name, f"suite '{suite.name}'" + (f", slice {slice_name}" if slice_name else ""))
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
            status, message = _unjudged(rule, why, config)
        else:
            status, message, estimate = _regression(rule, metric, base_metric, rows, base_rows, config, draws,
                                                    slice_name)
        out.append(Check(suite.name, suite.label, metric.name, rule, value, base_value, status, message,
                         metric.higher_is_better, slice_name, estimate))
    return out


def _suite_draws(suite: SuiteResult, suite_cfg: SuiteConfig, baseline: RunResult | None,
                 groups: dict[str, list[int]], config: GateConfig) -> tuple[SuiteDraws, list[SliceDelta]]:
    """One set of draws for every regression rule of the suite and its slices and for the shown slices'
    intervals; and every slice's point values (``draws``)."""
    plan, points = Plan(suite, groups), []
    ruled = [(None, m) for m in suite_cfg.metrics] + [(s.slice, m) for s in suite_cfg.slices for m in s.metrics]
    for slice_name, metric_cfg in ruled:
        if metric_cfg.name in suite.skipped or all(r.is_floor for r in metric_cfg.rules):
            continue
        metric = suite.metrics[metric_cfg.name]
        base_suite, base_metric, _ = _comparable(suite, metric, baseline)
        if base_suite is not None and base_metric is not None:
            plan.add(metric, base_suite, base_metric, slice_name)
    for metric_cfg in suite_cfg.metrics:
        if metric_cfg.name not in suite.skipped:
            metric = suite.metrics[metric_cfg.name]
            base_suite, base_metric, _ = _comparable(suite, metric, baseline)
            points.extend(slice_points(suite, metric, base_suite, base_metric, groups))
    for shown in shown_slices(points):
        metric = suite.metrics[shown.metric]
        base_suite, base_metric, _ = _comparable(suite, metric, baseline)
        if base_suite is not None and base_metric is not None:
            plan.add(metric, base_suite, base_metric, shown.slice)
    return plan.draw(config.resamples, config.seed), points


def evaluate(run: RunResult, baseline: RunResult | None, config: GateConfig,
             baseline_source: str | None = None) -> Verdict:
    """Judge ``run`` against the rules of ``config`` and the comparable parts of ``baseline``."""
    checks: list[Check] = []
    slice_deltas: list[SliceDelta] = []
    samples: list[SampleDelta] = []
    flips: list[SampleDelta] = []
    notes: list[str] = []
    if baseline is None:
        judged = ("they fail (gate.missing_baseline: fail)" if config.missing_baseline == "fail"
                  else "they are shown, not failed (gate.missing_baseline: warn)")
        notes.append(f"No baseline yet: regression rules have nothing to compare with and {judged}. "
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
        draws, points = _suite_draws(suite, suite_cfg, baseline, groups, config)
        slice_deltas.extend(draws.interval(p, confidence) for p in points)
        for metric_cfg in suite_cfg.metrics:
            if metric_cfg.name in suite.skipped:
                checks.extend(_skipped_checks(suite, metric_cfg, suite.skipped[metric_cfg.name]))
                continue
            metric = suite.metrics[metric_cfg.name]
            base_suite, base_metric, why = _comparable(suite, metric, baseline)
            checks.extend(_checks(suite, metric, metric_cfg, list(range(len(suite.samples))), base_suite,
                                  base_metric, why, config, draws=draws))
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
                                      slice_cfg.slice, draws))
    passed = not any(c.status.failed for c in checks)
    return Verdict(passed, tuple(checks), tuple(slice_deltas), tuple(samples), tuple(notes), run,
                   baseline, baseline_source, flips=tuple(flips))


def accept_as_baseline(verdict: Verdict) -> Verdict:
    """The verdict of a deliberate baseline update: regression checks become ``updated``.

    Floors and skipped checks keep their outcome; the old baseline stays in the verdict so
    the report still shows what changed.
    """
    checks = tuple(
        replace(c, status=Status.NO_BASELINE) if c.status is Status.MISSING_BASELINE
        else c if c.rule.is_floor or c.status in (Status.NO_BASELINE, Status.SKIPPED)
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
