"""The PR comment: a short Markdown summary of the verdict, the full report staying in the artifact.

Top to bottom: the verdict, the bar changes (never cut or folded), the baseline and golden
changes, the cautions, one table of the failing checks (value, baseline, Δ with its bounds,
rule), the warnings, the worst slices and the most regressed samples across suites; then,
folded in ``<details>``, the passing checks, the slices that moved, the flips, the per-label
and per-type tables, fingerprints and environment. When the whole would exceed
:data:`COMMENT_LIMIT`, folded sections are left out from the last one up, so a cut always
falls between sections, never inside a table or a fence.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from qa_gate.files import write_atomic
from qa_gate.report.markdown import markdown_environment, tidy
from qa_gate.report.notices import run_warnings
from qa_gate.report.rows import CheckRow, SliceRow
from qa_gate.report.samples import NO_ANSWERS, SampleRow
from qa_gate.report.sections import LabelF1Table, TypeTable
from qa_gate.report.view import ReportView, SampleColumns, report_view
from qa_gate.verdict.checks import Verdict

TEMPLATE = "comment.md.j2"
COMMENT_LIMIT = 60_000
"""Characters: GitHub refuses a comment over 65,536; the rest is room for a workflow's marker line."""
TOP_SLICES = 5
TOP_SAMPLES = 10
MAX_FAILING_ROWS = 50
SLICES_PER_SUITE = 3
PASSED = "✅ pass"


@dataclass(frozen=True)
class PassingRow:
    """The passing checks of one metric (or slice metric) in one row: ``shapes::clipscore``, its rules."""

    id: str
    candidate: str
    baseline: str
    delta: str
    rule: str


def passing_rows(rows: Sequence[CheckRow]) -> list[PassingRow]:
    """Passing checks grouped by suite, slice and metric, their rules joined."""
    grouped: dict[str, list[CheckRow]] = {}
    for row in rows:
        grouped.setdefault(row.id.rsplit("::", 1)[0], []).append(row)
    return [PassingRow(key, group[0].candidate, group[0].baseline, group[0].delta,
                       ", ".join(r.rule if r.status == PASSED else f"{r.rule} {r.status}" for r in group))
            for key, group in grouped.items()]


def worst_slices(view: ReportView, limit: int = TOP_SLICES) -> list[SliceRow]:
    """The slices that got worst relative to their baseline, across suites (failing suites first on ties)."""
    found = [(max(s.worse, -1.0), i, rank, s) for i, suite in enumerate(view.suites)
             for rank, s in enumerate(suite.slices) if s.moved and s.worse < 0]
    found.sort(key=lambda item: item[:3])
    return [replace(s, suite=view.suites[i].name) for _, i, _, s in found[:limit]]


def worst_samples(view: ReportView, limit: int = TOP_SAMPLES) -> tuple[list[SampleRow], SampleColumns]:
    """Each failing suite's most regressed sample first, then each one's second, …; and the columns they need."""
    found = [(suite.failed == 0, rank, i, row) for i, suite in enumerate(view.suites)
             for rank, row in enumerate(suite.samples)]
    found.sort(key=lambda item: item[:3])
    chosen = [row for *_, row in found[:limit]]
    rows = [_one_output(row) for row in chosen]
    vqa = bool(rows) and all(view.suites[i].columns.text == "Question" for _, _, i, _ in found[:limit])
    output = any(r.output is not None for r in rows)
    human = " (most common human answer)" if any(r.human is not None for r in chosen) else ""
    shown = ("Answer" if vqa else "Model output") + human
    return rows, SampleColumns("Question" if vqa else "Text", shown if output else None, None)


def _one_output(row: SampleRow) -> SampleRow:
    """The model's output and the most common human answer in one cell, for a table across suites."""
    if row.human is None:
        return row
    return replace(row, output=f"{row.output or '—'} ({row.human})", human=None)


def _moved(table: LabelF1Table | TypeTable) -> bool:
    """A family table is worth a comment when some row moved, or when there is nothing to compare with."""
    return any(row.delta != "±0.0000" for row in table.rows)


def comment_sections(verdict: Verdict, answers: Mapping[tuple[str, str], str] = NO_ANSWERS
                     ) -> tuple[str, list[tuple[str, str]]]:
    """The comment's required head (verdict, bar changes, failing checks, warnings) and its optional
    sections in order, each ``(name, markdown)``."""
    view = report_view(verdict, answers)
    macros: Any = markdown_environment().get_template(TEMPLATE).module
    head = str(macros.head(view, view.failures[:MAX_FAILING_ROWS], max(len(view.failures) - MAX_FAILING_ROWS, 0),
                           run_warnings(verdict)))
    samples, columns = worst_samples(view)
    sections = [("the worst slices and samples", str(macros.moved(worst_slices(view), samples, columns)))]
    if view.passes:
        sections.append(("the passing checks", str(macros.passing(passing_rows(view.passes), len(view.passes)))))
    if any(s.slices for s in view.suites):
        sections.append(("the slices by suite", str(macros.slices(view.suites, SLICES_PER_SUITE))))
    if any(s.flips for s in view.suites):
        sections.append(("the flipped samples", str(macros.flips(view.suites))))
    tables = [replace(s, label_f1=tuple(filter(_moved, s.label_f1)), vqa_types=tuple(filter(_moved, s.vqa_types)))
              for s in view.suites]
    if any(s.label_f1 or s.vqa_types for s in tables):
        sections.append(("the per-label and per-type tables", str(macros.families(tables))))
    sections.append(("the fingerprints and environment", str(macros.fingerprints(view))))
    return head, sections


def render_comment(verdict: Verdict, answers: Mapping[tuple[str, str], str] = NO_ANSWERS,
                   limit: int = COMMENT_LIMIT) -> str:
    """The verdict as a short PR comment of at most ``limit`` characters (the head alone may exceed it)."""
    macros: Any = markdown_environment().get_template(TEMPLATE).module
    head, sections = comment_sections(verdict, answers)
    kept = list(sections)
    while True:
        left_out = [name for name, _ in sections[len(kept):]]
        text = tidy("\n\n".join([head, *(body for _, body in kept), str(macros.footer(left_out))]))
        if len(text) <= limit or not kept:
            return text
        kept.pop()


def comment_path(report: Path) -> Path:
    """Where the PR comment goes beside the Markdown report: ``mm-gate-report.md`` → ``mm-gate-report.comment.md``."""
    report = Path(report)
    return report.with_name(f"{report.stem}.comment{report.suffix or '.md'}")


def write_comment(verdict: Verdict, path: Path, answers: Mapping[tuple[str, str], str] = NO_ANSWERS) -> Path:
    """Render the PR comment and write it to ``path`` atomically."""
    return write_atomic(path, render_comment(verdict, answers).encode("utf-8"))
