"""Which baseline a run is judged against: the target branch's in git, the file otherwise."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from qa_gate.baseline.file import FileBaselineStore
from qa_gate.baseline.store import HistoryPoint
from qa_gate.config.model import GateConfig
from qa_gate.results import RunResult

HISTORY = 10


@dataclass(frozen=True)
class BaselineContext:
    """The baseline a run is judged against, where it came from, and what the change under test did to it."""

    source: str
    baseline: RunResult | None
    changes: tuple[str, ...] = ()
    history: tuple[HistoryPoint, ...] = ()


def resolve_baseline(config: GateConfig, suite_paths: Sequence[Path], history: int = HISTORY) -> BaselineContext:
    """The target branch's baseline (at the merge-base) inside git; the file otherwise.

    ``--mm-baseline PATH`` always means the file. In git, a baseline or golden suite
    changed by the change under test is reported, and the change's own baseline is
    used only with ``--mm-accept-baseline-change``.
    """
    store = None
    if not config.baseline_explicit:
        from qa_gate.baseline.git import GitBaselineStore

        store = GitBaselineStore.discover(config.baseline_path, ref=config.baseline_ref)
    if store is None:
        file_store = FileBaselineStore(config.baseline_path)
        return BaselineContext(file_store.describe(), file_store.read())
    baseline = store.read()
    changes: list[str] = []
    change = store.baseline_change()
    if change is not None:
        changes.append(change.summary())
        if config.accept_baseline_change:
            baseline = change.new
            changes.append("The changed baseline is accepted (--mm-accept-baseline-change): "
                           "this run is judged against it.")
        else:
            changes.append("This run is judged against the target branch's baseline; pass "
                           "--mm-accept-baseline-change to accept the new one deliberately.")
    changes.extend(g.summary() for g in store.golden_changes(list(suite_paths)))
    return BaselineContext(store.describe(), baseline, tuple(changes), tuple(store.history(history)))
