"""How the per-sample file stores each column, and that storing continuous scores as float32 changes no verdict."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pytest
from test_baseline_pair import demo_like_run

from qa_gate.baseline.file import FileBaselineStore
from qa_gate.baseline.sidecar import _encode_column, _Members, _Reader, _zip
from qa_gate.config.model import GateConfig, MetricConfig, ModelConfig, Rule, SliceConfig, SuiteConfig
from qa_gate.results import MetricResult, RunResult
from qa_gate.verdict.gate import evaluate

REPO = Path(__file__).resolve().parents[2]


def _round_trip(values: np.ndarray) -> tuple[dict, np.ndarray]:
    members = _Members()
    entry, _ = _encode_column(np.asarray(values, dtype=np.float64), members)
    reader = _Reader(_zip(members.arrays))
    stored = {name: reader.array(name) for name in members.arrays}
    return {**entry, "dtypes": sorted(a.dtype.name for a in stored.values())}, reader.column(entry, len(values))


@pytest.mark.parametrize(("values", "kind", "dtypes"), [
    ([0.0, 1.0, 1.0, 0.0], "int", ["uint8"]),  # 0/1 hits
    ([1, 70000, 3, 2], "int", ["uint32"]),  # ranks of a large suite
    ([-3, 5, 100], "int", ["int8"]),
    (np.arange(300) % 6 / 3 * 0.9, "codes", ["float64", "uint8"]),  # few distinct values, no float32 numbers
    ([np.nan, 1.0, 2.0, np.nan], "codes", ["float64", "uint8"]),  # NaN-padded ranks
    (np.arange(2000) * 0.25, "float32", ["float32"]),  # float32 numbers: kept exactly
    (np.append(np.random.default_rng(1).random(1999), 1e300), "float64", ["float64"]),  # beyond float32's range
])
def test_lossless_columns_come_back_bit_for_bit(values, kind: str, dtypes: list[str]) -> None:
    entry, back = _round_trip(np.asarray(values, dtype=np.float64))
    assert entry["kind"] == kind and entry["dtypes"] == dtypes and not entry.get("rounded")
    np.testing.assert_array_equal(back, np.asarray(values, dtype=np.float64))


def test_continuous_scores_are_rounded_to_float32() -> None:
    values = np.random.default_rng(0).normal(0.3, 0.05, 1000)
    entry, back = _round_trip(values)
    assert entry["kind"] == "float32" and entry["rounded"] and entry["dtypes"] == ["float32"]
    np.testing.assert_array_equal(back, values.astype(np.float32).astype(np.float64))  # to nearest
    assert 0 < np.max(np.abs(back - values) / np.abs(values)) <= 2.0 ** -24


def test_tags_of_any_scalar_type_come_back_as_they_were(tmp_path: Path) -> None:
    run = demo_like_run(8)
    suite = run.suites[0]
    odd = [MappingProxyType({"k": v}) for v in (1, True, "1", 1.5, None, "1", True, 1)]
    samples = tuple(dataclasses.replace(s, tags=t) for s, t in zip(suite.samples, odd))
    run = dataclasses.replace(run, suites=(dataclasses.replace(suite, samples=samples),))
    store = FileBaselineStore(tmp_path / "baseline.json")
    store.write(run)
    back = [dict(s.tags)["k"] for s in store.read().suites[0].samples]
    assert back == [1, True, "1", 1.5, None, "1", True, 1]
    assert [type(v) for v in back] == [int, bool, str, float, type(None), str, bool, int]


def _config(resamples: int = 2000) -> GateConfig:
    red = SliceConfig("colour=red", "colour", "red", (MetricConfig("clipscore", rules=(Rule("max_drop", 0.02),)),))
    metrics = (
        MetricConfig("clipscore", rules=(Rule("min", 0.5), Rule("max_drop", 0.02))),
        MetricConfig("refclipscore", rules=(Rule("max_drop", 0.01, "strict", 0.99),)),
        MetricConfig("cosine", rules=(Rule("max_drop_pct", 2.0),)),
        MetricConfig("zeroshot_top1", rules=(Rule("min", 0.8), Rule("max_drop", 0.03))),
        MetricConfig("t2i_median_rank", rules=(Rule("max", 3.0),)),
        MetricConfig("vqa_accuracy", rules=(Rule("max_drop", 0.03),)),
    )
    suite = SuiteConfig("big", Path("golden/big"), "golden/big", metrics, (red,))
    return GateConfig(Path("thresholds.yaml"), 1, ModelConfig("open_clip", "ckpt"), (suite,), Path("baseline.json"),
                      None, resamples=resamples)


def _worse(run: RunResult, by: dict[str, float]) -> RunResult:
    """``run`` with the continuous scores of the metrics in ``by`` lowered by a fraction, per sample."""
    suite = run.suites[0]
    metrics = dict(suite.metrics)
    for name, fraction in by.items():
        m = metrics[name]
        stats = m.stats * (1 - fraction)
        metrics[name] = MetricResult(m.name, float(stats[:, 0].mean()), m.higher_is_better, m.fingerprint,
                                     m.definition, stats, tuple((np.asarray(m.per_sample) * (1 - fraction)).tolist()))
    return dataclasses.replace(run, suites=(dataclasses.replace(suite, metrics=MappingProxyType(metrics)),))


def test_the_float32_baseline_gives_the_float64_verdict(tmp_path: Path) -> None:
    baseline = demo_like_run(3000)
    store = FileBaselineStore(tmp_path / "baseline.json")
    store.write(baseline)
    stored = store.read()
    rounded_stats = stored.suites[0].metrics["clipscore"].stats
    assert not np.array_equal(rounded_stats, baseline.suites[0].metrics["clipscore"].stats)
    # a clear regression (clipscore: 0.03 of max_drop 0.02), one near its allowance (cosine: 1.9% of
    # max_drop_pct 2) and unchanged metrics
    candidate = _worse(demo_like_run(3000), {"clipscore": 0.04, "refclipscore": 0.002, "cosine": 0.019})
    config = _config()
    exact, rounded = evaluate(candidate, baseline, config), evaluate(candidate, stored, config)
    statuses = {c.id: c.status for c in exact.checks}
    assert statuses == {c.id: c.status for c in rounded.checks}
    assert {s.value for s in statuses.values()} >= {"pass", "fail"}  # both outcomes occur: the check means something
    for one, other in zip(exact.checks, rounded.checks):
        assert one.value == other.value
        if one.baseline is not None:
            assert other.baseline == pytest.approx(one.baseline, rel=1e-7, abs=1e-9)
        if one.estimate is not None:
            for field in ("drop", "low", "high"):
                assert getattr(other.estimate, field) == pytest.approx(getattr(one.estimate, field), rel=1e-6, abs=1e-7)
    assert [(d.slice, d.metric) for d in exact.slices] == [(d.slice, d.metric) for d in rounded.slices]
    for one, other in zip(exact.slices, rounded.slices):
        assert (other.low, other.high) == (pytest.approx(one.low, abs=1e-7), pytest.approx(one.high, abs=1e-7))


def test_the_demo_baseline_reads_and_keeps_its_values_in_the_pair(tmp_path: Path) -> None:
    demo = FileBaselineStore(REPO / "baselines" / "baseline.json").read()
    assert demo is not None and {s.name for s in demo.suites} == {"shapes", "retrieval", "vqa", "multilabel", "pope"}
    store = FileBaselineStore(tmp_path / "baseline.json")
    store.write(demo)
    back = store.read()
    for suite in demo.suites:
        other = back.suite(suite.name)
        assert other.samples == suite.samples
        for name, metric in suite.metrics.items():
            assert other.metrics[name].value == metric.value
            np.testing.assert_allclose(other.metrics[name].stats, metric.stats, rtol=2.0 ** -24, atol=0)


SINGLE_FILE_DEMO = "3c3ee6b"
"""A commit whose demo baseline is the single-file (version 1) form every baseline had before the pair."""


def test_the_single_file_demo_baseline_still_reads_and_matches_the_pair(tmp_path: Path) -> None:
    import subprocess

    shown = subprocess.run(["git", "-C", str(REPO), "show", f"{SINGLE_FILE_DEMO}:baselines/baseline.json"],
                           capture_output=True, check=False)
    if shown.returncode != 0:
        pytest.skip(f"commit {SINGLE_FILE_DEMO} is not in this clone (shallow?)")
    old_path = tmp_path / "old.json"
    old_path.write_bytes(shown.stdout)
    old = FileBaselineStore(old_path).read()
    new = FileBaselineStore(REPO / "baselines" / "baseline.json").read()
    assert json.loads(shown.stdout)["version"] == 1 and old is not None and new is not None
    for suite in old.suites:
        other = new.suite(suite.name)
        assert other is not None and other.fingerprint == suite.fingerprint and other.samples == suite.samples
        for name, metric in suite.metrics.items():
            assert other.metrics[name].fingerprint == metric.fingerprint
            assert other.metrics[name].value == pytest.approx(metric.value, rel=1e-7)
            np.testing.assert_allclose(other.metrics[name].stats, metric.stats, rtol=1e-6, atol=1e-7)


def test_any_text_comes_back_as_it_was(tmp_path: Path) -> None:
    run = demo_like_run(4)
    suite = run.suites[0]
    texts = ["日本語のキャプション", "emoji 🚀 \"quoted\"\n", "a lone \udc80 surrogate", ""]
    samples = tuple(dataclasses.replace(s, id=f"ид-{i}", text=t, output=t or None)
                    for i, (s, t) in enumerate(zip(suite.samples, texts)))
    run = dataclasses.replace(run, suites=(dataclasses.replace(suite, samples=samples),))
    store = FileBaselineStore(tmp_path / "baseline.json")
    store.write(run)
    assert store.read().suites[0].samples == samples
