"""Warnings about what a run can and cannot see, for the reports and the terminal alike.

- a suite too small to protect a metric (its smallest detectable drop is over twice the allowance);
- retrieval on a suite whose captions repeat: the images sharing a text tie for it, and ties
  count against the model, so recall can read 0 for a model that does nothing wrong.
"""

from __future__ import annotations

from collections import Counter

from qa_gate.report.rows import TooSmall, failures_first, too_small
from qa_gate.results import SuiteResult
from qa_gate.scoring.families import family_of
from qa_gate.verdict.checks import Verdict


def too_small_notes(verdict: Verdict, suite: str) -> tuple[TooSmall, ...]:
    """The too-small notes of one suite's checks (by suite name), each once, failures' order."""
    own = failures_first([c for c in verdict.checks if c.suite == suite])
    return tuple(dict.fromkeys(note for note in map(too_small, own) if note is not None))


def _retrieval_metrics(suite: SuiteResult) -> list[str]:
    found = []
    for name, metric in suite.metrics.items():
        try:
            if family_of(name, metric.definition).name == "retrieval":
                found.append(name)
        except Exception:  # noqa: BLE001 - a metric this qa_gate does not know is not retrieval
            continue
    return found


def shared_text_note(suite: SuiteResult) -> str | None:
    """Why retrieval on ``suite`` counts ties against the model, when several images share a caption; else ``None``."""
    metrics = _retrieval_metrics(suite)
    if not metrics:
        return None
    counts = Counter(s.text for s in suite.samples)
    shared = {text: n for text, n in counts.items() if n > 1}
    if not shared:
        return None
    example, times = max(shared.items(), key=lambda kv: kv[1])
    texts = f"{len(shared)} text{'s are' if len(shared) > 1 else ' is'}"
    return (f"{suite.label}: {texts} each the caption of several images ({sum(shared.values())} of "
            f"{len(suite.samples)} images; '{example}' has {times}): the images sharing a text tie for it in "
            f"retrieval and ties count against the model, so {', '.join(metrics)} can be low for a model that "
            "ranks them perfectly; retrieval needs a distinct text per image")


def run_warnings(verdict: Verdict) -> tuple[str, ...]:
    """Every warning of the run, as one line each: shared captions under retrieval, then too-small suites."""
    found: list[str] = []
    for suite in verdict.run.suites:
        note = shared_text_note(suite)
        if note is not None:
            found.append(note)
    for suite in verdict.run.suites:
        found.extend(str(note) for note in too_small_notes(verdict, suite.name))
    return tuple(found)
