"""Builders for the predictions adapter's tests: gate a checkpoint, write its predictions, gate the file.

``gate_both`` scores a thresholds file directly, records that run as the baseline, runs
``mm-gate predict`` on it, then scores the written file (``adapter: predictions``) under the same
rules against the same baseline, so a test compares the two runs and verdicts value for value.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
DEMO_GOOD = REPO / "qa_gate" / "demo" / "checkpoints" / "good"


@dataclass(frozen=True)
class Both:
    """The checkpoint's run and verdict, and the predictions file's, judged against one baseline."""

    direct: Any
    direct_verdict: Any
    via_file: Any
    file_verdict: Any
    preds: Path
    thresholds: Path


def demo_suite(root: Path, suite: str, keep: int = 8) -> Path:
    """The first ``keep`` samples of the repository's demo suite ``suite`` copied to ``root/golden/<suite>``."""
    from qa_gate.golden.suite import write_hashes

    target = root / "golden" / suite
    shutil.copytree(REPO / "golden" / suite, target)
    data = yaml.safe_load((target / "manifest.yaml").read_text(encoding="utf-8"))
    data["samples"] = data["samples"][:keep]
    (target / "manifest.yaml").write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    kept = {s["image"] for s in data["samples"]}
    for image in (target / "images").iterdir():
        if f"images/{image.name}" not in kept:
            image.unlink()
    write_hashes(target)
    return target


def predictions_thresholds(thresholds: Path, preds: Path, name: str = "preds.yaml",
                           model_id: str = "tiny@test") -> Path:
    """A copy of ``thresholds`` (beside it) whose model is the predictions file ``preds`` (device, dtype and
    batch size kept: a ``scorer`` runs in the model's batches, and batching changes float sums)."""
    data = yaml.safe_load(thresholds.read_text(encoding="utf-8"))
    kept = {k: v for k, v in data["model"].items() if k in ("device", "dtype", "batch_size")}  # the scorer's
    data["model"] = {"adapter": "predictions", "checkpoint": str(preds), "options": {"model_id": model_id}, **kept}
    path = thresholds.with_name(name)
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def gate_both(thresholds: Path, out: str = "preds.jsonl") -> Both:
    """Score ``thresholds``, record it as the baseline, write its predictions to ``out`` (beside it), score
    the file; both verdicts are judged against the recorded baseline."""
    from qa_gate.adapters.predictions.write import predict
    from qa_gate.config.model import Overrides
    from qa_gate.pipeline import judge, prepare, record_baseline, score

    prepared = prepare(thresholds, Overrides(no_cache=True))
    direct = score(prepared)
    record_baseline(prepared.config, judge(prepared, direct, update_baseline=True))
    preds = thresholds.parent / out
    predict(thresholds, Overrides(), preds)
    other = prepare(predictions_thresholds(thresholds, preds))
    via_file = score(other)
    return Both(direct, judge(prepare(thresholds), direct), via_file, judge(other, via_file), preds, thresholds)


def assert_same_numbers(both: Both) -> None:
    """Every metric, per-sample value, statistic, definition and shown output equal; the same check outcomes."""
    import numpy as np

    assert [s.name for s in both.direct.suites] == [s.name for s in both.via_file.suites]
    for ours, theirs in zip(both.direct.suites, both.via_file.suites):
        assert list(ours.metrics) == list(theirs.metrics), ours.name
        assert dict(ours.skipped) == dict(theirs.skipped) == {}, ours.name
        for name, metric in ours.metrics.items():
            other = theirs.metrics[name]
            assert other.value == metric.value, (ours.name, name)
            assert other.per_sample == metric.per_sample, (ours.name, name)
            assert np.array_equal(other.stats, metric.stats), (ours.name, name)
            assert other.definition == metric.definition, (ours.name, name)
        assert [s.output for s in ours.samples] == [s.output for s in theirs.samples], ours.name
    assert both.direct_verdict.passed == both.file_verdict.passed
    assert [(c.id, c.status) for c in both.direct_verdict.checks] == \
        [(c.id, c.status) for c in both.file_verdict.checks]


def write_jsonl(path: Path, rows: Sequence[Mapping[str, Any] | str]) -> Path:
    """``rows`` as JSON Lines (a ``str`` row is written as it is: a broken line)."""
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return path
