"""``mm-gate predict`` then ``adapter: predictions``: for every family served today, gating the written file
gives exactly the numbers, definitions, shown outputs and verdict of gating the checkpoint itself.

Each test gates a checkpoint (the demo CLIP, or a tiny transformers model), records that run as the
baseline, writes its predictions, and gates the file against that baseline (``support.predictions``).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from support.predictions import DEMO_GOOD, assert_same_numbers, demo_suite, gate_both
from support.project import write_thresholds, write_tiny_suite
from support.tiny_models import (
    build_tiny_blip_vqa,
    build_tiny_multilabel_classifier,
    build_tiny_trocr,
    build_tiny_vit_gpt2_captioner,
)

CLIP = {"adapter": "open_clip", "checkpoint": str(DEMO_GOOD), "device": "cpu", "batch_size": 4}
HF = {"adapter": "transformers", "checkpoint": "ckpt", "device": "cpu", "batch_size": 4,
      "options": {"max_new_tokens": 6}}
BASELINE = {"path": "baseline.json"}
JAVA = shutil.which("java") is not None


def test_dual_encoder_families_from_the_written_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Alignment, retrieval, zero-shot, VQA by ranking and multilabel by prompt scoring on the demo CLIP."""
    monkeypatch.chdir(tmp_path)
    write_tiny_suite(tmp_path / "golden" / "tiny")
    demo_suite(tmp_path, "vqa")
    demo_suite(tmp_path, "multilabel")
    suites = {
        "tiny": {"metrics": {"clipscore": {"min": 0.0, "max_drop": 0.01}, "refclipscore": {"min": 0.0},
                             "cosine": {"max_drop_pct": 5}, "i2t_r1": {"min": 0.0}, "t2i_r1": {"max_drop": 0.1},
                             "t2i_median_rank": {"max": 10},
                             "zeroshot_top1": {"label_tag": "colour", "min": 0.0, "max_drop": 0.1}}},
        "vqa": {"metrics": {"vqa_accuracy": {"prompt": "a photo of a {answer}", "min": 0.0, "max_drop": 0.1}}},
        "multilabel": {"metrics": {"f1_micro": {"prompt": "a photo of a {label}", "threshold": 0.3,
                                                "min": 0.0, "max_drop": 0.1}}},
    }
    both = gate_both(write_thresholds(tmp_path, model=CLIP, suites=suites, baseline=BASELINE))
    assert_same_numbers(both)
    rows = [json.loads(line) for line in both.preds.read_text().splitlines()]
    assert {r["suite"] for r in rows if "id" in r} == {"tiny", "vqa", "multilabel"}  # ids repeat across suites
    texts = {r["input_text"] for r in rows if "input_text" in r}
    assert "A photo depicts a red square" in texts and "a photo of a red." in texts
    assert both.via_file.checkpoint.adapter == "predictions"
    assert both.via_file.checkpoint.model_name == "tiny@test"


def test_generative_vqa_from_the_written_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    demo_suite(tmp_path, "vqa", keep=6)
    build_tiny_blip_vqa(tmp_path / "ckpt")
    suites = {"vqa": {"metrics": {"vqa_accuracy": {"min": 0.0, "max_drop": 0.1}}}}
    both = gate_both(write_thresholds(tmp_path, model=HF, suites=suites, baseline=BASELINE))
    assert_same_numbers(both)
    settings = json.loads(both.preds.with_name("preds.jsonl.settings.json").read_text())
    assert settings["answering"]["max_new_tokens"] == 6  # the definitions hold it, so they match


def test_multilabel_classifier_from_the_written_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from qa_gate.golden.suite import load_suite

    monkeypatch.chdir(tmp_path)
    folder = demo_suite(tmp_path, "multilabel", keep=6)
    build_tiny_multilabel_classifier(tmp_path / "ckpt", [*reversed(load_suite(folder).labels), "extra"])
    metrics = {f"f1_{a}": {"threshold": 0.5, "min": 0.0, "max_drop": 0.1} for a in ("micro", "macro", "samples")}
    both = gate_both(write_thresholds(tmp_path, model=HF, suites={"multilabel": {"metrics": metrics}},
                                      baseline=BASELINE), out="preds.parquet")
    assert_same_numbers(both)


def test_ocr_from_the_written_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    demo_suite(tmp_path, "words", keep=5)
    build_tiny_trocr(tmp_path / "ckpt")
    suites = {"words": {"metrics": {"cer": {"max": 100.0, "max_drop": 1.0}, "wer": {"max": 100.0}}}}
    both = gate_both(write_thresholds(tmp_path, model=HF, suites=suites, baseline=BASELINE), out="preds.csv")
    assert_same_numbers(both)
    assert "text" in both.preds.read_text().splitlines()[0].split(",")


@pytest.mark.skipif(not JAVA, reason="the PTB tokenizer of the captioning metrics needs Java")
def test_captioning_and_generated_captions_scored_from_the_written_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """CIDEr-D and BLEU-4 of predicted captions, and CLIPScore of them by a fixed scorer (``caption: generated``)."""
    pytest.importorskip("pycocoevalcap")
    monkeypatch.chdir(tmp_path)
    build_tiny_vit_gpt2_captioner(tmp_path / "ckpt")
    write_tiny_suite(tmp_path / "golden" / "tiny")
    metrics = {"bleu4": {"min": 0.0, "max_drop": 0.1}, "cider": {"min": 0.0},
               "clipscore": {"caption": "generated", "min": 0.0, "max_drop": 0.1}}
    model = {**HF, "options": {"max_new_tokens": 7}}
    thresholds = write_thresholds(tmp_path, model=model, suites={"tiny": {"metrics": metrics}}, baseline=BASELINE,
                                  scorer={"adapter": "open_clip", "checkpoint": str(DEMO_GOOD)})
    both = gate_both(thresholds)
    assert_same_numbers(both)
    assert any(s.output for s in both.via_file.suites[0].samples)
    assert "scorer" in both.via_file.suites[0].metrics["clipscore"].definition
