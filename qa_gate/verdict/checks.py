"""What a verdict is made of: one check per (suite, slice, metric, rule), its status, the whole verdict."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from qa_gate.baseline.changes import HistoryPoint
from qa_gate.config.model import GateConfig, Rule
from qa_gate.results import RunResult
from qa_gate.verdict.diffs import SampleDelta, SliceDelta
from qa_gate.verdict.stats import DropEstimate


class Status(str, enum.Enum):
    """Outcome of one check."""

    PASS = "pass"
    FAIL = "fail"
    INCOMPARABLE = "incomparable"
    NO_BASELINE = "no baseline"
    """A regression rule with nothing to compare with, under ``gate.missing_baseline: warn``: shown, not failed."""
    MISSING_BASELINE = "missing baseline"
    """A regression rule with nothing to compare with, under ``gate.missing_baseline: fail`` (the default in CI)."""
    UPDATED = "updated"
    SKIPPED = "skipped"
    """The metric could not be computed (no Java for the captioning metrics); ``message`` holds the reason.
    Never fails the build, but a baseline is never recorded from such a run."""

    @property
    def failed(self) -> bool:
        """True for the statuses that fail the build."""
        return self in (Status.FAIL, Status.INCOMPARABLE, Status.MISSING_BASELINE)

    @property
    def skipped(self) -> bool:
        """True when the metric could not be computed."""
        return self is Status.SKIPPED


def check_id(suite: str, slice: str | None, metric: str, kind: str) -> str:
    """The one definition of a check's id (:attr:`Check.id`, the pytest item names): ``shapes::clipscore::min``.

    ``suite`` is the suite's **name** in ``thresholds.yaml`` (unique by construction), never its folder:
    two suites reading the same folder get distinct ids.
    """
    where = f"{suite}[{slice}]" if slice else suite
    return f"{where}::{metric}::{kind}"


def planned_check_ids(config: GateConfig) -> tuple[str, ...]:
    """The ids of the checks ``config`` asks for, in file order (suite metrics, then its slices), before any scoring."""
    return tuple(
        check_id(suite.name, slice_name, metric.name, rule.kind)
        for suite in config.suites
        for slice_name, metrics in ((None, suite.metrics), *((s.slice, s.metrics) for s in suite.slices))
        for metric in metrics
        for rule in metric.rules
    )


@dataclass(frozen=True)
class Check:
    """One (suite or slice, metric, rule) check and its outcome."""

    suite: str
    suite_label: str
    metric: str
    rule: Rule
    value: float
    baseline: float | None
    status: Status
    message: str
    higher_is_better: bool = True
    slice: str | None = None
    estimate: DropEstimate | None = None
    """The bootstrap estimate of the drop, for regression rules judged against a baseline."""

    @property
    def id(self) -> str:
        """The readable id: ``shapes::clipscore::min``, ``shapes[colour=red]::clipscore::min`` (suite name)."""
        return check_id(self.suite, self.slice, self.metric, self.rule.kind)

    @property
    def delta(self) -> float | None:
        """Candidate minus baseline, when a comparable baseline exists."""
        return None if self.baseline is None else self.value - self.baseline

    def summary(self) -> str:
        """One line: value, threshold, baseline, delta and the rule's outcome (or why it was skipped)."""
        if self.status is Status.SKIPPED:
            return f"{self.metric}: {self.rule.kind} {self.rule.value:g} skipped: {self.message}"
        base = "none" if self.baseline is None else f"{self.baseline:.4f}"
        delta = "n/a" if self.delta is None else f"{self.delta:+.4f}"
        return (f"{self.metric} = {self.value:.4f}, {self.rule.kind} {self.rule.value:g}, "
                f"baseline {base}, delta {delta}: {self.message}")


@dataclass(frozen=True)
class Verdict:
    """The gate's decision and everything the report explains it with."""

    passed: bool
    checks: tuple[Check, ...]
    slices: tuple[SliceDelta, ...]
    samples: tuple[SampleDelta, ...]
    notes: tuple[str, ...]
    run: RunResult
    baseline: RunResult | None
    baseline_source: str | None = None
    changes: tuple[str, ...] = ()
    """What the change under test did to the baseline or the golden suites (report's first lines)."""
    bar_changes: tuple[str, ...] = ()
    """How this run's bar differs from the target branch's: rules, suites, metric parameters, the baseline
    and gate sections, bar-changing options from ini files or the environment, an accepted change.
    One line each, "old → new" where there is an old; the report and the terminal show them first."""
    history: tuple[HistoryPoint, ...] = ()
    """Earlier baselines on the target branch, oldest first."""
    flips: tuple[SampleDelta, ...] = ()
    """Samples that crossed their metric's floor from the right side to the wrong one."""
    cautions: tuple[str, ...] = ()
    """How this run was less safe than the default (``model.allow_pickle``): the report's first lines.
    Not part of the stored run (baselines never hold them); :func:`pickle_cautions` makes them."""

    @property
    def failures(self) -> tuple[Check, ...]:
        """The checks that fail the build."""
        return tuple(c for c in self.checks if c.status.failed)

    @property
    def skipped(self) -> tuple[Check, ...]:
        """The checks of metrics the run could not compute (each ``message`` is the reason)."""
        return tuple(c for c in self.checks if c.status is Status.SKIPPED)

    def skipped_metrics(self) -> tuple[SkippedMetric, ...]:
        """One entry per skipped (suite, metric), in check order, with how many checks it skipped."""
        found: dict[tuple[str, str], SkippedMetric] = {}
        for c in self.skipped:
            prior = found.get((c.suite, c.metric))
            found[(c.suite, c.metric)] = SkippedMetric(c.suite_label, c.metric, c.message,
                                                       1 if prior is None else prior.checks + 1, c.suite)
        return tuple(found.values())


def pickle_cautions(config: GateConfig, scorer_loaded: bool) -> tuple[str, ...]:
    """One line per checkpoint this run loaded with ``allow_pickle`` on (the model's, the scorer's when loaded)."""
    found = [("model", config.model, "the checkpoint under test")]
    if scorer_loaded and config.scorer is not None:
        found.append(("scorer", config.scorer, "the scorer checkpoint"))
    return tuple(f"{section}.allow_pickle is on: {what} was loaded with pickle allowed, which can run arbitrary "
                 "code; use it only with checkpoints you trust" for section, model, what in found if model.allow_pickle)


@dataclass(frozen=True)
class SkippedMetric:
    """A metric the run could not compute: where, why, and how many checks were skipped with it."""

    suite_label: str
    metric: str
    reason: str
    checks: int
    suite: str = ""
    """The suite's name (the ids use it); ``suite_label`` when not given."""

    @property
    def id(self) -> str:
        """``captions::meteor``: the suite's name, as in :func:`check_id`."""
        return f"{self.suite or self.suite_label}::{self.metric}"
