"""What a release sign-off records in ``signoffs/<tag>.json``, and what verifying one reports."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from types import MappingProxyType
from typing import Any

from qa_gate.errors import GateError
from qa_gate.results import CheckpointInfo
from qa_gate.verdict.checks import Verdict

FORMAT, VERSION, FOLDER, MODE = "qa-gate-signoff", 1, "signoffs", "strict"


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

    @classmethod
    def from_verdict(cls, tag: str, commit: str, message: str | None, verdict: Verdict) -> SignoffRecord:
        """The record of a passing strict ``verdict`` on ``commit``, created now (UTC)."""
        checks = [{"id": c.id, "suite": c.suite, "metric": c.metric, "status": c.status.value, "value": c.value,
                   "baseline": c.baseline, "delta": c.delta, "message": c.message, "rule": {
                       "kind": c.rule.kind, "value": c.rule.value, "mode": None if c.rule.is_floor else c.rule.mode}}
                  for c in verdict.checks]
        suites = {s.name: SuiteRecord(s.label, s.fingerprint, len(s.samples), _frozen({
            m.name: {"value": m.value, "fingerprint": m.fingerprint, "definition": m.definition}
            for m in s.metrics.values()})) for s in verdict.run.suites}
        summary = {"passed": verdict.passed, "mode": MODE, "baseline_source": verdict.baseline_source,
                   "notes": verdict.notes, "checks": checks}
        return cls(tag, datetime.now(timezone.utc).isoformat(timespec="seconds"), commit, message,
                   _frozen(summary), verdict.run.checkpoint, MappingProxyType(suites),
                   _frozen(verdict.run.environment))

    def to_json(self) -> str:
        """The record file's text: stable key order, one trailing newline."""
        cp = self.checkpoint
        data = {"format": FORMAT, "version": VERSION, "tag": self.tag, "created": self.created,
                "commit": self.commit, "message": self.message, "verdict": self.verdict,
                "checkpoint": {"adapter": cp.adapter, "path": cp.checkpoint, "sha256": cp.sha256,
                               "model_name": cp.model_name},
                "suites": {n: {"label": s.label, "fingerprint": s.fingerprint, "samples": s.samples}
                           for n, s in self.suites.items()},
                "metrics": {n: s.metrics for n, s in self.suites.items()}, "environment": self.environment}
        return json.dumps(data, indent=1, sort_keys=True, default=dict) + "\n"

    @classmethod
    def from_json(cls, data: Any, source: str) -> SignoffRecord:
        """Parse a record; ``SignoffError`` naming ``source`` when it is not one."""
        if not isinstance(data, Mapping) or data.get("format") != FORMAT or data.get("version") != VERSION:
            raise SignoffError(f"{source}: not a version {VERSION} mm-gate sign-off record")
        try:
            cp, metrics = data["checkpoint"], data["metrics"]
            suites = {n: SuiteRecord(str(s["label"]), str(s["fingerprint"]), int(s["samples"]), _frozen(
                {m: {"value": float(v["value"]), "fingerprint": str(v["fingerprint"]), "definition": v["definition"]}
                 for m, v in metrics[n].items()})) for n, s in data["suites"].items()}
            checkpoint = CheckpointInfo(*(str(cp[k]) for k in ("adapter", "path", "sha256", "model_name")))
            return cls(str(data["tag"]), str(data["created"]), str(data["commit"]), data.get("message"),
                       _frozen(data["verdict"]), checkpoint, MappingProxyType(suites), _frozen(data["environment"]))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise SignoffError(f"{source}: malformed sign-off record ({type(exc).__name__}: {exc})") from None

    def summary(self) -> str:
        """The annotated tag's message: verdict, checkpoint hash, suite fingerprints, metric values."""
        cp, outcome = self.checkpoint, "PASSED" if self.verdict.get("passed") else "FAILED"
        lines = [(f"Sign off {self.tag}: mm-gate verdict {outcome} in {MODE} mode "
                  f"({len(self.verdict.get('checks', ()))} checks)"),
                 f"checkpoint {cp.checkpoint} ({cp.adapter}) sha256 {cp.sha256}"]
        for name, s in self.suites.items():
            values = ", ".join(f"{m} {v['value']:.6f}" for m, v in s.metrics.items())
            lines.append(f"suite {name} ({s.label}, {s.samples} samples) fingerprint {s.fingerprint}: {values}")
        lines.append(f"record {FOLDER}/{self.tag}.json; signed-off commit {self.commit}")
        return "\n".join(lines + (["", self.message] if self.message else []))


@dataclass(frozen=True)
class VerifyItem:
    """One re-checked item: whether it matches, and its recorded and current values."""

    item: str
    ok: bool
    recorded: str
    now: str


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
        body = [f"ok        {i.item}: {i.now}" if i.ok else f"MISMATCH  {i.item}: recorded {i.recorded}, now {i.now}"
                for i in self.items]
        tail = f"verified: all {len(self.items)} items match" if not bad else \
            f"does NOT verify: {bad} of {len(self.items)} items differ"
        return [(f"mm-gate: sign-off {r.tag} (tag on {self.tagged_commit[:7]}, signed-off commit {r.commit[:7]}, "
                 f"created {r.created})"), *body, f"mm-gate: sign-off {r.tag} {tail}"]
