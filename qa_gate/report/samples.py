"""Sample rows of a report: one row per sample with every metric that moved on it, and per-sample flips.

The gate's per-metric lists (:attr:`Verdict.samples`) decide which samples are the most
regressed; each chosen sample then shows every comparable metric whose per-sample value
moved beyond the report's precision, once per sample. Metrics with identical per-sample
values (``f1_micro`` and ``f1_macro`` both show each sample's own F1) share one entry.

A *flip* is a sample that was right and is now wrong where "right" means something per
sample: a 0/1 hit (recall@K, zero-shot top-1) or a VQA answer given by at least 3 of the 10
humans (accuracy ≥ 0.9). An aggregate floor (``clipscore: {min: 2}``, ``t2i_median_rank:
{max: 2}``) is never applied to single samples. User text stays raw; templates escape it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING

from qa_gate.report.formatting import format_delta, format_number
from qa_gate.results import MetricResult, SuiteResult
from qa_gate.scoring.families import family_of, sections
from qa_gate.verdict.checks import Verdict
from qa_gate.verdict.diffs import oriented

if TYPE_CHECKING:
    from qa_gate.golden.suite import Suite

TOP_SAMPLES = 10
MAX_FLIP_ROWS = 20
NOISE = 0.00005
"""Per-sample changes smaller than this read ``±0.0000`` at the report's precision: not shown."""
VQA_RIGHT = 0.9
"""A VQA answer is right when at least 3 of the 10 humans gave it (leave-one-out accuracy ≥ 0.9)."""
NONE_SHOWN = "(none)"
"""What a row shows for an empty model output (a multilabel prediction of no label)."""
NO_ANSWERS: Mapping[tuple[str, str], str] = MappingProxyType({})


@dataclass(frozen=True)
class MetricChange:
    """One metric on one sample: ``clipscore 2.1267 → 0.0000 (−2.1267)``; ``metric`` may name several."""

    metric: str
    baseline: str
    candidate: str
    delta: str

    def __str__(self) -> str:
        return f"{self.metric} {self.baseline} → {self.candidate} ({self.delta})"


@dataclass(frozen=True)
class SampleRow:
    """One sample: its golden text, the model's output, the most common human answer (VQA) and what moved."""

    suite: str
    sample_id: str
    text: str
    output: str | None
    human: str | None
    changes: tuple[MetricChange, ...]

    @property
    def change(self) -> str:
        """Every change of the sample in one cell: ``clipscore 2.13 → 0.00 (−2.13); cosine …``."""
        return "; ".join(map(str, self.changes))

    @property
    def metrics(self) -> str:
        """The metrics named by the changes: ``i2t_r1, t2i_r1``."""
        return ", ".join(c.metric for c in self.changes)


def common_answers(suites: Iterable[Suite]) -> dict[tuple[str, str], str]:
    """The most common human answer of every VQA sample, by (suite name, sample id); the first given wins a tie."""
    found = {}
    for suite in suites:
        for sample in suite.samples:
            if sample.answers:
                found[(suite.name, sample.id)] = Counter(sample.answers).most_common(1)[0][0]
    return found


def _comparable(suite: SuiteResult, base: SuiteResult | None) -> dict[str, tuple[MetricResult, MetricResult]]:
    """Metrics of ``suite`` with a per-sample baseline on the same golden and definition (no timings)."""
    if base is None or base.fingerprint != suite.fingerprint:
        return {}
    out = {}
    for name, metric in suite.metrics.items():
        prior = base.metrics.get(name)
        if prior is None or prior.fingerprint != metric.fingerprint or len(metric.per_sample) != len(suite.samples):
            continue
        try:
            timed = family_of(name, metric.definition).timed
        except Exception:  # noqa: BLE001 - a metric this qa_gate does not know: shown like any other
            timed = False
        if not timed:
            out[name] = (metric, prior)
    return out


def _merged(pairs: Mapping[str, tuple[MetricResult, MetricResult]]) -> dict[str, tuple[MetricResult, MetricResult]]:
    """Metrics whose per-sample values are identical in both runs share one entry, named ``a, b``."""
    groups: dict[tuple[tuple[float, ...], tuple[float, ...]], list[str]] = {}
    for name, (metric, prior) in pairs.items():
        groups.setdefault((metric.per_sample, prior.per_sample), []).append(name)
    return {", ".join(names): pairs[names[0]] for names in groups.values()}


