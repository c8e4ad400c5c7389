"""Samples whose output changed most between the baseline and the candidate, for every generative family.

The baseline keeps each sample's shown model output (``SampleInfo.output``: a caption, an answer,
a transcription, predicted labels). A report lists the samples whose output changed, even when
every aggregate holds: old output → new output, with the per-sample change of the metrics
comparable with the baseline. Ranked by how far a per-sample value moved (the largest among the
comparable metrics), then by the character edit distance between the two outputs; at most
:data:`MAX_OUTPUT_CHANGES` per suite. User text stays raw; the templates escape it.
"""

from __future__ import annotations

from dataclasses import dataclass

from qa_gate.report.samples import NONE_SHOWN, SuiteSamples
from qa_gate.results import SuiteResult
from qa_gate.verdict.checks import Verdict

MAX_OUTPUT_CHANGES = 10
EDIT_LIMIT = 500
"""Characters of each output the edit distance reads: longer outputs are compared on their first 500."""


@dataclass(frozen=True)
class OutputChange:
    """One sample whose output changed: the baseline's and the candidate's output, and what that moved."""

    suite: str
    sample_id: str
    text: str
    before: str
    after: str
    edits: int
    change: str
    """The per-sample metric changes (``cider 1.2000 → 0.4000 (−0.8000)``), empty when none moved."""


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance between the characters of ``a`` and ``b`` (each cut to :data:`EDIT_LIMIT`)."""
    a, b = a[:EDIT_LIMIT], b[:EDIT_LIMIT]
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        current = [i]
        for j, y in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y)))
        previous = current
    return previous[-1]


def _shown(text: str) -> str:
    return text if text.strip() else NONE_SHOWN


def output_changes(verdict: Verdict, suite: SuiteResult, limit: int = MAX_OUTPUT_CHANGES) -> tuple[OutputChange, ...]:
    """The samples of ``suite`` whose output differs from the baseline's, most moved first (``limit`` of them)."""
    base = verdict.baseline.suite(suite.name) if verdict.baseline is not None else None
    if base is None:
        return ()
    before = {s.id: s.output for s in base.samples}
    per_sample = SuiteSamples(verdict, suite)
    keyed = []
    for index, sample in enumerate(suite.samples):
        old = before.get(sample.id)
        if old is None or sample.output is None or old == sample.output:
            continue
        moved = 0.0
        for metric, prior in per_sample.pairs.values():
            j = per_sample.base_index[sample.id]
            moved = max(moved, abs(metric.per_sample[index] - prior.per_sample[j]))
        row = per_sample.row(index)
        edits = edit_distance(old, sample.output)
        keyed.append((-moved, -edits, index, OutputChange(suite.name, sample.id, sample.text, _shown(old),
                                                          _shown(sample.output), edits,
                                                          "" if row is None else row.change)))
    keyed.sort(key=lambda item: item[:3])
    return tuple(item[3] for item in keyed[:limit])


TERMINAL_ROWS = 3
"""Changed outputs (and disagreements) a terminal shows per suite; the reports show the rest."""


def _quoted(text: str, width: int = 40) -> str:
    one = " ".join(text.split())
    return repr(one if len(one) <= width else one[:width - 1] + "…")


def terminal_lines(verdict: Verdict) -> list[str]:
    """Plain-text lines for terminals: per shadow suite how many samples disagree with production (the worst
    few), and per suite the outputs that changed most since the baseline."""
    from qa_gate.report.disagreements import agreement_tables
    from qa_gate.scoring.families import sections

    lines = []
    for suite in verdict.run.suites:
        wanted = sections([(name, m.definition) for name, m in suite.metrics.items()]).get("agreement", ())
        for table in agreement_tables(suite, wanted):
            if not table.disagree:
                continue
            worst = "; ".join(f"{r.sample_id}: {_quoted(r.candidate or '')} vs {_quoted(r.production or '')}"
                              for r in table.rows[:TERMINAL_ROWS] if r.candidate is not None)
            lines.append(f"  shadow: {suite.name} {table.metric} {table.value}: {table.disagree} of {table.n} samples "
                         f"disagree with production{f' ({worst})' if worst else ''}")
        changed = output_changes(verdict, suite)
        for row in changed[:TERMINAL_ROWS]:
            moved = f" ({row.change})" if row.change else ""
            lines.append(f"  output changed: {suite.name}/{row.sample_id}: {_quoted(row.before)} → "
                         f"{_quoted(row.after)}{moved}")
        if len(changed) > TERMINAL_ROWS:
            lines.append(f"  output changed: {suite.name}: {len(changed) - TERMINAL_ROWS} more in the report")
    return lines
