"""The two roles of a pytest session under ``--mm-gate``; the plugin keeps one in ``config.stash``.

A :class:`Controller` (the only process without pytest-xdist, the xdist controller with it)
prepares at configure time, scores and judges once at session start, hands each xdist
worker the planned checks and their outcomes (:mod:`qa_gate.handoff`) and delivers the
reports and a requested baseline at session end. A :class:`Worker` reports the outcomes it
was handed: it never loads the config or the suites, scores or judges. No pytest here:
errors are :class:`~qa_gate.errors.GateError`, which the plugin turns into usage errors.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from qa_gate.faults import Outputs
from qa_gate.handoff import RESULTS_FILE, Handoff, Outcome, load_results, outcomes, save_results

if TYPE_CHECKING:
    from qa_gate.config.model import Overrides
    from qa_gate.pipeline import Delivery, GateResults, Prepared
    from qa_gate.verdict.checks import Verdict


class GateCheckFailed(Exception):
    """A check did not hold (or has no outcome); its message is the one line pytest shows."""


class GateSession:
    """What both roles share: the thresholds file, the planned check ids and, once judged, their outcomes."""

    def __init__(self, source: Path, planned: tuple[str, ...], judged: Mapping[str, Outcome] | None) -> None:
        self.source = source
        self.planned = planned
        self.outcomes = judged

    def outcome(self, check_id: str) -> Outcome:
        """The outcome of check ``check_id``; :class:`GateCheckFailed` when there is none."""
        if self.outcomes is None:
            raise GateCheckFailed("the gate did not score (collection only?)")
        found = self.outcomes.get(check_id)
        if found is None:
            raise GateCheckFailed(f"no result for {check_id}")
        return found

    def results(self) -> GateResults | None:
        """The judged results for ``mm_gate_results``; ``None`` when nothing was scored."""
        return None

    def summary(self) -> Sequence[str]:
        """Lines for the terminal summary."""
        return ()

    def close(self) -> None:
        """Remove the files this session made."""


class Controller(GateSession):
    """The process that runs the gate, once."""

    def __init__(self, prepared: Prepared, update_baseline: bool, html: Path | None,
                 verdict_file: Path | None = None) -> None:
        from qa_gate.verdict.checks import planned_check_ids

        super().__init__(prepared.config.source, planned_check_ids(prepared.config), None)
        self.prepared = prepared
        self.update_baseline = update_baseline
        self.html = html
        self.verdict_file = verdict_file
        self.verdict: Verdict | None = None
        self.lines: tuple[str, ...] = ()
        self._folder: Path | None = None

    @classmethod
    def create(cls, thresholds: Path, overrides: Overrides, update_baseline: bool, html: Path | None,
               others: Mapping[str, Path] | None = None, verdict: str | None = None) -> Controller:
        """Validate ``thresholds`` and verify its golden suites (no model is loaded); refuse an output
        (report, HTML, baseline, the verdict file, ``others`` such as ``--junitxml``) that would overwrite an
        input. First of all, a verdict file an earlier run left at ``verdict`` (default: in the cwd) is retired."""
        from qa_gate.pipeline import check_outputs, prepare
        from qa_gate.verdict.record import retire, verdict_path

        retire(verdict_file := verdict_path(verdict))
        prepared = prepare(thresholds, overrides)
        check_outputs(prepared, html=html, update_baseline=update_baseline, others=others, verdict=verdict_file)
        return cls(prepared, update_baseline, html, verdict_file)

    def scoring_line(self) -> str:
        """What to print before the model loads."""
        from qa_gate.report.terminal import scoring_line

        return scoring_line(self.prepared.config.model, len(self.prepared.suites))

    def outputs(self) -> Outputs:
        """The files this session may write, as they are now (to say what an interrupt left written)."""
        return Outputs.of(self.prepared.config, self.html)

    def start(self) -> None:
        """Score and judge; every check gets its outcome."""
        from qa_gate.pipeline import judge, score

        self.verdict = judge(self.prepared, score(self.prepared), self.update_baseline)
        self.outcomes = outcomes(self.verdict)

    def handoff(self) -> str:
        """What a worker gets (JSON): the planned checks, their outcomes and the results file, written once."""
        results = self.results()
        if self._folder is None and results is not None:
            self._folder = Path(tempfile.mkdtemp(prefix="mm-gate-"))
            save_results(results, self._folder)
        where = None if self._folder is None else self._folder / RESULTS_FILE
        return Handoff(self.source, self.planned, self.outcomes, where).dumps()

    def finish(self, interrupted: bool) -> Delivery | None:
        """Write the reports and a requested baseline (not when ``interrupted``); ``None`` when nothing was scored."""
        if self.verdict is None:
            return None
        from qa_gate.pipeline import deliver

        delivery = deliver(self.prepared, self.verdict, html=self.html, update_baseline=self.update_baseline,
                           interrupted=interrupted, verdict_file=self.verdict_file)
        refused = () if delivery.refused is None else (f"mm-gate: {delivery.refused}",)
        self.lines = (*delivery.lines, *refused)
        return delivery

    def results(self) -> GateResults | None:
        """The config, run and verdict of this session."""
        if self.verdict is None:
            return None
        from qa_gate.pipeline import GateResults

        return GateResults(self.prepared.config, self.verdict.run, self.verdict)

    def summary(self) -> Sequence[str]:
        """The verdict table, then where the report went."""
        if self.verdict is None:
            return ()
        from qa_gate.report.terminal import verdict_lines

        return (*verdict_lines(self.verdict), *self.lines)

    def close(self) -> None:
        """Remove the results file handed to workers."""
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)


class Worker(GateSession):
    """An xdist worker: reports the outcomes its controller handed over."""

    def __init__(self, handoff: Handoff) -> None:
        super().__init__(handoff.source, handoff.planned, handoff.outcomes)
        self.results_file = handoff.results
        self._results: GateResults | None = None

    def results(self) -> GateResults | None:
        """The controller's results, read from its file on first use."""
        if self._results is None and self.results_file is not None:
            self._results = load_results(self.results_file)
        return self._results
