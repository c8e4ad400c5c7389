"""Hand-made runs, configs and verdicts on one suite ``shapes`` (golden/shapes), for tests below scoring.

One builder makes both shapes the tests use:

- :func:`make_run` / :func:`make_config`: four samples (two red, two blue), any metrics, chosen
  fingerprints and direction (the gate's and the baseline stores' tests);
- :func:`one_metric_run` / :func:`one_metric_config`: six samples tagged by colour, one metric, a
  realistic checkpoint and environment (the report tests), with :func:`judge` and :func:`history`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType

import numpy as np

from qa_gate.baseline.changes import HistoryPoint
from qa_gate.config.model import (
    GateConfig,
    MetricConfig,
    ModelConfig,
    Rule,
    SliceConfig,
    SuiteConfig,
)
from qa_gate.results import (
    CheckpointInfo,
    MetricResult,
    RunResult,
    SampleInfo,
    SuiteResult,
)
from qa_gate.verdict.checks import Verdict
from qa_gate.verdict.gate import evaluate

TAGS = ({"colour": "red"}, {"colour": "red"}, {"colour": "blue"}, {"colour": "blue"})
"""The slice tags of :func:`make_run`'s four samples."""

COLOURS = ("red", "red", "blue", "blue", "green", "green")
"""The colours of :func:`one_metric_run`'s six samples."""

BASE = [0.80] * 6
WORSE = [0.50, 0.55, 0.74, 0.75, 0.74, 0.75]
HOSTILE = "a | b <script>alert(1)</script> @octocat #12\n- `x`\r\n" + "y" * 5000
REGRESSION_RULES = (Rule("min", 0.6), Rule("max_drop", 0.02), Rule("max_drop_pct", 3.0, "strict"))
RED_SLICE = SliceConfig("colour=red", "colour", "red", (MetricConfig("clipscore", rules=(Rule("max_drop", 0.02),)),))


def build_run(values: Mapping[str, Sequence[float]], texts: Sequence[str], tags: Sequence[Mapping[str, str]], *,
              checkpoint: CheckpointInfo, environment: Mapping[str, str], created: str,
              suite_fp: str, metric_fp: str, higher: bool = True) -> RunResult:
    """A run of suite ``shapes``: one sample per text (``s0``, ``s1``, ...), one metric per entry of
    ``values`` whose per-sample values are its one-column statistics."""
    metrics = {}
    for name, per in values.items():
        stats = np.asarray(per, dtype=np.float64).reshape(-1, 1)
        metrics[name] = MetricResult(name, float(stats.mean()), higher, metric_fp, {"metric": name}, stats,
                                     tuple(per))
    samples = tuple(SampleInfo(f"s{i}", text, MappingProxyType(dict(tags[i]))) for i, text in enumerate(texts))
    suite = SuiteResult("shapes", "golden/shapes", suite_fp, samples, MappingProxyType(metrics))
    return RunResult(checkpoint, environment, (suite,), created)


def build_config(rules: Mapping[str, Sequence[Rule]], slices: Sequence[SliceConfig] = (),
                 resamples: int = 10000) -> GateConfig:
    """A config gating suite ``shapes`` with ``rules`` per metric, and optional slice rules."""
    metrics = tuple(MetricConfig(name, rules=tuple(r)) for name, r in rules.items())
    suite = SuiteConfig("shapes", Path("golden/shapes"), "golden/shapes", metrics, tuple(slices))
    return GateConfig(Path("thresholds.yaml"), 1, ModelConfig("open_clip", "ckpt"), (suite,),
                      Path("baseline.json"), None, resamples=resamples)


def make_run(values: dict[str, list[float]], suite_fp: str = "suite-fp", metric_fp: str = "m-fp",
             higher: bool = True) -> RunResult:
    """Four samples (``caption 0`` ... ``caption 3``, tagged by :data:`TAGS`) scored on ``values``."""
    return build_run(values, [f"caption {i}" for i in range(len(TAGS))], TAGS,
                     checkpoint=CheckpointInfo("open_clip", "ckpt", "abc", "tiny"), environment={},
                     created="2026-01-01T00:00:00", suite_fp=suite_fp, metric_fp=metric_fp, higher=higher)


def make_config(rules: dict[str, list[Rule]]) -> GateConfig:
    """A config gating each metric of ``rules`` on ``shapes`` (default resamples)."""
    return build_config(rules)


def one_metric_run(values: Sequence[float], texts: Sequence[str] | None = None, sha: str = "a1" * 32,
                   created: str = "2025-01-02T03:04:05Z", metric: str = "clipscore") -> RunResult:
    """One metric with per-sample ``values`` on samples tagged by :data:`COLOURS` (texts ``a red square``, ...)."""
    texts = texts or [f"a {c} square" for c in COLOURS]
    tags = [{"colour": COLOURS[i % len(COLOURS)]} for i in range(len(texts))]
    return build_run({metric: values}, texts, tags,
                     checkpoint=CheckpointInfo("open_clip", "ckpt/model.safetensors", sha, "ViT-B-32"),
                     environment=MappingProxyType({"torch": "2.5.1", "device": "cpu"}), created=created,
                     suite_fp="5f1e", metric_fp="m0f1")


def one_metric_config(rules: Sequence[Rule] = REGRESSION_RULES, slices: Sequence[SliceConfig] = (),
                      resamples: int = 1000) -> GateConfig:
    """A config gating ``clipscore`` on ``shapes`` with ``rules``, and optional slice rules."""
    return build_config({"clipscore": rules}, slices, resamples)


def judge(candidate: Sequence[float] = WORSE, baseline: Sequence[float] | None = BASE,
          rules: Sequence[Rule] = REGRESSION_RULES, slices: Sequence[SliceConfig] = (),
          texts: Sequence[str] | None = None) -> Verdict:
    """The gate's verdict on ``candidate`` against ``baseline`` (``None``: no baseline)."""
    base = None if baseline is None else one_metric_run(baseline, texts, sha="b2" * 32)
    return evaluate(one_metric_run(candidate, texts), base, one_metric_config(rules, slices), "file:baseline.json")


def history(values: Sequence[float]) -> tuple[HistoryPoint, ...]:
    """Earlier baselines, oldest first, each a run whose samples all score one of ``values``."""
    return tuple(HistoryPoint(f"c{i:06x}", f"2025-01-{i % 28 + 1:02d}", one_metric_run([v] * 6))
                 for i, v in enumerate(values))
