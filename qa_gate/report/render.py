"""Render a verdict to GitHub-flavoured Markdown and deliver it (file, job summary).

Layout lives in ``templates/report.md.j2``; this module decides order (failures first,
worst slices first) and formats numbers. User text is passed to the template raw and
escaped there by the ``md`` filter, so escaping happens in exactly one place.
"""

from __future__ import annotations

import json
import math
import os
import stat
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2

from qa_gate.config import Rule
from qa_gate.diffs import SampleDelta, SliceDelta
from qa_gate.gate import Check, Status, Verdict
from qa_gate.report.escape import md_code, md_escape
from qa_gate.results import SuiteResult

TEMPLATE = "report.md.j2"
TEMPLATES_DIR = Path(__file__).parent / "templates"
SLICE_WARN_DROP = 0.02
"""A slice whose value moved this much the wrong way is flagged with ⚠️."""
MAX_SLICE_ROWS = 20
STEP_SUMMARY_LIMIT = 1024 * 1024
"""GitHub refuses a job summary larger than 1 MiB per step."""
MISSING = "—"
SHORT_SHA = 12
MINUS = "−"

_STATUS_RANK = {Status.FAIL: 0, Status.INCOMPARABLE: 1, Status.NO_BASELINE: 2, Status.PASS: 4}
_STATUS_EMOJI = {
    Status.PASS: "✅",
    Status.FAIL: "❌",
    Status.INCOMPARABLE: "⚠️",
    Status.NO_BASELINE: "➖",
    Status.UPDATED: "🔄",
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
    status: str
    emoji: str
    message: str


@dataclass(frozen=True)
class SliceRow:
    """One row of a suite's slice table."""

    slice: str
    metric: str
    n: int
    baseline: str
    candidate: str
    delta: str
    degraded: bool


@dataclass(frozen=True)
class SampleRow:
    """One row of a suite's most-regressed-samples table."""

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
class SuiteView:
    """Everything the template shows for one suite."""

    label: str
    n: int
    fingerprint: str
    baseline_fingerprint: str | None
    failed: int
    checks: tuple[CheckRow, ...]
    slices: tuple[SliceRow, ...]
    slices_hidden: int
    samples: tuple[SampleRow, ...]
    metrics: tuple[MetricInfo, ...]


def format_number(value: float | None) -> str:
    """Four decimals, ``—`` for ``None``."""
    if value is None:
        return MISSING
    if not math.isfinite(value):
        return str(value)
    return f"{value:.4f}"


def format_delta(value: float | None) -> str:
    """Signed to four decimals (``+0.0123``, ``−0.0456``, ``±0.0000``), ``—`` for ``None``."""
    if value is None:
        return MISSING
    if math.isnan(value):
        return "nan"
    if value != 0 and round(abs(value), 4) == 0 and math.isfinite(value):
        value = 0.0
    if value == 0:
        return "±0.0000"
    sign = "+" if value > 0 else MINUS
    return f"{sign}{abs(value):.4f}" if math.isfinite(value) else f"{sign}inf"


def format_rule(rule: Rule) -> str:
    """``min ≥ 0.85``, ``max ≤ 0.3``, ``max_drop 0.02``, ``max_drop_pct 5%``."""
    if rule.kind == "min":
        return f"min ≥ {rule.value:g}"
    if rule.kind == "max":
        return f"max ≤ {rule.value:g}"
    unit = "%" if rule.kind.endswith("_pct") else ""
    return f"{rule.kind} {rule.value:g}{unit}"


def format_definition(definition: Mapping[str, Any]) -> str:
    """``key=value, …`` in key order, values as JSON (``prefix="A photo depicts "``)."""
    return ", ".join(f"{key}={json.dumps(definition[key], sort_keys=True, ensure_ascii=False, default=str)}"
                     for key in sorted(definition, key=str))


def _oriented(delta: float, higher_is_better: bool) -> float:
    """A delta where positive always means better."""
    return delta if higher_is_better else -delta


def _check_row(check: Check) -> CheckRow:
    emoji = _STATUS_EMOJI.get(check.status, "❔")
    return CheckRow(
        id=check.id, metric=check.metric, rule=format_rule(check.rule),
        baseline=format_number(check.baseline), candidate=format_number(check.value),
        delta=format_delta(check.delta), status=f"{emoji} {check.status.value}",
        emoji=emoji, message=check.message,
    )


def _failures_first(checks: Sequence[Check]) -> list[Check]:
    return sorted(checks, key=lambda c: _status_rank(c.status))


def _slice_key(order: Mapping[str, int]) -> Callable[[SliceDelta], tuple[int, float, int, float]]:
    def key(s: SliceDelta) -> tuple[int, float, int, float]:
        if s.delta is not None:
            return (0, _oriented(s.delta, s.higher_is_better), 0, 0.0)
        return (1, 0.0, order.get(s.metric, 0), _oriented(s.value, s.higher_is_better))
    return key


def _slice_rows(slices: Sequence[SliceDelta], metric_order: Mapping[str, int]) -> list[SliceRow]:
    """Slices with a baseline by how much they got worse, then the rest by value, worst first."""
    rows = []
    for s in sorted(slices, key=_slice_key(metric_order)):
        degraded = s.delta is not None and _oriented(s.delta, s.higher_is_better) < -SLICE_WARN_DROP
        rows.append(SliceRow(s.slice, s.metric, s.n, format_number(s.baseline),
                             format_number(s.value), format_delta(s.delta), degraded))
    return rows


def _sample_row(d: SampleDelta) -> SampleRow:
    change = f"{format_number(d.baseline)} → {format_number(d.value)}"
    return SampleRow(d.sample_id, d.text, d.metric, change, format_delta(d.delta))


def _suite_view(verdict: Verdict, suite: SuiteResult) -> SuiteView:
    checks = _failures_first([c for c in verdict.checks if c.suite == suite.name])
    failing_metrics = {c.metric for c in checks if c.status.failed}
    metric_order = {name: i for i, name in enumerate(suite.metrics)}
    slices = _slice_rows([s for s in verdict.slices if s.suite == suite.name], metric_order)
    samples = [d for d in verdict.samples if d.suite == suite.name]
    samples.sort(key=lambda d: d.metric not in failing_metrics)
    base_suite = verdict.baseline.suite(suite.name) if verdict.baseline is not None else None
    metrics = []
    for name, result in suite.metrics.items():
        base = base_suite.metrics.get(name) if base_suite is not None else None
        base_fp = base.fingerprint if base is not None and base.fingerprint != result.fingerprint else None
        metrics.append(MetricInfo(name, result.fingerprint, format_definition(result.definition), base_fp))
    base_suite_fp = (base_suite.fingerprint if base_suite is not None
                     and base_suite.fingerprint != suite.fingerprint else None)
    return SuiteView(
        label=suite.label, n=len(suite.samples), fingerprint=suite.fingerprint,
        baseline_fingerprint=base_suite_fp, failed=sum(c.status.failed for c in checks),
        checks=tuple(_check_row(c) for c in checks), slices=tuple(slices[:MAX_SLICE_ROWS]),
        slices_hidden=max(len(slices) - MAX_SLICE_ROWS, 0),
        samples=tuple(_sample_row(d) for d in samples), metrics=tuple(metrics),
    )


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
        autoescape=False,  # Markdown, not HTML: every user string goes through `md` instead
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["md"] = md_escape
    env.filters["code"] = md_code
    return env


def render_markdown(verdict: Verdict) -> str:
    """The verdict as a GitHub-flavoured Markdown report, failures first everywhere."""
    suites = [_suite_view(verdict, s) for s in verdict.run.suites]
    suites.sort(key=lambda v: v.failed == 0)
    failures = [_check_row(c) for c in _failures_first(verdict.failures)]
    baseline = verdict.baseline
    text = _environment().get_template(TEMPLATE).render(
        passed=verdict.passed,
        failed=len(verdict.failures),
        total=len(verdict.checks),
        checkpoint=verdict.run.checkpoint,
        short_sha=verdict.run.checkpoint.sha256[:SHORT_SHA],
        created=verdict.run.created,
        baseline=baseline,
        baseline_source=verdict.baseline_source,
        notes=verdict.notes,
        failures=failures,
        suites=suites,
        environment=sorted(verdict.run.environment.items(), key=lambda kv: str(kv[0])),
    )
    return text.rstrip("\n") + "\n"


def write_report(verdict: Verdict, path: Path) -> Path:
    """Render ``verdict`` and write it to ``path`` atomically, creating parent folders.

    The text goes to a temporary file in the same folder that then replaces ``path``,
    so readers see the old report or the new one, never half of one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = render_markdown(verdict).encode("utf-8")
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        mode = 0o644
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def append_step_summary(markdown: str, environ: Mapping[str, str] = os.environ) -> Path | None:
    """Append ``markdown`` to the file named by ``$GITHUB_STEP_SUMMARY``; ``None`` when unset.

    GitHub rejects a step summary over 1 MiB, so a longer report is cut at a line
    boundary with a note pointing to the full report.
    """
    target = environ.get("GITHUB_STEP_SUMMARY")
    if not target:
        return None
    path = Path(target)
    used = path.stat().st_size if path.exists() else 0
    data = markdown.rstrip("\n").encode("utf-8") + b"\n\n"
    room = STEP_SUMMARY_LIMIT - used
    if len(data) > room:
        note = "\n\n_Report truncated: GitHub limits a job summary to 1 MiB. See the full report file._\n\n"
        cut = max(room - len(note.encode("utf-8")), 0)
        head = data[:cut]
        head = head[: head.rfind(b"\n") + 1] if b"\n" in head else b""
        data = head + note.encode("utf-8")
    with path.open("ab") as handle:
        handle.write(data)
    return path
