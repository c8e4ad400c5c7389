"""What a store tells besides the baseline: what the change under test did to it and to the golden suites,
and the baseline's earlier versions."""

from __future__ import annotations

import math
from dataclasses import dataclass

from qa_gate.results import RunResult


@dataclass(frozen=True)
class HistoryPoint:
    """One committed version of the baseline on the target branch."""

    commit: str  # short sha
    date: str  # ISO date (YYYY-MM-DD) of the commit
    run: RunResult


@dataclass(frozen=True)
class BaselineChange:
    """The PR changed the baseline file: its content at the merge-base and in the working tree."""

    path: str  # repo-relative posix path of the baseline file
    old: RunResult | None  # at the merge-base (None when absent there)
    new: RunResult | None  # in the working tree (None when absent)

    def changed_values(self) -> list[tuple[str, str, float | None, float | None]]:
        """``(suite, metric, old value, new value)`` for every metric whose value differs (None: absent)."""
        old, new = _values(self.old), _values(self.new)
        keys = list(old) + [key for key in new if key not in old]
        return [(suite, metric, old.get((suite, metric)), new.get((suite, metric)))
                for suite, metric in keys if not _same(old.get((suite, metric)), new.get((suite, metric)))]

    def summary(self) -> str:
        """One line for the top of a report: what the PR did to the baseline, with old and new values."""
        if self.new is None:
            return f"This PR deletes the baseline {self.path}."
        values = ", ".join(f"{s}/{m} {_show(a)} → {_show(b)}" for s, m, a, b in self.changed_values())
        if self.old is None:
            head = f"This PR adds the baseline {self.path} (none at the merge-base)"
        else:
            head = f"This PR changes the baseline {self.path}"
        return f"{head}: {values}." if values else f"{head} (metric values unchanged)."


@dataclass(frozen=True)
class GoldenChange:
    """The PR changed a golden suite: fingerprints at the merge-base and in the working tree."""

    suite_path: str  # repo-relative posix folder
    old_fingerprint: str | None  # from SHA256SUMS at the merge-base (None when absent there)
    new_fingerprint: str | None  # from SHA256SUMS in the working tree (None when absent)
    files_changed: tuple[str, ...]  # paths inside the suite that differ

    def summary(self) -> str:
        """One line for the top of a report."""
        files = ", ".join(self.files_changed[:10]) + (" …" if len(self.files_changed) > 10 else "")
        shown = f"; files: {files}" if files else ""
        return (f"This PR changes the golden suite {self.suite_path}: fingerprint "
                f"{self.old_fingerprint or 'none'} → {self.new_fingerprint or 'none'}{shown}.")


MAX_LISTED = 10
"""How many verdict-changing files a summary names."""


@dataclass(frozen=True)
class Changes:
    """What the change under test did to the baseline and the golden suites; a file store sees none."""

    baseline: BaselineChange | None = None
    golden: tuple[GoldenChange, ...] = ()
    verdict_files: tuple[str, ...] = ()
    """Other files the change edits that can change the gate's verdict (conftest, ini, workflows, ...)."""

    def verdict_files_summary(self) -> str | None:
        """One line for the top of a report naming :attr:`verdict_files`, or ``None`` when there are none."""
        if not self.verdict_files:
            return None
        shown = ", ".join(self.verdict_files[:MAX_LISTED])
        more = f" and {len(self.verdict_files) - MAX_LISTED} more" if len(self.verdict_files) > MAX_LISTED else ""
        return (f"This change also edits files that can change the gate's verdict: {shown}{more}. "
                "Review them before trusting this verdict.")


def _values(run: RunResult | None) -> dict[tuple[str, str], float]:
    if run is None:
        return {}
    return {(suite.name, name): metric.value for suite in run.suites for name, metric in suite.metrics.items()}


def _same(a: float | None, b: float | None) -> bool:
    return a == b or (a is not None and b is not None and math.isnan(a) and math.isnan(b))


def _show(value: float | None) -> str:
    return "—" if value is None else f"{value:.4f}"
