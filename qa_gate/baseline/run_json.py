"""The JSON form of a stored run: what a baseline file holds, and its reading back."""

from __future__ import annotations

import json
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import numpy as np

from qa_gate.errors import BaselineError
from qa_gate.results import (
    CheckpointInfo,
    MetricResult,
    RunResult,
    SampleInfo,
    SuiteResult,
)

FORMAT = "qa-gate-baseline"
VERSION = 1


class UnreadableBaseline(BaselineError):
    """A stored baseline that exists but cannot be read or parsed; a baseline update replaces it."""


def run_to_json(run: RunResult) -> dict[str, Any]:
    """A stored baseline: aggregates, per-sample statistics, fingerprints, environment.

    A suite's ``skipped`` metrics (name -> reason) appear only when there are some, so
    a run reaches pytest-xdist workers whole and older files stay as they were.
    """
    return {
        "format": FORMAT,
        "version": VERSION,
        "created": run.created,
        "checkpoint": vars(run.checkpoint).copy(),
        "environment": dict(run.environment),
        "suites": {
            suite.name: {
                "label": suite.label,
                "fingerprint": suite.fingerprint,
                "samples": [{"id": s.id, "text": s.text, "tags": dict(s.tags),
                             **({} if s.output is None else {"output": s.output})} for s in suite.samples],
                "metrics": {
                    m.name: {
                        "value": m.value,
                        "higher_is_better": m.higher_is_better,
                        "fingerprint": m.fingerprint,
                        "definition": dict(m.definition),
                        "per_sample": list(m.per_sample),
                        "stats": m.stats.tolist(),
                    }
                    for m in suite.metrics.values()
                },
                **({"skipped": dict(suite.skipped)} if suite.skipped else {}),
            }
            for suite in run.suites
        },
    }


def run_from_json(data: Any, source: str) -> RunResult:
    """Parse a stored baseline; :class:`UnreadableBaseline` naming ``source`` when it is malformed."""
    if not isinstance(data, Mapping) or data.get("format") != FORMAT:
        raise UnreadableBaseline(f"{source}: not a qa_gate baseline (expected \"format\": \"{FORMAT}\")")
    if data.get("version") != VERSION:
        raise UnreadableBaseline(f"{source}: baseline version {data.get('version')!r} is not supported "
                                 f"(expected {VERSION})")
    try:
        suites = tuple(_suite_from_json(name, body) for name, body in data["suites"].items())
        return RunResult(
            checkpoint=CheckpointInfo(**data["checkpoint"]),
            environment=MappingProxyType(dict(data["environment"])),
            suites=suites,
            created=str(data["created"]),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise UnreadableBaseline(f"{source}: malformed baseline ({type(exc).__name__}: {exc})") from None


def _suite_from_json(name: str, body: Mapping[str, Any]) -> SuiteResult:
    samples = tuple(SampleInfo(s["id"], s["text"], MappingProxyType(dict(s["tags"])), s.get("output"))
                    for s in body["samples"])
    metrics = {}
    for metric_name, m in body["metrics"].items():
        stats = np.asarray(m["stats"], dtype=np.float64).reshape(len(samples), -1)
        metrics[metric_name] = MetricResult(
            name=metric_name, value=float(m["value"]), higher_is_better=bool(m["higher_is_better"]),
            fingerprint=str(m["fingerprint"]), definition=MappingProxyType(dict(m["definition"])),
            stats=stats, per_sample=tuple(float(v) for v in m["per_sample"]),
        )
    skipped = body.get("skipped", {})
    if not isinstance(skipped, Mapping) or not all(isinstance(v, str) for v in skipped.values()):
        raise TypeError(f"suite '{name}': 'skipped' must map metric names to reasons")
    return SuiteResult(name, str(body["label"]), str(body["fingerprint"]), samples, MappingProxyType(metrics),
                       MappingProxyType({str(k): v for k, v in skipped.items()}))


def dumps(run: RunResult) -> str:
    """The baseline file's text: stable key order, one trailing newline."""
    return json.dumps(run_to_json(run), indent=1, sort_keys=True) + "\n"
