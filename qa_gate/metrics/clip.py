"""Image-text alignment metrics: CLIPScore, RefCLIPScore and raw cosine (DESIGN.md §4).

CLIPScore follows Hessel et al. 2021 and the reference code (jmhessel/clipscore):
``w * max(cos(image, prefix + caption), 0)`` per sample, then the mean; the clamp is
per sample. RefCLIPScore is the per-sample harmonic mean of that score and the
largest raw cosine between the (prefixed) caption and its (prefixed) references.
When the scorer is the checkpoint under test, the definition records
``scorer: "candidate"`` rather than its hash, so a new checkpoint stays comparable.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from qa_gate.metrics.base import AlignmentInputs, Metric

DEFAULT_PREFIX = "A photo depicts "
DEFAULT_W = 2.5


def prompt_prefix(params: Mapping[str, Any]) -> str:
    """The prompt prefix as the reference code uses it: a space is added when missing."""
    prefix = str(params["prefix"])
    return prefix + " " if prefix and not prefix[-1].isspace() else prefix


def clip_scores(images: np.ndarray, texts: np.ndarray, w: float) -> np.ndarray:
    """Per-row ``w * max(cos, 0)`` for L2-normalised ``[n, d]`` arrays."""
    return w * np.clip(np.sum(images * texts, axis=1), 0.0, None)


def max_reference_cosine(texts: np.ndarray, refs: np.ndarray, owner: np.ndarray) -> np.ndarray:
    """For each row of ``texts``, the largest cosine to the references it owns."""
    sims = np.sum(texts[owner] * refs, axis=1)
    best = np.full(len(texts), -np.inf)
    np.maximum.at(best, owner, sims)
    return best


def harmonic_mean(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Element-wise ``2ab / (a + b)``, defined as 0 where ``a + b == 0``."""
    total = a + b
    safe = np.where(total == 0, 1.0, total)
    return np.where(total == 0, 0.0, 2.0 * a * b / safe)


class CLIPScore(Metric):
    """CLIPScore on the 2.5 scale (not torchmetrics' 100 * cos, mean-clamped variant)."""

    name: ClassVar[str] = "clipscore"
    params: ClassVar[Mapping[str, Any]] = {"prefix": DEFAULT_PREFIX, "w": DEFAULT_W}
    needs: ClassVar[tuple[str, ...]] = ("caption",)

    def definition(self, params: Mapping[str, Any], scorer: str) -> dict[str, Any]:
        """The reference definition plus the prompt prefix and weight."""
        return {**super().definition(params, scorer), "clamp": "per-sample", "aggregate": "mean"}

    def per_sample(self, inputs: AlignmentInputs, params: Mapping[str, Any]) -> np.ndarray:
        """One column: the sample's CLIPScore."""
        texts = inputs.caption_embeddings(prompt_prefix(params))
        return clip_scores(inputs.image_embeddings(), texts, params["w"])[:, None]


class RefCLIPScore(Metric):
    """RefCLIPScore: harmonic mean of CLIPScore and the best raw caption-reference cosine."""

    name: ClassVar[str] = "refclipscore"
    params: ClassVar[Mapping[str, Any]] = {"prefix": DEFAULT_PREFIX, "w": DEFAULT_W}
    columns: ClassVar[tuple[str, ...]] = ("value", "clipscore", "ref_cosine")
    needs: ClassVar[tuple[str, ...]] = ("caption", "references")

    def definition(self, params: Mapping[str, Any], scorer: str) -> dict[str, Any]:
        """The reference definition: references prefixed too, max over references, no clamp."""
        return {**super().definition(params, scorer), "references": "max raw cosine, prefixed",
                "aggregate": "mean"}

    def per_sample(self, inputs: AlignmentInputs, params: Mapping[str, Any]) -> np.ndarray:
        """Columns: RefCLIPScore, its CLIPScore part, its reference-cosine part."""
        texts = inputs.caption_embeddings(prompt_prefix(params))
        clip = clip_scores(inputs.image_embeddings(), texts, params["w"])
        refs, owner = inputs.reference_embeddings(prompt_prefix(params))
        ref = max_reference_cosine(texts, refs, owner)
        return np.stack([harmonic_mean(clip, ref), clip, ref], axis=1)


class Cosine(Metric):
    """Mean raw cosine between image and caption embeddings: no scale, no clamp."""

    name: ClassVar[str] = "cosine"
    params: ClassVar[Mapping[str, Any]] = {"prefix": ""}
    needs: ClassVar[tuple[str, ...]] = ("caption",)

    def definition(self, params: Mapping[str, Any], scorer: str) -> dict[str, Any]:
        """Raw cosine, mean over samples."""
        return {**super().definition(params, scorer), "aggregate": "mean"}

    def per_sample(self, inputs: AlignmentInputs, params: Mapping[str, Any]) -> np.ndarray:
        """One column: the sample's raw cosine."""
        texts = inputs.caption_embeddings(prompt_prefix(params))
        return np.sum(inputs.image_embeddings() * texts, axis=1)[:, None]
