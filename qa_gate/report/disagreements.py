"""The shadow section of a suite: per agreement metric, the samples where candidate and production disagree.

For each agreement metric (``qa_gate.metrics.agreement``) the report lists the samples that
disagree, worst first (lowest agreement; highest CER for ``text_agreement``), with the two
outputs side by side, and the metric per slice of the samples' tags (traffic tags such as
``locale``, ``device``, ``category``), worst first. A sample disagrees when its per-sample value
is not that of identical outputs (1, or 0 for CER); for CIDEr-D and BLEU-4, whose value of
identical captions depends on the suite, when the two captions differ. User text stays raw; the
templates escape it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from qa_gate.metrics.registry import get_metric, metric_names
from qa_gate.report.formatting import format_number
from qa_gate.report.samples import NONE_SHOWN
from qa_gate.results import MetricResult, SuiteResult
from qa_gate.verdict.diffs import oriented

MAX_DISAGREEMENTS = 10
MAX_AGREEMENT_SLICES = 20
TOLERANCE = 1e-6
"""Per-sample values this close to perfect agreement count as agreeing (a cosine of 0.9999999)."""


@dataclass(frozen=True)
class DisagreementRow:
    """One sample where the outputs disagree: its prompt text, both outputs, the per-sample value."""

    suite: str
    sample_id: str
    text: str
    candidate: str | None
    production: str | None
    value: str


@dataclass(frozen=True)
class AgreementSlice:
    """The agreement metric on the samples tagged ``tag=value``."""

    tag: str
    value: str
    n: int
    disagree: int
    agreement: str


@dataclass(frozen=True)
class AgreementTable:
    """One agreement metric of a shadow suite: how many samples disagree, the worst ones, per-slice values."""

    metric: str
    value: str
    lower_is_better: bool
    n: int
    disagree: int
    production_sha256: str
    rows: tuple[DisagreementRow, ...]
    hidden: int
    slices: tuple[AgreementSlice, ...]
    slices_hidden: int


def _shown(output: str | None) -> str | None:
    """An empty output (no label predicted, an empty caption) as ``(none)``."""
    return output if output is None or output.strip() else NONE_SHOWN


def _disagreeing(name: str, metric: MetricResult, pairs: Sequence[tuple[str, str]] | None) -> np.ndarray:
    """``[n]`` booleans: where the candidate and the production output disagree."""
    values = np.asarray(metric.per_sample, dtype=np.float64)
    agreed = getattr(get_metric(name), "agreed", 1.0)
    if agreed is None:
        if pairs is None or len(pairs) != len(values):
            return np.zeros(len(values), dtype=bool)
        return np.array([" ".join(c.split()) != " ".join(p.split()) for c, p in pairs], dtype=bool)
    return np.abs(values - float(agreed)) > TOLERANCE


def _slices(name: str, metric: MetricResult, suite: SuiteResult, disagree: np.ndarray) -> list[AgreementSlice]:
    aggregate = get_metric(name).aggregate
    stats = np.asarray(metric.stats, dtype=np.float64)
    groups: dict[tuple[str, str], list[int]] = {}
    for i, sample in enumerate(suite.samples):
        for tag, value in sample.tags.items():
            groups.setdefault((str(tag), str(value)), []).append(i)
    keyed = []
    for (tag, value), rows in groups.items():
        if len(rows) == len(suite.samples):  # a tag every sample shares says nothing about where
            continue
        score = float(aggregate(stats[rows]))
        keyed.append((oriented(score, metric.higher_is_better), tag, value,
                      AgreementSlice(tag, value, len(rows), int(disagree[rows].sum()), format_number(score))))
    keyed.sort(key=lambda item: item[:3])
    return [row for *_, row in keyed]


def agreement_table(suite: SuiteResult, name: str) -> AgreementTable | None:
    """The disagreements and per-slice values of agreement metric ``name`` on ``suite``; ``None`` if not scored."""
    metric = suite.metrics.get(name)
    if metric is None or len(metric.per_sample) != len(suite.samples):
        return None
    pairs = suite.compared.get(name)
    disagree = _disagreeing(name, metric, pairs)
    values = np.asarray(metric.per_sample, dtype=np.float64)
    order = sorted((int(i) for i in np.flatnonzero(disagree)),
                   key=lambda i: (oriented(float(values[i]), metric.higher_is_better), i))
    rows = []
    for i in order[:MAX_DISAGREEMENTS]:
        sample = suite.samples[i]
        candidate, production = pairs[i] if pairs is not None and len(pairs) == len(values) else (None, None)
        rows.append(DisagreementRow(suite.name, sample.id, sample.text, _shown(candidate), _shown(production),
                                    format_number(float(values[i]))))
    slices = _slices(name, metric, suite, disagree)
    return AgreementTable(name, format_number(metric.value), not metric.higher_is_better, len(values),
                          int(disagree.sum()), str(metric.definition.get("production_sha256", "")), tuple(rows),
                          max(len(order) - MAX_DISAGREEMENTS, 0), tuple(slices[:MAX_AGREEMENT_SLICES]),
                          max(len(slices) - MAX_AGREEMENT_SLICES, 0))


def agreement_tables(suite: SuiteResult, names: Sequence[str]) -> tuple[AgreementTable, ...]:
    """One table per agreement metric of ``names`` that the suite scored, in the suite's metric order."""
    known = set(metric_names())
    tables = (agreement_table(suite, name) for name in suite.metrics if name in names and name in known)
    return tuple(t for t in tables if t is not None)
