"""``mm-gate-verdict.json``: the verdict as a machine-readable file, for a CI step that runs no pytest code.

Every run writes it last (:func:`qa_gate.pipeline.deliver`). A run that does not finish never leaves a
file claiming a pass: a verdict file left at the path by an earlier run is replaced with an
*unfinished* one as the run starts (:func:`retire`), and a run that is interrupted or refused writes
an unfinished one with the reason. Reading it needs neither torch nor pytest (``mm-gate check-verdict``).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qa_gate import __version__
from qa_gate.errors import GateError, first_line
from qa_gate.files import file_sha256, write_atomic

if TYPE_CHECKING:
    from qa_gate.config.model import GateConfig
    from qa_gate.results import RunResult
    from qa_gate.verdict.checks import Check, Verdict

FORMAT, VERSION = "qa-gate-verdict", 1
DEFAULT_NAME = "mm-gate-verdict.json"
"""Where a run writes its verdict file unless told otherwise: this name in the current directory."""
OUTCOMES = ("passed", "failed", "skipped")
"""What a check's outcome is in the file, as pytest reports its item (and JUnit XML records it)."""


class VerdictFileError(GateError):
    """A verdict file that is missing, unreadable, not a verdict file, or written by a run that did not finish."""


def verdict_path(given: str | Path | None) -> Path:
    """Where a run writes its verdict file: ``given`` (an option's value), else :data:`DEFAULT_NAME` in the cwd."""
    return Path(given or DEFAULT_NAME).absolute()


def now() -> str:
    """The current time, UTC, ISO 8601 to the millisecond."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def _number(value: float | None) -> float | None:
    """A value as JSON can hold it: NaN and infinities (a skipped metric) become ``null``."""
    return None if value is None or not math.isfinite(value) else float(value)


def outcome(check: Check) -> str:
    """``failed``, ``skipped`` or ``passed``: what pytest reports for the check's item."""
    return "failed" if check.status.failed else "skipped" if check.status.skipped else "passed"


def run_digest(run: RunResult | None) -> str | None:
    """The sha256 of a stored run's canonical JSON (the baseline file's text), ``None`` for no run."""
    if run is None:
        return None
    from qa_gate.baseline.run_json import dumps

    return hashlib.sha256(dumps(run).encode("utf-8")).hexdigest()


def check_json(check: Check) -> dict[str, Any]:
    """One check as the verdict file (and a sign-off record) holds it: its rule, numbers and outcome."""
    rule, estimate = check.rule, check.estimate
    return {
        "id": check.id, "suite": check.suite, "slice": check.slice, "metric": check.metric,
        "status": check.status.value, "outcome": outcome(check), "value": _number(check.value),
        "baseline": _number(check.baseline), "delta": _number(check.delta), "higher_is_better": check.higher_is_better,
        "rule": {"kind": rule.kind, "value": rule.value, "mode": None if rule.is_floor else rule.mode,
                 "confidence": None if rule.is_floor else rule.confidence},
        "estimate": None if estimate is None else {
            "drop": _number(estimate.drop), "low": _number(estimate.low), "high": _number(estimate.high),
            "confidence": estimate.confidence, "resamples": estimate.resamples, "n": estimate.n},
        "message": check.message,
    }


def counts(checks: Sequence[Check]) -> dict[str, int]:
    """How many checks there are, and how many failed, were skipped, or had no baseline to compare with."""
    return {"checks": len(checks), "failed": sum(c.status.failed for c in checks),
            "skipped": sum(c.status.skipped for c in checks),
            "no_baseline": sum(c.status.value in ("no baseline", "missing baseline") for c in checks)}


def verdict_json(verdict: Verdict, config: GateConfig) -> dict[str, Any]:
    """The whole verdict file of a finished run: outcome, counts, checks, changes, cautions, input hashes."""
    run = verdict.run
    try:
        thresholds: str | None = file_sha256(config.source)
    except OSError:
        thresholds = None
    return {
        "format": FORMAT, "version": VERSION, "finished": True, "passed": verdict.passed, "created": now(),
        "qa_gate_version": __version__, "counts": counts(verdict.checks),
        "checks": [check_json(c) for c in verdict.checks],
        "bar_changes": list(verdict.bar_changes), "changes": list(verdict.changes),
        "cautions": list(verdict.cautions), "notes": list(verdict.notes),
        "inputs": {
            "thresholds": {"path": str(config.source), "sha256": thresholds},
            "baseline": {"source": verdict.baseline_source, "sha256": run_digest(verdict.baseline)},
            "checkpoint": {"adapter": run.checkpoint.adapter, "path": run.checkpoint.checkpoint,
                           "sha256": run.checkpoint.sha256, "model_name": run.checkpoint.model_name},
            "suites": {s.name: {"label": s.label, "fingerprint": s.fingerprint, "samples": len(s.samples)}
                       for s in run.suites},
        },
    }


