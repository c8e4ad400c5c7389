"""The stored form of a run: what a baseline holds, and its reading back.

Version 2 (written): ``baseline.json`` holds the aggregates, fingerprints, definitions and environment, and
names its per-sample file (``baseline.samples.npz``, :mod:`qa_gate.baseline.sidecar`) with its sha256, so a
JSON never silently pairs with another run's per-sample file. Version 1 (one JSON file holding the per-sample
statistics too, 552 B a sample) is still read, and :func:`dumps` still writes it for small hand-made files.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any

import numpy as np

from qa_gate.baseline.canonical import canonical_dumps
from qa_gate.baseline.sidecar import SidecarInvalid, SuiteSamples, decode_samples, encode_samples
from qa_gate.errors import BaselineError
from qa_gate.results import (
    CheckpointInfo,
    MetricResult,
    RunResult,
    SampleInfo,
    SuiteResult,
)

FORMAT = "qa-gate-baseline"
VERSION = 2
SINGLE_FILE = 1
"""The version of a baseline that is one JSON file, per-sample statistics included (still read)."""
LFS_POINTER = b"version https://git-lfs"
_PLAIN_NAME = re.compile(r"[^/\\]+\.npz")

SampleFiles = Callable[[str], tuple[str, Sequence[bytes]]]
"""Given the per-sample file's name a JSON records: how that file is shown in messages, and its candidate
contents, in order of preference (none when it is missing)."""


class UnreadableBaseline(BaselineError):
    """A stored baseline that exists but cannot be read or parsed; a baseline update replaces it."""


# -- version 1: one file ---------------------------------------------------------------------------------


def run_to_json(run: RunResult) -> dict[str, Any]:
    """A whole run as one JSON document (version 1): aggregates, per-sample statistics, fingerprints, environment.

    A suite's ``skipped`` metrics (name -> reason) appear only when there are some, so
    a run reaches pytest-xdist workers whole and older files stay as they were.
    """
    return {
        **_head(run), "version": SINGLE_FILE,
        "suites": {
            suite.name: {
                **_suite_head(suite),
                "samples": [{"id": s.id, "text": s.text, "tags": dict(s.tags),
                             **({} if s.output is None else {"output": s.output})} for s in suite.samples],
                "metrics": {m.name: {**_metric_head(m), "per_sample": list(m.per_sample), "stats": m.stats.tolist()}
                            for m in suite.metrics.values()},
            }
            for suite in run.suites
        },
    }


def dumps(run: RunResult) -> str:
    """The single-file (version 1) baseline text: stable key order, one trailing newline."""
    return canonical_dumps(run_to_json(run)) + "\n"


def run_from_json(data: Any, source: str) -> RunResult:
    """Parse a single-file (version 1) baseline; :class:`UnreadableBaseline` naming ``source`` when malformed."""
    _check_format(data, source, (SINGLE_FILE,))
    return _run(data, source, _v1_suite)


def _v1_suite(name: str, body: Mapping[str, Any]) -> SuiteResult:
    samples = tuple(SampleInfo(s["id"], s["text"], MappingProxyType(dict(s["tags"])), s.get("output"))
                    for s in body["samples"])
    metrics = {}
    for metric_name, m in body["metrics"].items():
        stats = np.asarray(m["stats"], dtype=np.float64).reshape(len(samples), -1)
        metrics[metric_name] = _metric(metric_name, m, stats, tuple(float(v) for v in m["per_sample"]))
    return _suite(name, body, samples, metrics)


# -- version 2: the JSON and its per-sample file -------------------------------------------------------


@dataclass(frozen=True)
class Encoded:
    """A baseline as written: the JSON's bytes, and the per-sample file's name and bytes."""

    text: bytes
    samples_name: str
    samples: bytes


def encode(run: RunResult, samples_name: str) -> Encoded:
    """``run`` as a version-2 pair; the JSON records ``samples_name``, its size and sha256."""
    blob, precision = encode_samples(run)
    data = {
        **_head(run), "version": VERSION,
        "samples_file": {"name": samples_name, "sha256": hashlib.sha256(blob).hexdigest(), "bytes": len(blob)},
        "suites": {
            suite.name: {
                **_suite_head(suite), "samples": len(suite.samples),
                "metrics": {m.name: {**_metric_head(m), "columns": int(np.shape(m.stats)[1]),
                                     "per_sample_precision": precision[(suite.name, m.name)]}
                            for m in suite.metrics.values()},
            }
            for suite in run.suites
        },
    }
    text = canonical_dumps(data) + "\n"
    return Encoded(text.encode("utf-8"), samples_name, blob)


def parse_baseline(data: bytes, source: str, sample_files: SampleFiles, *, per_sample: bool = True) -> RunResult:
    """A stored baseline of either version from the JSON's bytes; a version-2 JSON's per-sample file comes from
    ``sample_files``. Every problem is one :class:`UnreadableBaseline` line naming the file and the way out.

    ``per_sample=False`` reads the aggregates only (a trend's points): no per-sample file is read, and the
    run's suites have no samples and empty statistics.
    """
    if data.startswith(LFS_POINTER):
        raise UnreadableBaseline(f"{source}: is a Git LFS pointer; keep the baseline out of LFS")
    try:
        parsed = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise UnreadableBaseline(f"{source}: not UTF-8 text ({exc})") from None
    except json.JSONDecodeError as exc:
        raise UnreadableBaseline(f"{source}: invalid JSON at line {exc.lineno} column {exc.colno}: "
                                 f"{exc.msg}") from None
    _check_format(parsed, source, (SINGLE_FILE, VERSION))
    if parsed["version"] == SINGLE_FILE:
        run = run_from_json(parsed, source)
        return run if per_sample else _aggregates(run)
    if not per_sample:
        return _run(parsed, source, lambda name, body: _suite(name, body, (), {
            m: _metric(m, entry, np.zeros((0, int(entry["columns"]))), ()) for m, entry in body["metrics"].items()}))
    suites = _read_samples(parsed, source, sample_files)
    return _run(parsed, source, lambda name, body: _v2_suite(name, body, suites))


def _aggregates(run: RunResult) -> RunResult:
    """``run`` without its per-sample data (what ``per_sample=False`` gives)."""
    def bare(m: MetricResult) -> MetricResult:
        return replace(m, stats=np.zeros((0, np.shape(m.stats)[1])), per_sample=())

    suites = tuple(replace(s, samples=(), metrics=MappingProxyType({n: bare(m) for n, m in s.metrics.items()}))
                   for s in run.suites)
    return replace(run, suites=suites)


def _read_samples(data: Mapping[str, Any], source: str, sample_files: SampleFiles) -> dict[str, SuiteSamples]:
    """The per-sample data the JSON names, from the candidate whose sha256 it records."""
    entry = data.get("samples_file")
    name = entry.get("name") if isinstance(entry, Mapping) else None
    digest = entry.get("sha256") if isinstance(entry, Mapping) else None
    if not isinstance(name, str) or not _PLAIN_NAME.fullmatch(name) or not isinstance(digest, str):
        raise UnreadableBaseline(f"{source}: malformed baseline (samples_file: expected a file name ending in .npz "
                                 f"beside it and its sha256, got {entry!r})")
    shown, candidates = sample_files(name)
    if not candidates:
        raise UnreadableBaseline(f"{shown}: missing; {source} keeps its per-sample statistics there (a baseline "
                                 f"is two files: commit {name} with it)")
    if candidates[0].startswith(LFS_POINTER):
        raise UnreadableBaseline(f"{shown}: is a Git LFS pointer; keep the baseline out of LFS (in .gitattributes: "
                                 f"{name} -filter -diff -merge -text)")
    blob = next((c for c in candidates if hashlib.sha256(c).hexdigest() == digest), None)
    if blob is None:
        found = hashlib.sha256(candidates[0]).hexdigest()
        raise UnreadableBaseline(f"{shown}: does not belong to {source} (sha256 {found[:12]}, the JSON records "
                                 f"{digest[:12]}): the two files were not written or committed together; restore "
                                 "both from one commit")
    try:
        return decode_samples(blob)
    except SidecarInvalid as exc:
        raise UnreadableBaseline(f"{shown}: {exc}") from None


def _v2_suite(name: str, body: Mapping[str, Any], found: Mapping[str, SuiteSamples]) -> SuiteResult:
    per = found.get(name)
    if per is None:
        raise ValueError(f"suite '{name}' is not in the per-sample file")
    if len(per.samples) != body["samples"] or set(per.stats) != set(body["metrics"]):
        raise ValueError(f"suite '{name}': the per-sample file holds {len(per.samples)} samples of "
                         f"{sorted(per.stats)}, the JSON says {body['samples']} of {sorted(body['metrics'])}")
    metrics = {}
    for metric_name, m in body["metrics"].items():
        stats = per.stats[metric_name]
        if stats.shape[1] != m["columns"]:
            raise ValueError(f"suite '{name}', metric '{metric_name}': {stats.shape[1]} columns of statistics, "
                             f"the JSON says {m['columns']}")
        metrics[metric_name] = _metric(metric_name, m, stats, per.per_sample[metric_name])
    return _suite(name, body, per.samples, metrics)


# -- shared parts ----------------------------------------------------------------------------------------


def same_content(one: RunResult, other: RunResult) -> bool:
    """Whether two runs store as the same baseline (whatever version or formatting they were read from)."""
    return encode(one, "x.npz") == encode(other, "x.npz")


def _head(run: RunResult) -> dict[str, Any]:
    return {"format": FORMAT, "created": run.created, "checkpoint": vars(run.checkpoint).copy(),
            "environment": dict(run.environment)}


def _suite_head(suite: SuiteResult) -> dict[str, Any]:
    return {"label": suite.label, "fingerprint": suite.fingerprint,
            **({"skipped": dict(suite.skipped)} if suite.skipped else {})}


def _metric_head(metric: MetricResult) -> dict[str, Any]:
    return {"value": metric.value, "higher_is_better": metric.higher_is_better, "fingerprint": metric.fingerprint,
            "definition": dict(metric.definition)}


def _check_format(data: Any, source: str, versions: tuple[int, ...]) -> None:
    if not isinstance(data, Mapping) or data.get("format") != FORMAT:
        raise UnreadableBaseline(f"{source}: not a qa_gate baseline (expected \"format\": \"{FORMAT}\")")
    if data.get("version") not in versions:
        expected = " or ".join(str(v) for v in versions)
        raise UnreadableBaseline(f"{source}: baseline version {data.get('version')!r} is not supported "
                                 f"(expected {expected})")


def _run(data: Mapping[str, Any], source: str,
         suite_of: Callable[[str, Mapping[str, Any]], SuiteResult]) -> RunResult:
    try:
        suites = tuple(suite_of(name, body) for name, body in data["suites"].items())
        return RunResult(
            checkpoint=CheckpointInfo(**data["checkpoint"]),
            environment=MappingProxyType(dict(data["environment"])),
            suites=suites,
            created=str(data["created"]),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise UnreadableBaseline(f"{source}: malformed baseline ({type(exc).__name__}: {exc})") from None


def _metric(name: str, m: Mapping[str, Any], stats: np.ndarray, per_sample: tuple[float, ...]) -> MetricResult:
    return MetricResult(name=name, value=float(m["value"]), higher_is_better=bool(m["higher_is_better"]),
                        fingerprint=str(m["fingerprint"]), definition=MappingProxyType(dict(m["definition"])),
                        stats=stats, per_sample=per_sample)


def _suite(name: str, body: Mapping[str, Any], samples: tuple[SampleInfo, ...],
           metrics: Mapping[str, MetricResult]) -> SuiteResult:
    skipped = body.get("skipped", {})
    if not isinstance(skipped, Mapping) or not all(isinstance(v, str) for v in skipped.values()):
        raise TypeError(f"suite '{name}': 'skipped' must map metric names to reasons")
    return SuiteResult(name, str(body["label"]), str(body["fingerprint"]), samples, MappingProxyType(dict(metrics)),
                       MappingProxyType({str(k): v for k, v in skipped.items()}))

