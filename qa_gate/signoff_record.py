"""What a release sign-off records in ``signoffs/<tag>.json``, and what verifying one reports."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from types import MappingProxyType
from typing import Any

from qa_gate.config.model import GateConfig
from qa_gate.errors import GateError
from qa_gate.results import CheckpointInfo
from qa_gate.verdict.checks import Verdict
from qa_gate.verdict.record import check_json, run_digest

FORMAT, VERSION, FOLDER, MODE = "qa-gate-signoff", 2, "signoffs", "strict"
READ_VERSIONS = (1, 2)
"""Version 1 records (no rules, no results) are read so that verifying one can say what it lacks."""


class SignoffError(GateError):
    """A sign-off cannot be made or verified: no git, dirty tree, existing tag, missing record."""


def _frozen(value: Any) -> Any:
    """JSON data made read-only: mappings become ``MappingProxyType``, lists tuples."""
    if isinstance(value, Mapping):
        return MappingProxyType({k: _frozen(v) for k, v in value.items()})
    return tuple(_frozen(v) for v in value) if isinstance(value, (list, tuple)) else value


@dataclass(frozen=True)
class SuiteRecord:
    """A golden suite as signed off; ``metrics`` maps a name to its value, fingerprint and definition."""

    label: str
    fingerprint: str
    samples: int
    metrics: Mapping[str, Mapping[str, Any]]


@dataclass(frozen=True)
class SignoffRecord:
    """The content of ``signoffs/<tag>.json``; ``commit`` is HEAD before the sign-off commit."""

    tag: str
    created: str
    commit: str
    message: str | None
    verdict: Mapping[str, Any]
    checkpoint: CheckpointInfo
    suites: Mapping[str, SuiteRecord]
    environment: Mapping[str, str]
    gate: Mapping[str, Any] | None = None
    """The gate settings the checks were judged with (mode, confidence, resamples, seed, missing_baseline);
    with the rule in each of ``verdict["checks"]``, the recorded rules. ``None`` in a version 1 record."""
    baseline: Mapping[str, Any] | None = None
    """Where the baseline was read (``source``, ``path`` in the repository) and its content's ``sha256``."""
    results: Mapping[str, Any] | None = None
    """The scored run, per-sample statistics included (a version 1 baseline document), to re-judge."""

    @classmethod
    def from_verdict(cls, tag: str, commit: str, message: str | None, verdict: Verdict, config: GateConfig,
                     baseline_path: str | None = None) -> SignoffRecord:
        """The record of a passing strict ``verdict`` of ``config`` on ``commit``, created now (UTC)."""
        from qa_gate.baseline.run_json import run_to_json

        suites = {s.name: SuiteRecord(s.label, s.fingerprint, len(s.samples), _frozen({
            m.name: {"value": m.value, "fingerprint": m.fingerprint, "definition": m.definition}
            for m in s.metrics.values()})) for s in verdict.run.suites}
        summary = {"passed": verdict.passed, "mode": MODE, "baseline_source": verdict.baseline_source,
                   "notes": verdict.notes, "cautions": verdict.cautions, "bar_changes": verdict.bar_changes,
                   "changes": verdict.changes, "checks": [check_json(c) for c in verdict.checks]}
        gate = {"mode": MODE, "confidence": config.confidence, "resamples": config.resamples,
                "seed": config.seed, "missing_baseline": config.missing_baseline,
                "missing_baseline_why": config.missing_baseline_why}
        baseline = {"source": verdict.baseline_source, "path": baseline_path, "sha256": run_digest(verdict.baseline)}
        return cls(tag, datetime.now(timezone.utc).isoformat(timespec="seconds"), commit, message,
                   _frozen(summary), verdict.run.checkpoint, MappingProxyType(suites),
                   _frozen(verdict.run.environment), _frozen(gate), _frozen(baseline),
                   _frozen(run_to_json(verdict.run)))

    @property
    def passed(self) -> bool:
        """Whether the record says the strict gate passed."""
        return self.verdict.get("passed") is True

    @property
    def checks(self) -> tuple[Mapping[str, Any], ...]:
        """The recorded checks (id, suite, slice, metric, status, value, baseline, rule, ...)."""
        return tuple(self.verdict.get("checks", ()))

    def to_json(self) -> str:
        """The record file's text: stable key order, one trailing newline."""
        cp = self.checkpoint
        data = {"format": FORMAT, "version": VERSION, "tag": self.tag, "created": self.created,
                "commit": self.commit, "message": self.message, "verdict": self.verdict,
                "checkpoint": {"adapter": cp.adapter, "path": cp.checkpoint, "sha256": cp.sha256,
                               "model_name": cp.model_name},
                "suites": {n: {"label": s.label, "fingerprint": s.fingerprint, "samples": s.samples}
                           for n, s in self.suites.items()},
                "metrics": {n: s.metrics for n, s in self.suites.items()}, "environment": self.environment,
                "gate": self.gate, "baseline": self.baseline, "results": self.results}
        return json.dumps(data, indent=1, sort_keys=True, default=dict) + "\n"

    @classmethod
    def from_json(cls, data: Any, source: str) -> SignoffRecord:
        """Parse a record; ``SignoffError`` naming ``source`` when it is not one."""
        if not isinstance(data, Mapping) or data.get("format") != FORMAT or data.get("version") not in READ_VERSIONS:
            raise SignoffError(f"{source}: not an mm-gate sign-off record (expected \"format\": \"{FORMAT}\", "
                               f"\"version\": {VERSION})")
        try:
            cp, metrics = data["checkpoint"], data["metrics"]
            suites = {n: SuiteRecord(str(s["label"]), str(s["fingerprint"]), int(s["samples"]), _frozen(
                {m: {"value": float(v["value"]), "fingerprint": str(v["fingerprint"]), "definition": v["definition"]}
                 for m, v in metrics[n].items()})) for n, s in data["suites"].items()}
            checkpoint = CheckpointInfo(*(str(cp[k]) for k in ("adapter", "path", "sha256", "model_name")))
            return cls(str(data["tag"]), str(data["created"]), str(data["commit"]), data.get("message"),
                       _frozen(data["verdict"]), checkpoint, MappingProxyType(suites), _frozen(data["environment"]),
                       *(_frozen(data.get(key)) for key in ("gate", "baseline", "results")))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise SignoffError(f"{source}: malformed sign-off record ({type(exc).__name__}: {exc})") from None

    def summary(self) -> str:
        """The tag's message: verdict, checkpoint hash, suite fingerprints, metric values, cautions."""
        cp, outcome = self.checkpoint, "PASSED" if self.verdict.get("passed") else "FAILED"
        lines = [(f"Sign off {self.tag}: mm-gate verdict {outcome} in {MODE} mode "
                  f"({len(self.verdict.get('checks', ()))} checks)"),
                 f"checkpoint {cp.checkpoint} ({cp.adapter}) sha256 {cp.sha256}"]
        for name, s in self.suites.items():
            values = ", ".join(f"{m} {v['value']:.6f}" for m, v in s.metrics.items())
            lines.append(f"suite {name} ({s.label}, {s.samples} samples) fingerprint {s.fingerprint}: {values}")
        lines += [f"caution: {line}" for line in self.verdict.get("cautions", ())]
        lines.append(f"record {FOLDER}/{self.tag}.json; signed-off commit {self.commit}")
        return "\n".join(lines + (["", self.message] if self.message else []))


