"""What a report shows, in the order it shows it: one view of a verdict for Markdown, HTML and the PR comment.

This module decides order (failures first, worst slices first) and formats numbers.
User text (captions, ids, labels, messages) stays raw here; each template escapes it
with its own filter, so escaping happens in exactly one place per output format.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from qa_gate.report.disagreements import AgreementTable, agreement_tables
from qa_gate.report.formatting import MISSING, format_definition
from qa_gate.report.hallucinations import HallucinationTable, hallucination_tables
from qa_gate.report.notices import shared_text_note, too_small_notes
from qa_gate.report.output_diffs import OutputChange, output_changes
from qa_gate.report.robustness import RobustnessTable, robustness_table
from qa_gate.report.rows import (  # noqa: F401 - the rows' names are part of this module's interface
    SLICE_WARN_DROP,
    STATUS_EMOJI,
    TOO_SMALL_FACTOR,
    CheckRow,
    SkippedRow,
    SliceRow,
    TooSmall,
    check_row,
    failures_first,
    slice_rows,
    too_small,
)
from qa_gate.report.samples import MAX_FLIP_ROWS, NO_ANSWERS, TOP_SAMPLES, SampleRow, SuiteSamples
from qa_gate.report.sections import (
    LabelF1Table,
    PopeTable,
    TypeTable,
    label_f1_tables,
    pope_split_tables,
    vqa_type_tables,
)
from qa_gate.report.trend import Trend, rule_anchors, trends
from qa_gate.results import CheckpointInfo, RunResult, SuiteResult
from qa_gate.scoring.families import sections
from qa_gate.verdict.checks import Verdict

MAX_SLICE_ROWS = 20
SHORT_SHA = 12
__all__ = ["MAX_FLIP_ROWS", "MAX_SLICE_ROWS", "TOP_SAMPLES", "ReportView", "SampleRow", "SuiteView", "report_view"]


@dataclass(frozen=True)
class MetricInfo:
    """A metric's fingerprint and definition, and the baseline's fingerprint when it differs."""

    name: str
    fingerprint: str
    definition: str
    baseline_fingerprint: str | None


@dataclass(frozen=True)
class SampleColumns:
    """Which optional columns a suite's sample tables have, and what they are called."""

    text: str = "Text"
    output: str | None = None
    """``Model output`` (``Answer`` for VQA) when some row shows the model's output."""
    human: str | None = None
    """``Most common human answer`` when some row has one (VQA)."""


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
    """The slices that moved beyond noise, worst first (without a baseline: every slice, worst value first)."""
    slices_hidden: int
    samples: tuple[SampleRow, ...]
    flips: tuple[SampleRow, ...]
    flips_hidden: int
    trends: tuple[Trend, ...]
    metrics: tuple[MetricInfo, ...]
    label_f1: tuple[LabelF1Table, ...] = ()
    vqa_types: tuple[TypeTable, ...] = ()
    pope_splits: tuple[PopeTable, ...] = ()
    """POPE's confusion counts and scores, over all samples and per ``pope_split``."""
    all_slices: tuple[SliceRow, ...] = ()
    """Every slice, worst first (folded in the reports)."""
    slices_quiet: int = 0
    """How many slices with a baseline stayed within noise."""
    compared: bool = False
    """True when some slice has a baseline value to compare with."""
    columns: SampleColumns = SampleColumns()
    shared_texts: str | None = None
    """Why retrieval counts ties against the model here (several images share a caption), else ``None``."""
    agreement: tuple[AgreementTable, ...] = ()
    hallucinations: tuple[HallucinationTable, ...] = ()
    """CHAIR suites: the captions naming objects the image does not hold (``qa_gate.report.hallucinations``)."""
    """Shadow suites: per agreement metric, the samples where candidate and production disagree."""
    output_changes: tuple[OutputChange, ...] = ()
    """The samples whose output changed most since the baseline (old → new), even when the aggregates hold."""
    robustness: RobustnessTable | None = None
    """Each metric clean and under each perturbation, and consistency (``qa_gate.report.robustness``)."""


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
    bar_changes: tuple[str, ...] = ()
    """How this run's bar differs from the target branch's: shown first, never cut or folded."""
    passes: tuple[CheckRow, ...] = ()
    """Every check that did not fail, in the gate's order."""


