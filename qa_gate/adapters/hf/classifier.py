"""Hugging Face multilabel image classifiers (``*ForImageClassification``): one sigmoid score per label.

Only checkpoints whose ``config.json`` says ``"problem_type": "multi_label_classification"``
(trained with a sigmoid per label) are loaded: the softmax scores of a single-label
classifier compete with each other and are not per-label probabilities, so a score
threshold on them would mean nothing. Labels are ``config.id2label`` in index order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from qa_gate.adapters.hf.config import load_complete, read_config
from qa_gate.adapters.hf.dual_encoder import pixel_values, refuse_pickle_only
from qa_gate.config.model import ModelConfig
from qa_gate.errors import AdapterError, first_line
from qa_gate.registry import import_backend

if TYPE_CHECKING:
    import torch
    from PIL.Image import Image

MULTI_LABEL = "multi_label_classification"


class TransformersClassifier:
    """A transformers image classifier with its image processor; scores are ``sigmoid(logits)``."""

    def __init__(self, model: Any, image_processor: Any, device: torch.device, labels: Sequence[str],
                 settings: Mapping[str, Any]) -> None:
        self.model, self.image_processor, self.device = model, image_processor, device
        self.labels, self.settings = tuple(labels), dict(settings)

    def prepare_image(self, image: Image) -> torch.Tensor:
        """One image through the image processor: its ``pixel_values`` row."""
        return self.image_processor(images=[image], return_tensors="pt")["pixel_values"][0]

    def label_scores(self, images: Sequence[Image | torch.Tensor]) -> torch.Tensor:
        """``[len(images), len(labels)]`` float32 scores: the sigmoid of each label's logit (``images``
        may hold :meth:`prepare_image` rows in place of images).

        A non-finite logit gives a NaN score (the sigmoid of inf would read as a certain 1.0),
        which the scoring side refuses, naming the sample.
        """
        import torch

        pixels = pixel_values(images, self.image_processor, self.prepare_image, self.device)
        logits = self.model(pixel_values=pixels).logits.float()
        return torch.where(torch.isfinite(logits), torch.sigmoid(logits), torch.full_like(logits, float("nan")))


def _labels(config: Any, checkpoint: str) -> tuple[str, ...]:
    """``config.id2label`` in index order: one distinct name for each of ``num_labels`` outputs."""
    id2label = {int(k): str(v) for k, v in (getattr(config, "id2label", None) or {}).items()}
    expected = list(range(config.num_labels))
    if sorted(id2label) != expected:
        raise AdapterError(f"model.checkpoint: the config.json of '{checkpoint}' has id2label keys "
                           f"{sorted(id2label)}; expected one label for each output index {expected}")
    labels = tuple(id2label[i] for i in expected)
    twice = sorted({label for label in labels if labels.count(label) > 1})
    if twice:
        raise AdapterError(f"model.checkpoint: the config.json of '{checkpoint}' names labels {twice} more "
                           "than once in id2label; expected distinct label names")
    return labels


def load_transformers_classifier(model: ModelConfig, device: torch.device) -> tuple[TransformersClassifier, str]:
    """A multilabel ``AutoModelForImageClassification`` and ``AutoImageProcessor``, in eval mode."""
    transformers = import_backend("transformers", "transformers")
    if not model.allow_pickle:
        refuse_pickle_only(model.checkpoint)
    kwargs: dict[str, Any] = {} if model.allow_pickle else {"use_safetensors": True}
    config = read_config(model.checkpoint)
    problem_type = getattr(config, "problem_type", None)
    if problem_type != MULTI_LABEL:
        raise AdapterError(
            f"model.checkpoint: '{model.checkpoint}' has problem_type {problem_type!r} in its config.json; "
            f"expected '{MULTI_LABEL}'. The softmax scores of a single-label classifier are not per-label "
            "probabilities, and a sigmoid of its logits was never trained. If the model was trained with "
            f"a sigmoid per label (binary cross-entropy), set \"problem_type\": \"{MULTI_LABEL}\" in its "
            "config.json")
    labels = _labels(config, model.checkpoint)
    net = load_complete(transformers.AutoModelForImageClassification, model.checkpoint, config=config, **kwargs)
    try:
        image_processor = transformers.AutoImageProcessor.from_pretrained(model.checkpoint)
    except (OSError, ValueError, KeyError) as exc:
        raise AdapterError(f"model.checkpoint: no image processor in '{model.checkpoint}': "
                           f"{first_line(exc)}") from None
    net.to(device).eval()
    settings = {"scores": "sigmoid(logits)", "problem_type": problem_type}
    return TransformersClassifier(net, image_processor, device, labels, settings), \
        f"transformers:{type(net).__name__}"
