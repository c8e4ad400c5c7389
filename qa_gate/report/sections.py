"""Task-family sections of a suite: per-label F1 for multilabel metrics, VQA accuracy by type.

Each section compares the candidate with the baseline only where the gate would: same
golden fingerprint, same metric fingerprint, and every sample found in the baseline by id.
Otherwise the baseline and Δ columns read ``—`` and a note says why. Rows come worst
first: by Δ where there is one (ties by the candidate's value), then the rest by the
candidate's value. User text (label names, tag values, settings) stays raw; the
templates escape it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from qa_gate.metrics.classification import per_label_f1
from qa_gate.metrics.pope import scores as pope_scores
from qa_gate.metrics.vqa import accuracy_by_type
from qa_gate.report.formatting import format_definition, format_delta, format_number
from qa_gate.results import MetricResult, SuiteResult
from qa_gate.verdict.diffs import oriented, paired_rows

VQA_TYPE_TAGS = (("question_type", "question type"), ("answer_type", "answer type"))
MAX_LABEL_ROWS = 30
MAX_TYPE_ROWS = 30
F1_SETTINGS = ("threshold", "zero_division")
"""The definition keys a per-label F1 table always names: they decide its counts and its 0/0 value."""
_PER_METRIC_KEYS = frozenset({"metric", "average"})
"""Definition keys that differ between multilabel metrics sharing the same counts."""


@dataclass(frozen=True)
class LabelRow:
    """One label: its support (TP + FN) and F1 in the candidate and, when comparable, the baseline."""

    label: str
    support: int
    candidate: str
    baseline: str
    delta: str


@dataclass(frozen=True)
class LabelF1Table:
    """Per-label F1 from the counts the multilabel ``metrics`` share (one threshold, one zero_division).

    ``distinct`` names what sets this table apart when a suite has several, else ``None``.
    """

    metrics: tuple[str, ...]
    settings: str
    distinct: str | None
    labels: int
    baseline_note: str | None
    rows: tuple[LabelRow, ...]
    hidden: int


@dataclass(frozen=True)
class TypeRow:
    """One question or answer type: n and mean per-sample accuracy, candidate and baseline."""

    type: str
    n: int
    candidate: str
    baseline: str
    delta: str


@dataclass(frozen=True)
class TypeTable:
    """``metric`` grouped by the samples' ``tag`` (``question_type``); ``title`` reads ``question type``."""

    tag: str
    title: str
    metric: str
    untagged: int
    baseline_note: str | None
    rows: tuple[TypeRow, ...]
    hidden: int


def comparable_metric(suite: SuiteResult, metric: MetricResult, base_suite: SuiteResult | None
                      ) -> tuple[MetricResult | None, str | None]:
    """The baseline's ``metric`` when comparable with the candidate's, else ``None`` and the reason."""
    if base_suite is None:
        return None, "no baseline"
    if base_suite.fingerprint != suite.fingerprint:
        return None, "the golden suite changed"
    base = base_suite.metrics.get(metric.name)
    if base is None:
        return None, f"the baseline has no {metric.name}"
    if base.fingerprint != metric.fingerprint:
        return None, f"the {metric.name} definition changed"
    return base, None


def _worst_first(value: float, delta: float | None, higher_is_better: bool) -> tuple[int, float, float]:
    """Rows with a Δ by Δ, then the rest; ties (and rows without a Δ) by the candidate's value."""
    if delta is not None:
        return (0, oriented(delta, higher_is_better), oriented(value, higher_is_better))
    return (1, oriented(value, higher_is_better), 0.0)


def _label_names(metric: MetricResult, count: int) -> list[str]:
    """The definition's label names when they fit the statistics, else ``label 1`` … ``label L``."""
    names = metric.definition.get("labels")
    if isinstance(names, (list, tuple)) and len(names) == count and len(set(map(str, names))) == count:
        return [str(name) for name in names]
    return [f"label {i + 1}" for i in range(count)]


def _label_count(stats: np.ndarray) -> int | None:
    """L of ``[n, 3 L + 1]`` multilabel statistics; ``None`` when they are not shaped so."""
    if stats.ndim != 2 or stats.shape[1] < 4 or (stats.shape[1] - 1) % 3:
        return None
    return (stats.shape[1] - 1) // 3