def _metrics(suite: SuiteResult, base_suite: SuiteResult | None) -> tuple[MetricInfo, ...]:
    out = []
    for name, result in suite.metrics.items():
        base = base_suite.metrics.get(name) if base_suite is not None else None
        base_fp = base.fingerprint if base is not None and base.fingerprint != result.fingerprint else None
        out.append(MetricInfo(name, result.fingerprint, format_definition(result.definition), base_fp))
    return tuple(out)


def _columns(rows: tuple[SampleRow, ...], vqa: bool) -> SampleColumns:
    output = any(r.output is not None for r in rows)
    human = any(r.human is not None for r in rows)
    if vqa:
        return SampleColumns("Question", "Answer" if output else None, "Most common human answer" if human else None)
    return SampleColumns("Text", "Model output" if output else None, None)


def suite_view(verdict: Verdict, suite: SuiteResult,
               answers: Mapping[tuple[str, str], str] = NO_ANSWERS) -> SuiteView:
    """One suite's checks, notes, slices, family sections, samples, flips, trends and fingerprints."""
    own = [c for c in verdict.checks if c.suite == suite.name]
    checks = failures_first(own)
    metric_order = {name: i for i, name in enumerate(suite.metrics)}
    every = slice_rows([s for s in verdict.slices if s.suite == suite.name], metric_order)
    compared = any(s.baseline != MISSING for s in every)
    shown = [s for s in every if s.moved] if compared else every
    per_sample = SuiteSamples(verdict, suite, answers)
    samples = tuple(per_sample.regressed())
    flips = per_sample.flips()
    gated = [name for name in suite.metrics if any(c.metric == name for c in own)]
    base_suite = verdict.baseline.suite(suite.name) if verdict.baseline is not None else None
    wanted = sections([(name, result.definition) for name, result in suite.metrics.items()])
    base_suite_fp = (base_suite.fingerprint if base_suite is not None
                     and base_suite.fingerprint != suite.fingerprint else None)
    return SuiteView(
        name=suite.name, label=suite.label, n=len(suite.samples), fingerprint=suite.fingerprint,
        baseline_fingerprint=base_suite_fp, failed=sum(c.status.failed for c in checks),
        checks=tuple(check_row(c) for c in checks), too_small=too_small_notes(verdict, suite.name),
        slices=tuple(shown[:MAX_SLICE_ROWS]), slices_hidden=max(len(shown) - MAX_SLICE_ROWS, 0),
        samples=samples, flips=tuple(flips[:MAX_FLIP_ROWS]), flips_hidden=max(len(flips) - MAX_FLIP_ROWS, 0),
        trends=trends(verdict.history, suite, gated, rule_anchors(own)), metrics=_metrics(suite, base_suite),
        label_f1=label_f1_tables(suite, base_suite, wanted.get("label_f1", ())),
        vqa_types=vqa_type_tables(suite, base_suite, wanted.get("vqa_types", ())),
        pope_splits=pope_split_tables(suite, base_suite, wanted.get("pope_splits", ())),
        all_slices=tuple(every), slices_quiet=sum(1 for s in every if s.baseline != MISSING and not s.moved),
        compared=compared, columns=_columns((*samples, *flips), bool(wanted.get("vqa_types"))),
        shared_texts=shared_text_note(suite), agreement=agreement_tables(suite, wanted.get("agreement", ())),
        hallucinations=hallucination_tables(suite, wanted.get("hallucinations", ())),
        output_changes=output_changes(verdict, suite), robustness=robustness_table(suite),
    )


def report_view(verdict: Verdict, answers: Mapping[tuple[str, str], str] = NO_ANSWERS) -> ReportView:
    """The whole report: failing suites first, each in the order above.

    ``answers`` maps (suite name, sample id) to the most common human answer of a VQA sample
    (:func:`qa_gate.report.samples.common_answers`), shown beside the model's answer.
    """
    suites = [suite_view(verdict, s, answers) for s in verdict.run.suites]
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
        bar_changes=tuple(getattr(verdict, "bar_changes", ())),
        passes=tuple(check_row(c) for c in verdict.checks if not c.status.failed),
    )
