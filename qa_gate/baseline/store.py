"""The baseline store interface, and ``open_store``: the git store inside a repository, the file otherwise."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from qa_gate.baseline.changes import Changes, HistoryPoint
from qa_gate.baseline.file import FileBaselineStore
from qa_gate.baseline.git import GitBaselineStore
from qa_gate.config.model import GateConfig
from qa_gate.results import RunResult


class BaselineStore(Protocol):
    """Where the baseline a run is judged against lives: read it, write a new one, say what changed."""

    def describe(self) -> str:
        """Where the baseline comes from, for reports and messages."""
        ...

    def read(self) -> RunResult | None:
        """The stored baseline, or ``None`` when there is none yet."""
        ...

    def write(self, run: RunResult) -> str:
        """Store ``run`` as the new baseline, atomically; returns where it went."""
        ...

    def changes(self, suite_paths: Sequence[Path], watched: Sequence[Path] = ()) -> Changes:
        """What the change under test did to the baseline, to the golden suites at ``suite_paths`` and to
        files that can change the verdict (``watched``: the thresholds file, user adapter modules)."""
        ...

    def history(self, limit: int = 10) -> list[HistoryPoint]:
        """The last ``limit`` earlier versions of the baseline, oldest first (none for a plain file)."""
        ...


def open_store(config: GateConfig) -> BaselineStore:
    """The git store when the baseline file lies in a git work tree with a commit, the file store otherwise.

    An explicit baseline path (``--mm-baseline PATH``) always means the file.
    """
    if not config.baseline_explicit:
        store = GitBaselineStore.discover(config.baseline_path, ref=config.baseline_ref)
        if store is not None:
            return store
    return FileBaselineStore(config.baseline_path)
