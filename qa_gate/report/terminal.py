"""The verdict and the run's progress as plain text for terminals (both faces print these lines)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

from qa_gate.config.model import ModelConfig
from qa_gate.report.notices import run_warnings
from qa_gate.verdict.checks import Verdict

PASSED = "mm-gate verdict: PASSED"
BAR_TITLE = "Bar changes (this PR changes what it is judged against)"


def scoring_line(model: ModelConfig, suites: int) -> str:
    """What a face prints before the model loads."""
    return f"mm-gate: scoring {model.checkpoint} ({model.adapter}) on {suites} golden suite(s)"


def verdict_lines(verdict: Verdict) -> Sequence[str]:
    """A plain-text verdict table for terminals: the verdict, bar changes first, the checks, notes and warnings."""
    width = max((len(c.id) for c in verdict.checks), default=10)
    skipped = f", {len(verdict.skipped)} skipped" if verdict.skipped else ""
    lines = [f"{PASSED if verdict.passed else 'mm-gate verdict: FAILED'}"
             f" ({len(verdict.failures)} of {len(verdict.checks)} checks failed{skipped})"]
    if verdict.bar_changes:
        lines.append(f"  {BAR_TITLE}:")
        lines.extend(f"    - {c}" for c in verdict.bar_changes)
    lines.extend(f"  CAUTION: {c}" for c in verdict.cautions)
    lines.extend(f"  CHANGE: {c}" for c in verdict.changes)
    lines.append(f"  {'status':<12} {'check':<{width}} {'value':>8} {'baseline':>9} {'delta':>8}  rule")
    ordered = sorted(verdict.checks, key=lambda c: not c.status.failed)
    for c in ordered:
        value = "—" if math.isnan(c.value) else f"{c.value:.4f}"
        base = "—" if c.baseline is None else f"{c.baseline:.4f}"
        delta = "—" if c.delta is None else f"{c.delta:+.4f}"
        lines.append(f"  {c.status.value:<12} {c.id:<{width}} {value:>8} {base:>9} {delta:>8}  "
                     f"{c.rule.kind} {c.rule.value:g}")
    lines.extend(f"  skipped: {s.id} ({s.checks} check{'' if s.checks == 1 else 's'}): {s.reason}"
                 for s in verdict.skipped_metrics())
    from qa_gate.report.output_diffs import terminal_lines  # numpy: only once a verdict exists

    lines.extend(terminal_lines(verdict))
    lines.extend(f"  note: {n}" for n in verdict.notes)
    lines.extend(f"  warning: {w}" for w in run_warnings(verdict))
    return lines


def with_other_tests(lines: Sequence[str], stats: Mapping[str, Sequence[object]], checks: Iterable[str]) -> list[str]:
    """``lines`` (:func:`verdict_lines`) with a line under the verdict when tests that are not gate ``checks``
    failed or errored (``stats``: pytest's reports by outcome): pytest then exits 1 whatever the gate said."""
    own = set(checks)
    others = sum(1 for key in ("failed", "error") for report in stats.get(key, ())
                 if getattr(report, "nodeid", "") not in own)
    if not lines or others == 0:
        return list(lines)
    tests = f"{others} other test{'' if others == 1 else 's'} (not gate checks)"
    note = (f"  the gate passed, but {tests} failed: pytest exits 1 for them" if lines[0].startswith(PASSED)
            else f"  besides the gate's checks, {tests} failed")
    return [lines[0], note, *lines[1:]]
