"""The multilabel classifier adapter against the model's own logits, on a tiny ViT classifier."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from support.tiny_models import build_tiny_multilabel_classifier

from qa_gate.adapters.hf.classifier import load_transformers_classifier
from qa_gate.adapters.protocols import MultilabelClassifier
from qa_gate.config.model import ModelConfig
from qa_gate.errors import AdapterError

CPU = torch.device("cpu")
LABELS = ("zebra", "apple", "mango", "cloud")  # not sorted: the order must come from id2label


def _config(checkpoint: Path | str, **fields: object) -> ModelConfig:
    return ModelConfig(adapter="transformers", checkpoint=str(checkpoint), device="cpu", **fields)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_multilabel_classifier(tmp_path_factory.mktemp("classifier") / "ckpt", LABELS)


def _direct_logits(folder: Path, images) -> torch.Tensor:
    from transformers import ViTForImageClassification, ViTImageProcessor

    model = ViTForImageClassification.from_pretrained(folder).eval()
    pixels = ViTImageProcessor.from_pretrained(folder)(images=images, return_tensors="pt")["pixel_values"]
    with torch.inference_mode():
        return model(pixel_values=pixels).logits


def test_scores_are_the_sigmoid_of_the_logits(folder: Path, images) -> None:
    classifier, name = load_transformers_classifier(_config(folder), CPU)
    with torch.inference_mode():
        scores = classifier.label_scores(images)
    logits = _direct_logits(folder, images)
    assert scores.shape == (3, len(LABELS)) and scores.dtype == torch.float32
    torch.testing.assert_close(scores, torch.sigmoid(logits), rtol=1e-6, atol=1e-7)
    assert float(scores.min()) >= 0.0 and float(scores.max()) <= 1.0
    assert not torch.allclose(scores[0], scores[1])  # different images, different rows
    assert not torch.allclose(scores.sum(dim=1), torch.ones(3))  # independent scores, not a softmax
    assert isinstance(classifier, MultilabelClassifier)
    assert name == "transformers:ViTForImageClassification"


def test_labels_follow_id2label_order(folder: Path) -> None:
    classifier, _ = load_transformers_classifier(_config(folder), CPU)
    id2label = json.loads((folder / "config.json").read_text())["id2label"]
    assert classifier.labels == LABELS == tuple(id2label[str(i)] for i in range(len(LABELS)))
    assert classifier.settings == {"scores": "sigmoid(logits)", "problem_type": "multi_label_classification"}


@pytest.mark.parametrize("problem_type", ["single_label_classification", None])
def test_a_single_label_classifier_is_refused(tmp_path: Path, problem_type: str | None) -> None:
    single = build_tiny_multilabel_classifier(tmp_path / "single", LABELS, problem_type=problem_type)
    with pytest.raises(AdapterError, match=r"^model\.checkpoint: ") as info:
        load_transformers_classifier(_config(single), CPU)
    message = str(info.value)
    assert f"'{single}'" in message and f"problem_type {problem_type!r}" in message
    assert "softmax scores of a single-label classifier are not per-label probabilities" in message
    assert '"problem_type": "multi_label_classification" in its config.json' in message


def test_labels_named_twice_are_refused(tmp_path: Path) -> None:
    twice = build_tiny_multilabel_classifier(tmp_path / "twice", ["cat", "dog", "cat"])
    with pytest.raises(AdapterError, match=r"^model\.checkpoint: .*names labels \['cat'\] more than once"):
        load_transformers_classifier(_config(twice), CPU)


def test_a_base_model_without_the_classifier_head_is_refused(tmp_path: Path) -> None:
    """transformers would give the missing head random weights, with only a logged report."""
    from transformers import ViTConfig, ViTModel

    config = ViTConfig(image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                       intermediate_size=37, num_labels=2, problem_type="multi_label_classification")
    base = tmp_path / "base"
    ViTModel(config).save_pretrained(base)
    with pytest.raises(AdapterError, match=r"^model\.checkpoint: .* loads as ViTForImageClassification, but "
                                           r"\d+ of its weights are not in the checkpoint \(first: 'classifier"):
        load_transformers_classifier(_config(base), CPU)


def test_pickle_only_checkpoint_is_refused_unless_allowed(folder: Path, tmp_path: Path, images) -> None:
    from safetensors.torch import load_file

    pickled = tmp_path / "pickled"
    shutil.copytree(folder, pickled)
    torch.save(load_file(pickled / "model.safetensors"), pickled / "pytorch_model.bin")
    (pickled / "model.safetensors").unlink()
    with pytest.raises(AdapterError, match=r"^model\.checkpoint: .*only pickle weights.*allow_pickle"):
        load_transformers_classifier(_config(pickled), CPU)
    classifier, _ = load_transformers_classifier(_config(pickled, allow_pickle=True), CPU)
    with torch.inference_mode():
        torch.testing.assert_close(classifier.label_scores(images), torch.sigmoid(_direct_logits(folder, images)))


def test_a_missing_checkpoint_is_an_adapter_error(tmp_path: Path) -> None:
    with pytest.raises(AdapterError, match=r"^model\.checkpoint: no such folder: .*nothing-here; it reads as a path"):
        load_transformers_classifier(_config(tmp_path / "nothing-here"), CPU)
