"""A generative VQA model under a perturbation, end to end: the rotated images reach the model's own
preprocessing, and the perturbed metric and consistency equal the model called by hand."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from support.project import write_thresholds
from support.tiny_models import build_tiny_blip_vqa

from qa_gate.golden.suite import load_suite, open_image, write_hashes
from qa_gate.metrics.vqa import normalise, vqa_accuracy
from qa_gate.pipeline import prepare, score

REPO = Path(__file__).resolve().parents[2]
MODEL = {"adapter": "transformers", "checkpoint": "ckpt", "device": "cpu", "batch_size": 3,
         "options": {"max_new_tokens": 6}}


def _vqa_project(root: Path, keep: int = 6) -> Path:
    target = root / "golden" / "vqa"
    shutil.copytree(REPO / "golden" / "vqa", target)
    data = yaml.safe_load((target / "manifest.yaml").read_text(encoding="utf-8"))
    data["samples"] = data["samples"][:keep]
    (target / "manifest.yaml").write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    for image in (target / "images").iterdir():
        if f"images/{image.name}" not in {s["image"] for s in data["samples"]}:
            image.unlink()
    write_hashes(target)
    build_tiny_blip_vqa(root / "ckpt")
    suite = {"perturbations": {"rot": {"rotate": 90}},
             "metrics": {"vqa_accuracy": {"min": 0.0}, "consistency@rot": {"min": 0.0}}}
    return write_thresholds(root, model=MODEL, suites={"vqa": suite}, baseline={"path": "baseline.json"})


def test_generated_answers_under_a_rotation_equal_the_model_on_rotated_images(tmp_path: Path,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    import torch
    from torchvision.transforms import functional

    from qa_gate.adapters.hf.answerer import load_transformers_answerer
    from qa_gate.config.load import load_config

    monkeypatch.chdir(tmp_path)
    path = _vqa_project(tmp_path)
    result = score(prepare(path)).suites[0]
    suite = load_suite(tmp_path / "golden" / "vqa")
    answerer, _ = load_transformers_answerer(load_config(path).model, torch.device("cpu"))
    questions = [s.question for s in suite.samples]
    clean = answerer.answer([open_image(s) for s in suite.samples], questions)
    rotated = answerer.answer([functional.rotate(open_image(s), 90.0) for s in suite.samples], questions)
    expected = np.mean([vqa_accuracy(p, s.answers) for p, s in zip(rotated, suite.samples)])
    assert result.metrics["vqa_accuracy@rot"].value == pytest.approx(expected, abs=1e-12)
    unchanged = [float(normalise(a) == normalise(b)) for a, b in zip(clean, rotated)]
    assert result.metrics["consistency@rot"].stats[:, 0].tolist() == unchanged
    assert [s.output for s in result.samples] == clean  # the report shows the clean answers
    definition = result.metrics["vqa_accuracy@rot"].definition
    assert definition["method"] == "generate" and definition["perturbation"]["kind"] == "rotate"