@dataclass(frozen=True)
class VerifyItem:
    """One re-checked item: whether it matches, and its recorded and current values."""

    item: str
    ok: bool
    recorded: str
    now: str
    warn: bool = False
    """Reported, not failed (an unsigned tag without ``--require-signed``)."""


@dataclass(frozen=True)
class Verification:
    """A sign-off read from its tag, and every item re-checked."""

    record: SignoffRecord
    tagged_commit: str
    items: tuple[VerifyItem, ...]

    @property
    def passed(self) -> bool:
        """True when every item matches."""
        return all(i.ok for i in self.items)

    def lines(self) -> list[str]:
        """A header, one ``ok`` / ``MISMATCH`` line per item, and a conclusion."""
        r, bad = self.record, sum(not i.ok for i in self.items)
        body = [(f"warning   {i.item}: {i.now}" if i.warn else f"ok        {i.item}: {i.now}") if i.ok
                else f"MISMATCH  {i.item}: recorded {i.recorded}, now {i.now}" if i.recorded
                else f"MISMATCH  {i.item}: {i.now}" for i in self.items]
        tail = f"verified: all {len(self.items)} items match" if not bad else \
            f"does NOT verify: {bad} of {len(self.items)} items differ"
        return [(f"mm-gate: sign-off {r.tag} (tag on {self.tagged_commit[:7]}, signed-off commit {r.commit[:7]}, "
                 f"created {r.created})"), *body, f"mm-gate: sign-off {r.tag} {tail}"]