def _output(text: str | None) -> str | None:
    if text is None:
        return None
    return text if text.strip() else NONE_SHOWN


class SuiteSamples:
    """The per-sample material of one suite: rows for chosen samples, flips, the output columns."""

    def __init__(self, verdict: Verdict, suite: SuiteResult,
                 answers: Mapping[tuple[str, str], str] = NO_ANSWERS) -> None:
        self.verdict = verdict
        self.suite = suite
        self.answers = answers
        base = verdict.baseline.suite(suite.name) if verdict.baseline is not None else None
        self.base_index = {s.id: i for i, s in enumerate(base.samples)} if base is not None else {}
        self.pairs = _merged(_comparable(suite, base))

    def row(self, index: int, only: Sequence[str] | None = None) -> SampleRow | None:
        """Sample ``index`` with every metric that moved on it (or only the ``only`` ones); ``None`` if none did."""
        sample = self.suite.samples[index]
        j = self.base_index.get(sample.id)
        if j is None:
            return None
        changes = []
        for name, (metric, prior) in self.pairs.items():
            if only is not None and not set(name.split(", ")) & set(only):
                continue
            value, before = metric.per_sample[index], prior.per_sample[j]
            if abs(value - before) >= NOISE:
                changes.append(MetricChange(name, format_number(before), format_number(value),
                                            format_delta(value - before)))
        if not changes:
            return None
        return SampleRow(self.suite.name, sample.id, sample.text, _output(sample.output),
                         self.answers.get((self.suite.name, sample.id)), tuple(changes))

    def regressed(self, limit: int = TOP_SAMPLES) -> list[SampleRow]:
        """The most regressed samples, each once: by their best place in a failing metric's list, then any list."""
        failing = {c.metric for c in self.verdict.checks if c.suite == self.suite.name and c.status.failed}
        place: dict[str, tuple[int, int]] = {}
        seen: dict[str, int] = {}
        for d in self.verdict.samples:
            if d.suite != self.suite.name or abs(d.delta) < NOISE:
                continue
            rank = seen[d.metric] = seen.get(d.metric, -1) + 1
            key = (0 if d.metric in failing else 1, rank)
            place[d.sample_id] = min(place.get(d.sample_id, key), key)
        index = {s.id: i for i, s in enumerate(self.suite.samples)}
        rows = []
        for sample_id in sorted(place, key=lambda s: (place[s], index.get(s, 0))):
            row = self.row(index[sample_id]) if sample_id in index else None
            if row is not None:
                rows.append(row)
            if len(rows) == limit:
                break
        return rows

    def hit_metrics(self) -> dict[str, float]:
        """Metrics whose per-sample values mean right or wrong, each with the value from which a sample is right."""
        vqa = set(sections([(n, m.definition) for n, m in self.suite.metrics.items()]).get("vqa_types", ()))
        out = {}
        for name, (metric, prior) in self.pairs.items():
            names = set(name.split(", "))
            if names & vqa:
                out[name] = VQA_RIGHT
            elif all(v in (0.0, 1.0) for v in (*metric.per_sample, *prior.per_sample)):
                out[name] = 1.0
        return out

    def flips(self) -> list[SampleRow]:
        """Samples right in the baseline and wrong now on some hit metric, each once, naming those metrics."""
        hits = self.hit_metrics()
        rows = []
        for i, sample in enumerate(self.suite.samples):
            j = self.base_index.get(sample.id)
            if j is None:
                continue
            flipped = []
            for name, right in hits.items():
                metric, prior = self.pairs[name]
                now, before = metric.per_sample[i], prior.per_sample[j]
                if oriented(before - right, metric.higher_is_better) >= 0 > oriented(now - right,
                                                                                     metric.higher_is_better):
                    flipped.extend(name.split(", "))
            row = self.row(i, flipped) if flipped else None
            if row is not None:
                rows.append(row)
        return rows
