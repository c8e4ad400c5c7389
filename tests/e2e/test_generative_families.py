"""OCR, generative VQA and multilabel classifiers end to end through the gate, on tiny random
transformers models (``tests/support/tiny_models.py``) and copies of the demo suites.

Their scores mean nothing; the code path is real: the gate loads the checkpoint by its
kind, generates or classifies in batches, and each metric equals its reference (jiwer,
the official VQA accuracy, scikit-learn) on exactly what the model produced.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from support.project import write_thresholds
from support.tiny_models import (
    build_tiny_blip_vqa,
    build_tiny_multilabel_classifier,
    build_tiny_trocr,
)

from qa_gate.errors import AdapterError
from qa_gate.golden.suite import load_suite, open_image, write_hashes
from qa_gate.metrics.vqa import vqa_accuracy
from qa_gate.pipeline import prepare, score

REPO = Path(__file__).resolve().parents[2]
MODEL = {"adapter": "transformers", "checkpoint": "ckpt", "device": "cpu", "batch_size": 4,
         "options": {"max_new_tokens": 6}}


def _thresholds(root: Path, suite: str, metrics: dict) -> Path:
    """``root/thresholds.yaml`` gating the tiny checkpoint ``ckpt`` on ``metrics`` of ``golden/<suite>``."""
    return write_thresholds(root, model=MODEL, suites={suite: {"metrics": metrics}}, baseline={"path": "baseline.json"})


def _project(root: Path, suite: str, build: object, metrics: dict, keep: int = 10) -> Path:
    """A project under ``root``: the first ``keep`` samples of a demo suite, a tiny checkpoint, thresholds."""
    target = root / "golden" / suite
    shutil.copytree(REPO / "golden" / suite, target)
    data = yaml.safe_load((target / "manifest.yaml").read_text(encoding="utf-8"))
    kept = data["samples"][:keep]
    data["samples"] = kept
    (target / "manifest.yaml").write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    for image in (target / "images").iterdir():
        if f"images/{image.name}" not in {s["image"] for s in kept}:
            image.unlink()
    write_hashes(target)
    build(root / "ckpt")  # type: ignore[operator]
    return _thresholds(root, suite, metrics)


def test_ocr_cer_and_wer_equal_jiwer_on_the_transcriptions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import jiwer

    monkeypatch.chdir(tmp_path)
    path = _project(tmp_path, "words", build_tiny_trocr, {"cer": {"max": 100.0}, "wer": {"max": 100.0}})
    result = score(prepare(path)).suites[0]
    suite = load_suite(tmp_path / "golden" / "words")
    outputs = [s.output for s in result.samples]
    references = [s.text for s in suite.samples]
    assert len(outputs) == len(references) and all(isinstance(o, str) and o for o in outputs)
    assert result.metrics["cer"].value == pytest.approx(jiwer.cer(references, outputs), abs=1e-12)
    assert result.metrics["wer"].value == pytest.approx(jiwer.wer(references, outputs), abs=1e-12)
    assert result.metrics["cer"].definition["generation"]["max_new_tokens"] == 6
    assert [s.text for s in result.samples] == references
    assert result.metrics["cer"].higher_is_better is False


def test_generative_vqa_answers_each_question_and_scores_officially(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from qa_gate.adapters.hf.answerer import load_transformers_answerer
    from qa_gate.config.load import load_config

    monkeypatch.chdir(tmp_path)
    path = _project(tmp_path, "vqa", build_tiny_blip_vqa, {"vqa_accuracy": {"min": 0.0}})
    run = score(prepare(path))
    result = run.suites[0]
    suite = load_suite(tmp_path / "golden" / "vqa")
    answerer, _ = load_transformers_answerer(load_config(path).model, __import__("torch").device("cpu"))
    direct = answerer.answer([open_image(s) for s in suite.samples], [s.question for s in suite.samples])
    assert [s.output for s in result.samples] == direct
    expected = np.mean([vqa_accuracy(p, s.answers) for p, s in zip(direct, suite.samples)])
    assert result.metrics["vqa_accuracy"].value == pytest.approx(expected, abs=1e-12)
    definition = result.metrics["vqa_accuracy"].definition
    assert definition["method"] == "generate" and definition["generation"]["prompt"] == "{question}"
    assert run.checkpoint.model_name == "transformers:BlipForQuestionAnswering"


def test_multilabel_classifier_scores_in_the_suite_label_order(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    import torch
    from sklearn.metrics import f1_score
    from transformers import AutoImageProcessor, AutoModelForImageClassification

    monkeypatch.chdir(tmp_path)
    labels = load_suite(REPO / "golden" / "multilabel").labels
    model_labels = [*reversed(labels), "extra"]  # another order and one label the suite does not use
    metrics = {f"f1_{a}": {"threshold": 0.5, "min": 0.0} for a in ("micro", "macro", "samples", "weighted")}
    path = _project(tmp_path, "multilabel", lambda f: build_tiny_multilabel_classifier(f, model_labels), metrics)
    result = score(prepare(path)).suites[0]
    suite = load_suite(tmp_path / "golden" / "multilabel")

    model = AutoModelForImageClassification.from_pretrained(tmp_path / "ckpt").eval()
    processor = AutoImageProcessor.from_pretrained(tmp_path / "ckpt")
    with torch.no_grad():
        logits = model(**processor(images=[open_image(s) for s in suite.samples], return_tensors="pt")).logits
    scores = torch.sigmoid(logits).numpy()[:, [model_labels.index(x) for x in labels]]
    predicted = (scores >= 0.5).astype(int)
    truth = np.array([[int(x in s.labels) for x in labels] for s in suite.samples])
    assert 0 < predicted.sum() < predicted.size  # the test can tell thresholds apart
    for average in ("micro", "macro", "samples", "weighted"):
        assert result.metrics[f"f1_{average}"].value == pytest.approx(
            f1_score(truth, predicted, average=average, zero_division=0), abs=1e-9), average
    assert result.metrics["f1_micro"].definition["method"] == "classifier"


def test_a_classifier_missing_a_suite_label_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    path = _project(tmp_path, "multilabel", lambda f: build_tiny_multilabel_classifier(f, ["red", "circle"]),
                    {"f1_micro": {"min": 0.0}})
    with pytest.raises(AdapterError, match=r"the classifier's labels lack 'green', 'blue'"):
        score(prepare(path))


def test_a_classifier_cannot_serve_alignment_metrics(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    path = _project(tmp_path, "multilabel", lambda f: build_tiny_multilabel_classifier(f, ["red"]),
                    {"f1_micro": {"min": 0.0}, "zeroshot_top1": {"label_tag": "shape", "min": 0.0}})
    with pytest.raises(AdapterError, match=r"loads as an image classifier, which cannot serve zeroshot_top1: "
                                           r"zeroshot_top1 need a dual encoder"):
        score(prepare(path))


@pytest.mark.parametrize(("suite", "build", "metric", "operation"), [
    ("multilabel", lambda f: build_tiny_multilabel_classifier(f, ["red", "green", "blue", "yellow", "purple", "circle",
                                                                  "square", "triangle", "cross"]),
     "f1_micro", "classification"),
    ("words", build_tiny_trocr, "cer", "generation"),
    ("vqa", build_tiny_blip_vqa, "vqa_accuracy", "answering"),
])
def test_efficiency_times_what_the_model_does(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, suite: str,
                                              build: object, metric: str, operation: str) -> None:
    monkeypatch.chdir(tmp_path)
    path = _project(tmp_path, suite, build, {metric: {"min": 0.0}, "latency_p95_ms": {"max": 1.0e9},
                                             "throughput": {"min": 0.0}}, keep=9)
    result = score(prepare(path)).suites[0]
    latency = result.metrics["latency_p95_ms"]
    assert latency.definition["timed"] == f"{operation} per batch, wall clock"
    assert latency.definition["settings"]  # decoding or scoring settings change the time too
    assert len(np.unique(latency.stats[:, 2])) == 3  # 9 samples in batches of 4: 3 batches, each timed once
    assert result.metrics["throughput"].value > 0


def test_a_generator_gated_on_efficiency_alone_times_generation(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    path = _project(tmp_path, "words", build_tiny_trocr, {"latency_p50_ms": {"max": 1.0e9}}, keep=5)
    latency = score(prepare(path)).suites[0].metrics["latency_p50_ms"]
    assert latency.definition["timed"] == "generation per batch, wall clock"
    assert latency.definition["settings"]["max_new_tokens"] == 6


def test_the_unused_prompt_is_not_part_of_a_generated_answer_definition(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    path = _project(tmp_path, "vqa", build_tiny_blip_vqa, {"vqa_accuracy": {"min": 0.0}}, keep=4)
    first = score(prepare(path)).suites[0].metrics["vqa_accuracy"].fingerprint
    _thresholds(tmp_path, "vqa", {"vqa_accuracy": {"min": 0.0, "prompt": "a {answer}"}})
    assert score(prepare(path)).suites[0].metrics["vqa_accuracy"].fingerprint == first
