"""Shadow tests' material: reference ("production") prediction files and hand-made runs of a shadow suite."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType

import numpy as np

from qa_gate.config.model import GateConfig, MetricConfig, ModelConfig, Rule, SuiteConfig
from qa_gate.results import CheckpointInfo, MetricResult, RunResult, SampleInfo, SuiteResult


def write_rows(path: Path, rows: Sequence[dict]) -> Path:
    """``rows`` as a JSON Lines predictions file."""
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def shadow_run(metrics: Mapping[str, tuple[Sequence[float], bool]], pairs: Mapping[str, Sequence[tuple[str, str]]],
               tags: Sequence[Mapping[str, str]], *, outputs: Sequence[str | None] | None = None,
               suite: str = "traffic", stats: Mapping[str, np.ndarray] | None = None) -> RunResult:
    """A run of one shadow suite: per metric its per-sample values and direction (``(values, higher)``), the
    ``(candidate, production)`` pairs it compared, the samples' tags and shown outputs; ``stats`` replaces a
    metric's one-column statistics (a ratio of sums)."""
    results = {}
    for name, (values, higher) in metrics.items():
        rows = np.asarray(values, dtype=np.float64).reshape(-1, 1) if stats is None or name not in stats \
            else stats[name]
        definition = {"metric": name, "production_sha256": "ab" * 32}
        results[name] = MetricResult(name, float(np.mean(values)), higher, f"fp-{name}", definition, rows,
                                     tuple(float(v) for v in values))
    samples = tuple(SampleInfo(f"s{i}", f"question {i}", MappingProxyType(dict(t)),
                               None if outputs is None else outputs[i]) for i, t in enumerate(tags))
    compared = MappingProxyType({name: tuple(p) for name, p in pairs.items()})
    result = SuiteResult(suite, f"golden/{suite}", "sfp", samples, MappingProxyType(results), MappingProxyType({}),
                         compared)
    return RunResult(CheckpointInfo("open_clip", "ckpt", "c3" * 32, "tiny"), MappingProxyType({}), (result,), "now")


def floors_config(run: RunResult, floors: Mapping[str, float]) -> GateConfig:
    """A config putting a ``min`` floor (``max`` for a lower-is-better metric) on each metric of ``floors``."""
    suite = run.suites[0]
    metrics = tuple(MetricConfig(name, rules=(Rule("min" if suite.metrics[name].higher_is_better else "max", v),))
                    for name, v in floors.items())
    return GateConfig(Path("thresholds.yaml"), 1, ModelConfig("open_clip", "ckpt"),
                      (SuiteConfig(suite.name, Path(suite.label), suite.label, metrics),), Path("baseline.json"),
                      None, resamples=200)
