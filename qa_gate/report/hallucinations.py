"""The CHAIR section of a suite: the captions that name objects the image does not hold, worst first.

The CHAIR metrics (``qa_gate.metrics.chair``) give each caption's counts; the runner keeps, per sample,
the hallucinated object categories and the image's own (``SuiteResult.compared``, not kept in a
baseline). The section lists the captions with at least one hallucinated object, most first, and the
objects hallucinated most often over the suite. User text stays raw; the templates escape it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from qa_gate.results import SuiteResult

MAX_CAPTIONS = 10
MAX_OBJECTS = 10


@dataclass(frozen=True)
class HallucinationRow:
    """One caption naming objects the image does not hold."""

    sample_id: str
    caption: str
    hallucinated: str
    objects: str


@dataclass(frozen=True)
class HallucinationTable:
    """The hallucinating captions of one suite (at most :data:`MAX_CAPTIONS`) and the objects they invent."""

    rows: tuple[HallucinationRow, ...]
    hidden: int
    """How many more captions hallucinate than the table shows."""
    captions: int
    """How many captions the suite has."""
    invented: tuple[tuple[str, int], ...]
    """The hallucinated categories with the number of captions naming each, most first."""


def hallucination_tables(suite: SuiteResult, names: Sequence[str]) -> tuple[HallucinationTable, ...]:
    """The section for the first CHAIR metric of ``names`` the run kept outputs for (none without one)."""
    pairs = next((suite.compared[name] for name in names if name in suite.compared), None)
    if pairs is None or len(pairs) != len(suite.samples):
        return ()
    hallucinating = [(len(wrong.split(", ")), i) for i, (wrong, _) in enumerate(pairs) if wrong]
    hallucinating.sort(key=lambda item: (-item[0], item[1]))
    rows = tuple(HallucinationRow(suite.samples[i].id, suite.samples[i].output or "", pairs[i][0], pairs[i][1])
                 for _, i in hallucinating[:MAX_CAPTIONS])
    invented = Counter(c for wrong, _ in pairs if wrong for c in wrong.split(", "))
    ranked = tuple(sorted(invented.items(), key=lambda item: (-item[1], item[0]))[:MAX_OBJECTS])
    return (HallucinationTable(rows, len(hallucinating) - len(rows), len(pairs), ranked),)
