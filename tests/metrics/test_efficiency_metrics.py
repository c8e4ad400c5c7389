"""Efficiency metrics: aggregates against numpy on hand-made batches, and end to end on a tiny CLIP."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
from support.project import build_tiny_project, write_thresholds

from qa_gate.metrics.efficiency import (
    LatencyP50,
    LatencyP95,
    PeakMemory,
    Throughput,
    batch_rows,
)
from qa_gate.metrics.registry import get_metric
from qa_gate.scoring.stopwatch import cpu_label, cpu_model

BATCHES = [(0.020, 4), (0.050, 4), (0.011, 4), (0.090, 4), (0.030, 2)]  # (seconds, size)


def test_aggregates_reproduce_the_batch_statistics() -> None:
    stats = batch_rows(BATCHES)
    latencies_ms = np.array([s for s, _ in BATCHES]) * 1000
    assert stats.shape == (18, 3)
    # numpy.percentile's default (linear) interpolation over the batches, not over the rows
    assert LatencyP50().aggregate(stats) == pytest.approx(np.percentile(latencies_ms, 50, method="linear"))
    assert LatencyP95().aggregate(stats) == pytest.approx(np.percentile(latencies_ms, 95, method="linear"))
    assert Throughput().aggregate(stats) == pytest.approx(18 / sum(s for s, _ in BATCHES))
    memory = np.array([[512.0]] * 18)
    assert PeakMemory().aggregate(memory) == 512.0


def test_aggregates_are_vectorised_over_resamples() -> None:
    stats = batch_rows(BATCHES)
    rng = np.random.default_rng(0)
    draws = rng.integers(0, len(stats), size=(7, len(stats)))
    for metric in (LatencyP50(), LatencyP95(), Throughput()):
        together = metric.aggregate(stats[draws])
        one_by_one = [metric.aggregate(stats[d]) for d in draws]
        assert together.shape == (7,)
        np.testing.assert_allclose(together, one_by_one)
    # a resample counts each batch present once in the percentiles
    present = [sorted({int(stats[i, 2]) for i in d}) for d in draws]
    expected = [np.percentile(np.array([BATCHES[b][0] for b in p]) * 1000, 95) for p in present]
    np.testing.assert_allclose(LatencyP95().aggregate(stats[draws]), expected)
    assert PeakMemory().aggregate(np.arange(6.0).reshape(2, 3, 1)).tolist() == [2.0, 5.0]


def test_directions_and_family() -> None:
    names = ("latency_p50_ms", "latency_p95_ms", "throughput", "peak_memory_mb")
    metrics = [get_metric(n) for n in names]
    assert [m.family for m in metrics] == ["efficiency"] * 4
    assert [m.higher_is_better for m in metrics] == [False, False, True, False]


def _thresholds(root: Path, p50_max: float, name: str = "thresholds.yaml") -> Path:
    """The tiny project gated on CLIPScore and the four efficiency metrics, ``p50_max`` the latency ceiling."""
    metrics = {"clipscore": {"min": 0.0}, "latency_p50_ms": {"max": p50_max}, "latency_p95_ms": {"max_drop": 1000},
               "throughput": {"min": 0.001}, "peak_memory_mb": {"max": 1000000}}
    return write_thresholds(root, model={"adapter": "open_clip", "checkpoint": "ckpt", "batch_size": 4},
                            suites={"tiny": {"path": "golden/tiny", "metrics": metrics}},
                            baseline={"path": "baselines/baseline.json"}, name=name)


@pytest.fixture(scope="module")
def scored(tmp_path_factory: pytest.TempPathFactory, tiny_open_clip: Path):
    from qa_gate.pipeline import prepare, score

    root = tmp_path_factory.mktemp("efficiency")
    build_tiny_project(root, tiny_open_clip)
    prepared = prepare(_thresholds(root, p50_max=1e9))
    return root, prepared, score(prepared)


def test_another_thread_count_is_another_device() -> None:
    import torch

    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = cpu_label()
        torch.set_num_threads(2)
        assert cpu_label() != one
    finally:
        torch.set_num_threads(threads)


def test_measured_on_the_tiny_model(scored) -> None:
    _, prepared, run = scored
    suite = run.suite("tiny")
    n = len(prepared.suites[0].samples)
    for name in ("latency_p50_ms", "latency_p95_ms", "throughput", "peak_memory_mb"):
        value = suite.metrics[name].value
        assert math.isfinite(value) and value > 0, name
        definition = suite.metrics[name].definition
        assert (definition["device"], definition["batch_size"]) == (cpu_label(), 4)
        assert definition["device"].startswith(f"cpu:{cpu_model()}, ") and "threads" in definition["device"]
        assert definition["autocast"] == "off (float32)" and "settings" not in definition
    assert suite.metrics["latency_p50_ms"].definition["timed"] == "image encoding per batch, wall clock"
    stats = suite.metrics["latency_p95_ms"].stats
    assert len(np.unique(stats[:, 2])) == math.ceil(n / 4)
    assert suite.metrics["latency_p50_ms"].value <= suite.metrics["latency_p95_ms"].value
    assert suite.metrics["throughput"].value == pytest.approx(n / stats[:, 1].sum())


def test_a_baseline_from_another_device_is_incomparable(scored) -> None:
    from qa_gate.metrics.base import fingerprint
    from qa_gate.verdict.checks import Status
    from qa_gate.verdict.gate import evaluate

    _, prepared, run = scored
    suite = run.suite("tiny")
    metric = suite.metrics["latency_p95_ms"]
    same = evaluate(run, run, prepared.config)
    assert {c.status for c in same.checks if c.metric == "latency_p95_ms"} == {Status.PASS}

    forged = {**metric.definition, "device": "cuda:NVIDIA H100 80GB HBM3"}
    other = dataclasses.replace(metric, definition=forged, fingerprint=fingerprint(forged))
    base_suite = dataclasses.replace(suite, metrics={**suite.metrics, "latency_p95_ms": other})
    baseline = dataclasses.replace(run, suites=(base_suite,))
    verdict = evaluate(run, baseline, prepared.config)
    (check,) = [c for c in verdict.checks if c.metric == "latency_p95_ms"]
    assert check.rule.kind == "max_drop"
    assert check.status is Status.INCOMPARABLE and "metric definition changed" in check.message
    assert not verdict.passed
    from qa_gate.report.markdown import render_markdown

    assert "latency_p95_ms" in render_markdown(verdict).replace("\\_", "_")  # Markdown-escaped


def test_a_latency_ceiling_below_the_measurement_fails(scored) -> None:
    from qa_gate.config.load import load_config
    from qa_gate.verdict.checks import Status
    from qa_gate.verdict.gate import evaluate

    root, _, run = scored
    measured = run.suite("tiny").metrics["latency_p50_ms"].value
    verdict = evaluate(run, None, load_config(_thresholds(root, p50_max=measured / 2, name="strict.yaml")))
    (check,) = [c for c in verdict.checks if c.metric == "latency_p50_ms"]
    assert check.status is Status.FAIL and "max broken" in check.message
    assert not verdict.passed