def unfinished_json(reason: str) -> dict[str, Any]:
    """The verdict file of a run that has not finished (or never will): no verdict, and why."""
    return {"format": FORMAT, "version": VERSION, "finished": False, "passed": False, "created": now(),
            "qa_gate_version": __version__, "reason": reason}


def write(path: Path, data: Mapping[str, Any]) -> Path:
    """Write a verdict file atomically (a reader sees the old file or the new one)."""
    return write_atomic(path, (json.dumps(data, indent=1, sort_keys=True) + "\n").encode("utf-8"))


def _is_verdict_file(path: Path) -> bool:
    try:
        with open(path, "rb") as handle:
            data = json.loads(handle.read(1 << 26))
    except (OSError, ValueError):
        return False
    return isinstance(data, Mapping) and data.get("format") == FORMAT


def retire(path: Path) -> bool:
    """Before a run: replace a verdict file an earlier run left at ``path`` with an unfinished one.

    Only a file that is a verdict file is touched (anything else waits for the output checks), so
    a stale pass cannot outlive a run that stops before it delivers. Returns whether it replaced one.
    """
    if not Path(path).is_file() or not _is_verdict_file(path):
        return False
    try:
        write(path, unfinished_json(f"a run started at {now()} has not finished: a run that stops early "
                                    "(exit 2 or 4) leaves this file"))
    except OSError:
        return False
    return True


@dataclass(frozen=True)
class RecordedCheck:
    """A check as read back from a verdict file."""

    id: str
    outcome: str
    status: str
    message: str


@dataclass(frozen=True)
class VerdictFile:
    """A finished run's verdict file, read back: what ``mm-gate check-verdict`` compares."""

    path: Path
    passed: bool
    created: datetime
    version: str
    checks: tuple[RecordedCheck, ...]
    bar_changes: tuple[str, ...]
    counts: Mapping[str, int]

    def summary(self) -> str:
        """One line: the outcome, the counts, when and by which qa_gate it was written."""
        c = self.counts
        return (f"verdict {'PASSED' if self.passed else 'FAILED'} ({c.get('failed', 0)} of {c.get('checks', 0)} "
                f"checks failed, {c.get('skipped', 0)} skipped, {c.get('no_baseline', 0)} without a baseline), "
                f"{self.path} written {self.created.isoformat(timespec='seconds')} by qa_gate {self.version}")


def _timestamp(value: Any, source: str) -> datetime:
    try:
        when = datetime.fromisoformat(str(value))
    except ValueError:
        raise VerdictFileError(f"{source}: 'created' is {value!r}, not an ISO 8601 time") from None
    return when if when.tzinfo is not None else when.replace(tzinfo=timezone.utc)


def read(path: Path) -> VerdictFile:
    """Read a finished run's verdict file; :class:`VerdictFileError` (one line) for anything else."""
    try:
        data = json.loads(Path(path).read_bytes())
    except FileNotFoundError:
        raise VerdictFileError(f"{path}: no verdict file (the gate did not run here, or wrote it elsewhere: "
                               "--verdict / --mm-verdict)") from None
    except OSError as exc:
        raise VerdictFileError(f"{path}: cannot read the verdict file: {first_line(exc)}") from None
    except ValueError as exc:
        raise VerdictFileError(f"{path}: not JSON ({first_line(exc)})") from None
    if not isinstance(data, Mapping) or data.get("format") != FORMAT or data.get("version") != VERSION:
        raise VerdictFileError(f"{path}: not a version {VERSION} mm-gate verdict file (expected \"format\": "
                               f"\"{FORMAT}\", \"version\": {VERSION})")
    if data.get("finished") is not True:
        raise VerdictFileError(f"{path}: no verdict: the run that wrote it did not finish "
                               f"({data.get('reason', 'no reason recorded')})")
    try:
        checks = tuple(RecordedCheck(str(c["id"]), str(c["outcome"]), str(c["status"]), str(c.get("message", "")))
                       for c in data["checks"])
        bad = next((c for c in checks if c.outcome not in OUTCOMES), None)
        if bad is not None or not isinstance(data["passed"], bool):
            raise ValueError(f"check {bad.id}: outcome {bad.outcome!r}" if bad else "'passed' is not true or false")
        return VerdictFile(Path(path), data["passed"], _timestamp(data["created"], str(path)),
                           str(data.get("qa_gate_version")), checks,
                           tuple(str(line) for line in data.get("bar_changes", ())),
                           {str(k): int(v) for k, v in data.get("counts", {}).items()})
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise VerdictFileError(f"{path}: malformed verdict file ({type(exc).__name__}: {exc})") from None
