"""The embedded demo: its suite rebuilds byte for byte, its training path runs, its checkpoints gate as promised."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qa_gate.demo import build_suite
from qa_gate.golden.suite import HASHES, load_suite

REPO = Path(__file__).resolve().parents[2]
GOOD = REPO / "qa_gate" / "demo" / "checkpoints" / "good"
REGRESSED = REPO / "qa_gate" / "demo" / "checkpoints" / "regressed"


def test_the_committed_suite_is_what_the_build_renders(tmp_path: Path) -> None:
    built = build_suite(tmp_path)
    assert (built / HASHES).read_text() == (REPO / "golden" / "shapes" / HASHES).read_text()
    suite = load_suite(built)
    assert len(suite.samples) == 300
    assert {s.tags["colour"] for s in suite.samples} == {"red", "green", "blue", "yellow", "purple"}


def test_training_path_runs_and_saves_loadable_checkpoints(tmp_path: Path) -> None:
    from qa_gate.demo.train import (
        Phase,
        TrainSettings,
        load_checkpoint,
        train_checkpoints,
    )

    quick = TrainSettings(per_combo=2, batch_size=8, threads=1,
                          good=Phase(steps=3, lr=1e-3, warmup=1, seed=1),
                          regressed=Phase(steps=2, lr=1e-3, warmup=1, seed=2))
    good, regressed = train_checkpoints(tmp_path, quick)
    for folder in (good, regressed):
        config = json.loads((folder / "open_clip_config.json").read_text())
        assert "model_cfg" in config and "preprocess_cfg" in config
        model, _, _ = load_checkpoint(folder)
        assert sum(p.numel() for p in model.parameters()) > 0
    assert (good / "open_clip_model.safetensors").read_bytes() \
        != (regressed / "open_clip_model.safetensors").read_bytes()


def _gate(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess(
        "--mm-gate", "-p", "no:cacheprovider", f"--mm-thresholds={REPO / 'thresholds.yaml'}",
        f"--mm-baseline={REPO / 'baselines' / 'baseline.json'}", "--mm-report=report.md", *args)


def test_good_checkpoint_passes_the_shipped_gate(pytester: pytest.Pytester) -> None:
    result = _gate(pytester)
    assert result.ret == pytest.ExitCode.OK
    result.assert_outcomes(passed=33)
    assert "✅ PASSED" in (pytester.path / "report.md").read_text()


def test_regressed_checkpoint_fails_and_the_report_names_the_slice(pytester: pytest.Pytester) -> None:
    result = _gate(pytester, f"--mm-checkpoint={REGRESSED}")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    failed = {line.removeprefix("FAILED ").split(" - ")[0]
              for line in result.stdout.lines if line.startswith("FAILED ")}
    assert {"shapes::clipscore::max_drop", "shapes::clipscore::min",
            "shapes[colour=red]::clipscore::max_drop",
            "shapes::zeroshot_mean_per_class_recall::min",
            "retrieval::i2t_r1::max_drop", "retrieval::t2i_r1::min",
            "vqa::vqa_accuracy::max_drop", "vqa[question_type=what color is the]::vqa_accuracy::min",
            "multilabel::f1_micro::max_drop", "multilabel::f1_macro::min",
            "shapes::clipscore@jpeg_q30::min", "shapes::consistency@blur2::min",
            "pope::pope_f1::min", "pope[pope_split=adversarial]::pope_f1::min"} <= failed
    assert "shapes::zeroshot_top1::min" not in failed  # shapes are still told apart
    report = (pytester.path / "report.md").read_text()
    slices = report.split("#### Slices, worst first", 1)[1].split("\n\n", 2)[1].splitlines()
    worst = slices[2:8]  # each metric of the slice, clean and under each perturbation
    assert all("colour=red" in row or "colour=blue" in row for row in worst)
    assert any("colour=red" in row for row in worst) and any("colour=blue" in row for row in worst)
    assert "#### Most regressed samples" in report
