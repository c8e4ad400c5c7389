"""Verdicts from the real gate for the report tests: one suite, six samples tagged by colour."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from types import MappingProxyType

import numpy as np

from qa_gate.baseline.store import HistoryPoint
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

COLOURS = ("red", "red", "blue", "blue", "green", "green")
BASE = [0.80] * 6
WORSE = [0.50, 0.55, 0.74, 0.75, 0.74, 0.75]
HOSTILE = "a | b <script>alert(1)</script> @octocat #12\n- `x`\r\n" + "y" * 5000
REGRESSION_RULES = (Rule("min", 0.6), Rule("max_drop", 0.02), Rule("max_drop_pct", 3.0, "strict"))
RED_SLICE = SliceConfig("colour=red", "colour", "red", (MetricConfig("clipscore", rules=(Rule("max_drop", 0.02),)),))


def make_run(values: Sequence[float], texts: Sequence[str] | None = None, sha: str = "a1" * 32,
             created: str = "2025-01-02T03:04:05Z", metric: str = "clipscore") -> RunResult:
    """One suite ``shapes`` (golden/shapes) with one metric, per-sample values as its statistics."""
    texts = texts or [f"a {c} square" for c in COLOURS]
    stats = np.asarray(values, dtype=np.float64).reshape(-1, 1)
    result = MetricResult(metric, float(stats.mean()), True, "m0f1", {"metric": metric}, stats, tuple(values))
    samples = tuple(SampleInfo(f"s{i}", t, MappingProxyType({"colour": COLOURS[i % len(COLOURS)]}))
                    for i, t in enumerate(texts))
    suite = SuiteResult("shapes", "golden/shapes", "5f1e", samples, MappingProxyType({metric: result}))
    return RunResult(CheckpointInfo("open_clip", "ckpt/model.safetensors", sha, "ViT-B-32"),
                     MappingProxyType({"torch": "2.5.1", "device": "cpu"}), (suite,), created)


def make_config(rules: Sequence[Rule] = REGRESSION_RULES, slices: Sequence[SliceConfig] = (),
                resamples: int = 1000) -> GateConfig:
    """A config gating ``clipscore`` on ``shapes`` with ``rules``, and optional slice rules."""
    suite = SuiteConfig("shapes", Path("golden/shapes"), "golden/shapes",
                        (MetricConfig("clipscore", rules=tuple(rules)),), tuple(slices))
    return GateConfig(Path("thresholds.yaml"), 1, ModelConfig("open_clip", "ckpt"), (suite,),
                      Path("baseline.json"), None, resamples=resamples)


def judge(candidate: Sequence[float] = WORSE, baseline: Sequence[float] | None = BASE,
          rules: Sequence[Rule] = REGRESSION_RULES, slices: Sequence[SliceConfig] = (),
          texts: Sequence[str] | None = None) -> Verdict:
    """The gate's verdict on ``candidate`` against ``baseline`` (``None``: no baseline)."""
    base = None if baseline is None else make_run(baseline, texts, sha="b2" * 32)
    return evaluate(make_run(candidate, texts), base, make_config(rules, slices), "file:baseline.json")


def history(values: Sequence[float]) -> tuple[HistoryPoint, ...]:
    """Earlier baselines, oldest first, each a run whose samples all score one of ``values``."""
    return tuple(HistoryPoint(f"c{i:06x}", f"2025-01-{i % 28 + 1:02d}", make_run([v] * 6))
                 for i, v in enumerate(values))


def table_cells(row: str) -> list[str]:
    """Split a GFM table row into stripped cells the way GitHub does: ``\\|`` does not split."""
    cells, current, escaped = [], "", False
    for ch in row.strip()[1:]:
        if escaped:
            current, escaped = current + ch, False
        elif ch == "\\":
            current, escaped = current + ch, True
        elif ch == "|":
            cells.append(current.strip())
            current = ""
        else:
            current += ch
    return cells


def unescape(cell: str) -> str:
    """What GitHub shows for an escaped cell: backslash escapes and zero-width spaces removed."""
    return re.sub(r"\\(.)", r"\1", cell.replace("&#8203;", ""))


def table_rows(markdown: str, heading: str) -> list[list[str]]:
    """The data rows of the first table under ``heading`` (header and delimiter rows dropped)."""
    lines = markdown.splitlines()
    start = lines.index(heading)
    rows: list[list[str]] = []
    seen = 0
    for line in lines[start + 1:]:
        if line.startswith("#"):
            break
        if line.startswith("|"):
            seen += 1
            if seen > 2:
                rows.append(table_cells(line))
        elif seen:
            break
    return rows