def _group_key(definition: Mapping[str, Any]) -> str:
    shared = {str(k): v for k, v in definition.items() if k not in _PER_METRIC_KEYS}
    return json.dumps(shared, sort_keys=True, ensure_ascii=False, default=str)


def _label_f1(metric: MetricResult, rows: Sequence[int] | None = None) -> dict[str, float] | None:
    stats = np.asarray(metric.stats, dtype=np.float64)
    count = _label_count(stats)
    if count is None:
        return None
    if rows is not None:
        stats = stats[list(rows)]
    return per_label_f1(stats, _label_names(metric, count))


def _label_table(suite: SuiteResult, group: Sequence[MetricResult], base_suite: SuiteResult | None,
                 settings: str, distinct: str | None) -> LabelF1Table | None:
    metric = group[0]
    candidate = _label_f1(metric)
    if candidate is None:
        return None
    count = len(candidate)
    stats = np.asarray(metric.stats, dtype=np.float64)
    support = stats[:, :count].sum(axis=0) + stats[:, 2 * count:3 * count].sum(axis=0)
    baseline: dict[str, float] | None = None
    note: str | None = None
    # Every metric of the group shares these counts, so any of them with a comparable baseline will do.
    for member in group:
        base_metric, why = comparable_metric(suite, member, base_suite)
        base_rows = (paired_rows(suite, base_suite, range(len(suite.samples)))
                     if base_metric is not None and base_suite is not None else None)
        if base_metric is not None and base_rows is None:
            why = "samples are missing from the baseline"
        if base_metric is not None and base_rows is not None:
            baseline, note = _label_f1(base_metric, base_rows), None
            break
        note = note or why
    keyed = []
    for index, (label, value) in enumerate(candidate.items()):
        base = baseline.get(label) if baseline is not None else None
        delta = None if base is None else value - base
        keyed.append((_worst_first(value, delta, True), index,
                      LabelRow(label, int(support[index]), format_number(value), format_number(base),
                               format_delta(delta))))
    keyed.sort(key=lambda item: (item[0], item[1]))
    rows = [row for _, _, row in keyed]
    return LabelF1Table(tuple(m.name for m in group), settings, distinct, count, note,
                        tuple(rows[:MAX_LABEL_ROWS]), max(len(rows) - MAX_LABEL_ROWS, 0))


def label_f1_tables(suite: SuiteResult, base_suite: SuiteResult | None,
                    names: Sequence[str]) -> tuple[LabelF1Table, ...]:
    """One per-label F1 table per distinct set of counts among the suite's multilabel metrics ``names``.

    Multilabel metrics whose definitions differ only in their average share their counts
    and get one table; a different threshold (or zero_division, prompt, …) gets its own.
    """
    groups: dict[str, list[MetricResult]] = {}
    for name, metric in suite.metrics.items():
        if name in names:
            groups.setdefault(_group_key(metric.definition), []).append(metric)
    if not groups:
        return ()
    definitions = [group[0].definition for group in groups.values()]
    differing = sorted({str(k) for d in definitions for k in d if k not in _PER_METRIC_KEYS
                        and len({json.dumps(e.get(k), sort_keys=True, default=str) for e in definitions}) > 1})
    tables = []
    for group in groups.values():
        definition = group[0].definition
        shown = {k: definition[k] for k in (*F1_SETTINGS, *differing) if k in definition}
        distinct = None
        if len(groups) > 1:
            distinct = format_definition({k: definition[k] for k in differing if k in definition}) or None
        table = _label_table(suite, group, base_suite, format_definition(shown), distinct)
        if table is not None:
            tables.append(table)
    return tuple(tables)


