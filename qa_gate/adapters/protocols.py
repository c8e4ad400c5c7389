"""The adapter interface, device and dtype choice, checkpoint hashing and backend loading."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    import torch
    from PIL.Image import Image


@runtime_checkable
class ImageTextEncoder(Protocol):
    """An image-text dual encoder: batches in, one embedding row per input out.

    Rows need not be normalised; the runner normalises them. Implementations apply
    the model's own preprocessing and tokenizer and move inputs to their device.
    """

    def encode_images(self, images: Sequence[Image]) -> torch.Tensor:
        """``[len(images), d]`` image embeddings."""
        ...

    def encode_texts(self, texts: Sequence[str]) -> torch.Tensor:
        """``[len(texts), d]`` text embeddings."""
        ...


@runtime_checkable
class ImageCaptioner(Protocol):
    """An image-to-text model: a batch of images in, one generated caption per image out.

    ``settings`` holds every decoding setting (fixed, deterministic); the runner records
    it in the definition of the captioning metrics.
    """

    settings: Mapping[str, Any]

    def generate(self, images: Sequence[Image]) -> list[str]:
        """One decoded, stripped caption per image."""
        ...


@runtime_checkable
class VisualQuestionAnswerer(Protocol):
    """A generative VQA model: images and one question per image in, one answer per image out.

    ``settings`` holds every decoding setting (fixed, deterministic) and the prompt form;
    the runner records it in the VQA metrics' definitions.
    """

    settings: Mapping[str, Any]

    def answer(self, images: Sequence[Image], questions: Sequence[str]) -> list[str]:
        """One decoded, stripped answer per (image, question) pair."""
        ...


@runtime_checkable
class MultilabelClassifier(Protocol):
    """A multilabel image classifier: a batch of images in, one independent score per label out.

    ``labels`` names the score columns; scores are probabilities (a sigmoid per label),
    so the metrics' ``threshold`` applies to them directly.
    """

    labels: tuple[str, ...]
    settings: Mapping[str, Any]

    def label_scores(self, images: Sequence[Image]) -> torch.Tensor:
        """``[len(images), len(labels)]`` scores in [0, 1]."""
        ...
