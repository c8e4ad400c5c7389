"""A chat VLM gated end to end: a VQA suite and a caption suite on one tiny Qwen2-VL checkpoint
(``tests/support/tiny_chat_models.py``), prompted through its chat template.

Its scores mean nothing; the path is real: the gate recognises the checkpoint as a chat VLM from its
``config.json``, loads one model for both suites, answers and captions in left-padded batches, and
every output equals ``generate`` on its sample alone; the definitions carry the template's hash.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from support.project import write_thresholds, write_tiny_suite
from support.tiny_chat_models import build_tiny_qwen2_vl, generate_alone

from qa_gate.adapters.hf.chat import ANSWER_INSTRUCTION, CAPTION_PROMPT
from qa_gate.golden.suite import load_suite, open_image, write_hashes
from qa_gate.metrics.vqa import vqa_accuracy
from qa_gate.pipeline import prepare, score

pytest.importorskip("pycocoevalcap")
pytestmark = pytest.mark.skipif(shutil.which("java") is None, reason="the PTB tokenizer of BLEU needs Java")

REPO = Path(__file__).resolve().parents[2]
TOKENS = 5
KEEP = 6


def _vqa_suite(target: Path) -> Path:
    """The first :data:`KEEP` samples of the demo VQA suite, hashed."""
    shutil.copytree(REPO / "golden" / "vqa", target)
    data = yaml.safe_load((target / "manifest.yaml").read_text(encoding="utf-8"))
    data["samples"] = data["samples"][:KEEP]
    (target / "manifest.yaml").write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    for image in (target / "images").iterdir():
        if f"images/{image.name}" not in {s["image"] for s in data["samples"]}:
            image.unlink()
    write_hashes(target)
    return target


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("chat")
    build_tiny_qwen2_vl(root / "ckpt")
    _vqa_suite(root / "golden" / "vqa")
    write_tiny_suite(root / "golden" / "tiny", per_colour=1)
    model = {"adapter": "transformers", "checkpoint": str(root / "ckpt"), "device": "cpu", "batch_size": 4,
             "options": {"max_new_tokens": TOKENS}}
    suites = {"vqa": {"path": str(root / "golden" / "vqa"), "metrics": {"vqa_accuracy": {"min": 0.0}}},
              "tiny": {"path": str(root / "golden" / "tiny"), "metrics": {"bleu4": {"min": 0.0}}}}
    return write_thresholds(root, model=model, suites=suites, baseline={"path": str(root / "baseline.json")})


def test_a_chat_vlm_answers_and_captions_through_the_gate(project: Path) -> None:
    run = score(prepare(project))
    root = project.parent
    vqa, captions = run.suite("vqa"), run.suite("tiny")
    assert vqa is not None and captions is not None
    questions = load_suite(root / "golden" / "vqa").samples
    answers = [s.output for s in vqa.samples]
    assert answers == [generate_alone(root / "ckpt", open_image(s), f"{s.question}\n{ANSWER_INSTRUCTION}", TOKENS)
                       for s in questions]
    expected = np.mean([vqa_accuracy(p, s.answers) for p, s in zip(answers, questions)])
    assert vqa.metrics["vqa_accuracy"].value == pytest.approx(expected, abs=1e-12)
    images = load_suite(root / "golden" / "tiny").samples
    assert [s.output for s in captions.samples] == [
        generate_alone(root / "ckpt", open_image(s), CAPTION_PROMPT, TOKENS) for s in images]
    assert all(answers) and all(s.output for s in captions.samples)
    assert run.checkpoint.model_name == "transformers:Qwen2VLForConditionalGeneration"

    digest = hashlib.sha256((root / "ckpt" / "chat_template.jinja").read_bytes()).hexdigest()
    answered = vqa.metrics["vqa_accuracy"].definition["generation"]
    captioned = captions.metrics["bleu4"].definition["generation"]
    assert answered["chat_template_sha256"] == captioned["chat_template_sha256"] == digest
    assert answered["prompt"] == "{question}\n" + ANSWER_INSTRUCTION and captioned["prompt"] == CAPTION_PROMPT
    assert answered["padding_side"] == captioned["padding_side"] == "left"