def _type_table(suite: SuiteResult, metric: MetricResult, base_metric: MetricResult | None,
                base_suite: SuiteResult | None, note: str | None, tag: str, title: str) -> TypeTable | None:
    tagged = [i for i, s in enumerate(suite.samples) if str(s.tags.get(tag, "")).strip()]
    if not tagged:
        return None
    types = [str(suite.samples[i].tags[tag]) for i in tagged]
    stats = np.asarray(metric.stats, dtype=np.float64)
    candidate = accuracy_by_type(stats[tagged], types)
    baseline: dict[str, float] | None = None
    if base_metric is not None and base_suite is not None:
        base_rows = paired_rows(suite, base_suite, tagged)
        if base_rows is None:
            note = "samples are missing from the baseline"
        else:
            baseline = accuracy_by_type(np.asarray(base_metric.stats, dtype=np.float64)[base_rows], types)
    counts = {t: types.count(t) for t in candidate}
    keyed = []
    for index, (kind, value) in enumerate(candidate.items()):
        base = baseline.get(kind) if baseline is not None else None
        delta = None if base is None else value - base
        keyed.append((_worst_first(value, delta, metric.higher_is_better), index,
                      TypeRow(kind, counts[kind], format_number(value), format_number(base), format_delta(delta))))
    keyed.sort(key=lambda item: (item[0], item[1]))
    rows = [row for _, _, row in keyed]
    return TypeTable(tag, title, metric.name, len(suite.samples) - len(tagged), note,
                     tuple(rows[:MAX_TYPE_ROWS]), max(len(rows) - MAX_TYPE_ROWS, 0))


def vqa_type_tables(suite: SuiteResult, base_suite: SuiteResult | None,
                    names: Sequence[str]) -> tuple[TypeTable, ...]:
    """The first VQA metric of ``names`` by question type and by answer type, for the types the samples' tags give."""
    metric = next((suite.metrics[name] for name in names if name in suite.metrics), None)
    if metric is None or np.ndim(metric.stats) != 2 or np.shape(metric.stats)[1] < 1:
        return ()
    base_metric, note = comparable_metric(suite, metric, base_suite)
    tables = (_type_table(suite, metric, base_metric, base_suite, note, tag, title) for tag, title in VQA_TYPE_TAGS)
    return tuple(t for t in tables if t is not None)


POPE_SPLIT_TAG = "pope_split"


@dataclass(frozen=True)
class PopeRow:
    """POPE's confusion counts and scores over all samples (``split`` ``all``) or one ``pope_split``."""

    split: str
    n: int
    counts: tuple[int, int, int, int]
    """TP, FP, TN, FN ("yes" positive)."""
    accuracy: str
    precision: str
    recall: str
    f1: str
    yes_ratio: str
    baseline_f1: str
    delta_f1: str


@dataclass(frozen=True)
class PopeTable:
    """The counts the POPE metric ``metric`` (and every POPE metric of the same definition) reads, by split."""

    metric: str
    baseline_note: str | None
    rows: tuple[PopeRow, ...]


def _pope_row(split: str, stats: np.ndarray, base: np.ndarray | None) -> PopeRow:
    values = {k: float(v) for k, v in pope_scores(stats).items()}
    base_f1 = float(pope_scores(base)["f1"]) if base is not None else None
    counts = tuple(int(c) for c in stats.sum(axis=0))
    shown = {k: format_number(v) for k, v in values.items()}
    return PopeRow(split, len(stats), (counts[0], counts[1], counts[2], counts[3]), shown["accuracy"],
                   shown["precision"], shown["recall"], shown["f1"], shown["yes_ratio"], format_number(base_f1),
                   format_delta(None if base_f1 is None else values["f1"] - base_f1))


def pope_split_tables(suite: SuiteResult, base_suite: SuiteResult | None,
                      names: Sequence[str]) -> tuple[PopeTable, ...]:
    """The first POPE metric of ``names``: counts and scores over all samples, then per ``pope_split``."""
    metric = next((suite.metrics[name] for name in names if name in suite.metrics), None)
    if metric is None or np.ndim(metric.stats) != 2 or np.shape(metric.stats)[1] != 4:
        return ()
    stats = np.asarray(metric.stats, dtype=np.float64)
    base_metric, note = comparable_metric(suite, metric, base_suite)
    groups: dict[str, list[int]] = {"all": list(range(len(suite.samples)))}
    for i, sample in enumerate(suite.samples):
        split = str(sample.tags.get(POPE_SPLIT_TAG, "")).strip()
        if split:
            groups.setdefault(split, []).append(i)
    rows = []
    for split in ("all", *sorted(k for k in groups if k != "all")):
        base = None
        if base_metric is not None and base_suite is not None:
            base_rows = paired_rows(suite, base_suite, groups[split])
            if base_rows is None:
                note = "samples are missing from the baseline"
            else:
                base = np.asarray(base_metric.stats, dtype=np.float64)[base_rows]
        rows.append(_pope_row(split, stats[groups[split]], base))
    return (PopeTable(metric.name, note, tuple(rows)),)
