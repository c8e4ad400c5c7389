"""The verdict and the run's progress as plain text for terminals (both faces print these lines)."""

from __future__ import annotations

import math
from collections.abc import Sequence

from qa_gate.config.model import ModelConfig
from qa_gate.verdict.checks import Verdict


def scoring_line(model: ModelConfig, suites: int) -> str:
    """What a face prints before the model loads."""
    return f"mm-gate: scoring {model.checkpoint} ({model.adapter}) on {suites} golden suite(s)"


def verdict_lines(verdict: Verdict) -> Sequence[str]:
    """A plain-text verdict table for terminals."""
    width = max((len(c.id) for c in verdict.checks), default=10)
    skipped = f", {len(verdict.skipped)} skipped" if verdict.skipped else ""
    lines = [f"mm-gate verdict: {'PASSED' if verdict.passed else 'FAILED'}"
             f" ({len(verdict.failures)} of {len(verdict.checks)} checks failed{skipped})"]
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
    lines.extend(f"  note: {n}" for n in verdict.notes)
    return lines
