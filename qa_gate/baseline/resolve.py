"""Which baseline a run is judged against, and what the change under test did to it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from qa_gate.baseline.changes import HistoryPoint
from qa_gate.baseline.run_json import UnreadableBaseline
from qa_gate.baseline.store import open_store
from qa_gate.config.model import GateConfig
from qa_gate.results import RunResult

HISTORY = 10
WAY_OUT = ("to replace it, record a new baseline (mm-gate baseline update, or pytest --mm-gate "
           "--mm-update-baseline); if that is not the baseline file, fix baseline.path or the baseline option")
"""What an error about a corrupt baseline suggests: a baseline update replaces a file it cannot read."""


@dataclass(frozen=True)
class BaselineContext:
    """The baseline a run is judged against, where it came from, and what the change under test did to it."""

    source: str
    baseline: RunResult | None
    changes: tuple[str, ...] = ()
    history: tuple[HistoryPoint, ...] = ()


def resolve_baseline(config: GateConfig, suite_paths: Sequence[Path], history: int = HISTORY, *,
                     replacing: bool = False) -> BaselineContext:
    """The target branch's baseline (at the merge-base) inside git; the file otherwise.

    ``--mm-baseline PATH`` always means the file. In git, a baseline or golden suite
    changed by the change under test is reported, and the change's own baseline is
    used only with ``--mm-accept-baseline-change``. A baseline that cannot be parsed
    stops the run with a way out, unless the run is ``replacing`` it (a baseline update of a
    ``.json`` file): then the run goes on without one and says so.
    """
    store = open_store(config)
    try:
        baseline = store.read()
        changes = store.changes(list(suite_paths), watched_files(config))
    except UnreadableBaseline as exc:
        if not replacing:
            raise UnreadableBaseline(f"{exc}; {WAY_OUT}") from None
        if config.baseline_path.suffix.lower() != ".json":  # more likely a wrong path than a corrupt baseline
            raise UnreadableBaseline(f"{exc}; not replaced: a baseline update replaces an unreadable baseline "
                                     "only when its name ends in .json; fix baseline.path or the baseline option, "
                                     "or delete the file") from None
        note = f"The stored baseline cannot be read ({exc}); this baseline update replaces it."
        return BaselineContext(store.describe(), None, (note,))
    notes: list[str] = []
    if changes.baseline is not None:
        notes.append(changes.baseline.summary())
        if config.accept_bar_change:
            baseline = changes.baseline.new
            notes.append("The changed baseline is accepted (--mm-accept-baseline-change): "
                         "this run is judged against it.")
        else:
            notes.append("This run is judged against the target branch's baseline; pass "
                         "--mm-accept-baseline-change to accept the new one deliberately.")
    notes.extend(change.summary() for change in changes.golden)
    files = changes.verdict_files_summary()
    if files is not None:
        notes.append(files)
    return BaselineContext(store.describe(), baseline, tuple(notes), tuple(store.history(history)))


def watched_files(config: GateConfig) -> list[Path]:
    """The files of this config that can change its verdict: the thresholds file and the modules of
    user adapters (``package.module:attr``, looked up beside the thresholds file)."""
    out = [config.source]
    for model in (config.model, config.scorer):
        if model is not None and ":" in model.adapter:
            parts = model.adapter.split(":")[0].split(".")
            base = config.source.parent
            out += [base.joinpath(*parts[:-1], parts[-1] + ".py"), base.joinpath(*parts, "__init__.py")]
    return out
