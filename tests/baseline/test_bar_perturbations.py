"""merge_bar on perturbations: removing or weakening one is one bar change at the top; the target's version applies."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from support.project import write_thresholds

from qa_gate.baseline.bar import merge_bar
from qa_gate.config.load import load_config
from qa_gate.config.model import GateConfig, Perturbation

MODEL = {"adapter": "open_clip", "checkpoint": "ckpt"}
TARGET = {"jpeg_q30": {"jpeg": 30}, "blur": {"gaussian_blur": 2.0}}
RULES = {"clipscore": {"min": 2.0}, "clipscore@jpeg_q30": {"min": 1.8, "max_drop": 0.05},
         "consistency@jpeg_q30": {"min": 0.9}}


def _config(root: Path, perturbations: dict[str, Any], metrics: dict[str, Any] | None = None) -> GateConfig:
    """The thresholds file ``root`` names (``.../t``: the target's, ``.../b``: the branch's), one project folder."""
    (root.parent / "golden" / "s").mkdir(parents=True, exist_ok=True)
    body = {"path": "golden/s", "perturbations": perturbations, "metrics": metrics or RULES}
    return load_config(write_thresholds(root.parent, MODEL, {"s": body}, name=f"{root.name}.yaml"))


def test_an_unchanged_or_added_perturbation_is_no_bar_change(tmp_path: Path) -> None:
    target = _config(tmp_path / "t", TARGET)
    branch = _config(tmp_path / "b", {**TARGET, "noise": {"gaussian_noise": 0.05}})
    merged = merge_bar(target, branch)
    assert merged.changes == ()
    assert [p.name for p in merged.config.suites[0].perturbations] == ["jpeg_q30", "blur", "noise"]
    assert "clipscore@noise" in [m.name for m in merged.config.suites[0].metrics]


def test_a_weakened_perturbation_is_one_change_and_the_target_spec_is_scored(tmp_path: Path) -> None:
    target = _config(tmp_path / "t", TARGET)
    branch = _config(tmp_path / "b", {**TARGET, "jpeg_q30": {"jpeg": 90}})
    merged = merge_bar(target, branch)
    assert [c.line() for c in merged.changes] == [
        "suites.s.perturbations.jpeg_q30: jpeg 30 → jpeg 90 (changed: another perturbation)"]
    suite = merged.config.suites[0]
    assert suite.perturbations[0] == Perturbation("jpeg_q30", "jpeg", 30)
    by_name = {m.name: m for m in suite.metrics}
    assert by_name["clipscore@jpeg_q30"].params["perturbation"]["value"] == 30  # what the runner scores
    assert by_name["consistency@jpeg_q30"].params["perturbation"]["value"] == 30
    assert [r.value for r in by_name["clipscore@jpeg_q30"].rules] == [1.8, 0.05]


def test_a_removed_perturbation_is_one_change_and_its_metrics_still_gate(tmp_path: Path) -> None:
    target = _config(tmp_path / "t", TARGET)
    branch = _config(tmp_path / "b", {"blur": {"gaussian_blur": 2.0}}, {"clipscore": {"min": 2.0}})
    merged = merge_bar(target, branch)
    assert [c.line() for c in merged.changes] == ["suites.s.perturbations.jpeg_q30: jpeg 30 → absent (removed)"]
    by_name = {m.name: m for m in merged.config.suites[0].metrics}
    assert [(r.kind, r.value) for r in by_name["consistency@jpeg_q30"].rules] == [("min", 0.9)]
    assert by_name["clipscore@jpeg_q30"].params["perturbation"]["kind"] == "jpeg"


def test_a_loosened_rule_on_a_kept_perturbation_is_still_listed(tmp_path: Path) -> None:
    target = _config(tmp_path / "t", TARGET)
    branch = _config(tmp_path / "b", TARGET, {**RULES, "consistency@jpeg_q30": {"min": 0.1}})
    merged = merge_bar(target, branch)
    assert [c.line() for c in merged.changes] == [
        "suites.s.metrics.consistency@jpeg_q30.min: min 0.9 → min 0.1 (looser)"]
