"""Image-text alignment metrics: CLIPScore, RefCLIPScore and raw cosine (DESIGN.md §4).

CLIPScore follows Hessel et al. 2021 and the reference code (jmhessel/clipscore):
``w * max(cos(image, prefix + caption), 0)`` per sample, then the mean; the clamp is
per sample. RefCLIPScore is the per-sample harmonic mean ``2ab / (a + b)`` of that score
``a`` and ``b``, the largest **raw** cosine between the (prefixed) caption and its (prefixed)
references: as in the reference code, ``b`` is neither clamped nor scaled by ``w``, so a
negative ``b`` gives a harmonic mean that is no mean of the two. The division is guarded:
where ``a`` is 0 (the CLIPScore clamped) the value is 0, the harmonic mean's limit, also when
``b`` is 0 (the reference code gives NaN there); a sum of 0 with ``a > 0`` (``b`` exactly
``-a``, a pole where the reference code gives an infinity) stops the run naming the samples.
When the scorer is the checkpoint under test, the definition records
``scorer: "candidate"`` rather than its hash, so a new checkpoint stays comparable.

``caption: generated`` scores the captions an image-to-text model under test writes
instead of the golden ones. The scorer is then a fixed dual encoder (the thresholds
file's ``scorer`` section), recorded by its hash; the golden caption joins the
references (RefCLIPScore).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from qa_gate.errors import AdapterError
from qa_gate.metrics.base import AlignmentInputs, Metric

DEFAULT_PREFIX = "A photo depicts "
DEFAULT_W = 2.5
CAPTIONS = ("golden", "generated")


class _Alignment(Metric[AlignmentInputs]):
    """The ``caption`` parameter shared by the alignment metrics: golden or generated captions."""

    mean_sufficient: ClassVar[bool] = True  # the mean of the first column

    def family_for(self, params: Mapping[str, Any]) -> str:
        """``scored_caption`` when the model's own captions are scored, else ``alignment``."""
        return "scored_caption" if params.get("caption") == "generated" else "alignment"

    def needs_for(self, params: Mapping[str, Any]) -> tuple[str, ...]:
        """Generated captions need no golden caption (references still, for RefCLIPScore)."""
        needs = super().needs_for(params)
        return tuple(n for n in needs if n != "caption") if params.get("caption") == "generated" else needs

    def definition(self, params: Mapping[str, Any], scorer: str) -> dict[str, Any]:
        """Golden captions leave ``caption`` out, so definitions (and baselines) from before it existed still match."""
        definition = super().definition(params, scorer)
        if definition.get("caption") == "golden":
            del definition["caption"]
        return definition

    def check_params(self, params: Mapping[str, Any]) -> str | None:
        """``caption`` is golden or generated."""
        caption = params.get("caption", "golden")
        return None if caption in CAPTIONS else f"caption: expected golden or generated, got {caption!r}"


def prompt_prefix(params: Mapping[str, Any]) -> str:
    """The prompt prefix as the reference code uses it: a space is added when missing."""
    prefix = str(params["prefix"])
    return prefix + " " if prefix and not prefix[-1].isspace() else prefix


BLOCK_ROWS = 8192
"""Rows multiplied at a time: bounds the float64 temporaries of ``rowwise_cosines``."""


def rowwise_cosines(left: np.ndarray, right: np.ndarray, rows: np.ndarray | None = None,
                    right_rows: np.ndarray | None = None) -> np.ndarray:
    """``[n]`` dot products of matching rows of L2-normalised arrays (float32 as the suite keeps them, or
    float64), accumulated in float64 block by block: no float64 copy of either matrix. ``rows``: product ``i``
    reads ``left[rows[i]]``; ``right_rows``: it reads ``right[right_rows[i]]`` (both gathered a block at a time,
    never whole); ``n`` is the length of ``right_rows``, else of ``right``."""
    n = len(right) if right_rows is None else len(right_rows)
    out = np.empty(n, dtype=np.float64)
    for a in range(0, n, BLOCK_ROWS):
        block = left[a:a + BLOCK_ROWS] if rows is None else left[rows[a:a + BLOCK_ROWS]]
        other = right[a:a + BLOCK_ROWS] if right_rows is None else right[right_rows[a:a + BLOCK_ROWS]]
        out[a:a + BLOCK_ROWS] = np.einsum("ij,ij->i", block, other, dtype=np.float64)
    return out


def clip_scores(images: np.ndarray, texts: np.ndarray, w: float) -> np.ndarray:
    """Per-row ``w * max(cos, 0)`` for L2-normalised ``[n, d]`` arrays."""
    return w * np.clip(rowwise_cosines(images, texts), 0.0, None)


def max_reference_cosine(texts: np.ndarray, refs: np.ndarray, owner: np.ndarray,
                         which: np.ndarray | None = None) -> np.ndarray:
    """For each row of ``texts``, the largest cosine to the references it owns: reference ``j`` is owned by row
    ``owner[j]`` and is ``refs[which[j]]`` (``refs[j]`` when ``which`` is ``None``)."""
    sims = rowwise_cosines(texts, refs, owner, which)
    best = np.full(len(texts), -np.inf)
    np.maximum.at(best, owner, sims)
    return best


def harmonic_mean(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Element-wise ``2ab / (a + b)``: 0 where ``a == 0`` (whatever ``b``, so ``a = b = 0`` gives 0), NaN at
    the pole ``a + b == 0`` with ``a != 0`` (the caller refuses it: :func:`harmonic_mean_poles`)."""
    total = a + b
    safe = np.where(total == 0, 1.0, total)
    return np.where(a == 0, 0.0, np.where(total == 0, np.nan, 2.0 * a * b / safe))


def harmonic_mean_poles(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Indices where ``2ab / (a + b)`` has no value: ``a + b == 0`` with ``a != 0``."""
    return np.flatnonzero((a + b == 0) & (a != 0))


class CLIPScore(_Alignment):
    """CLIPScore on the 2.5 scale (not torchmetrics' 100 * cos, mean-clamped variant)."""

    name: ClassVar[str] = "clipscore"
    params: ClassVar[Mapping[str, Any]] = {"prefix": DEFAULT_PREFIX, "w": DEFAULT_W, "caption": "golden"}
    needs: ClassVar[tuple[str, ...]] = ("caption",)

    def definition(self, params: Mapping[str, Any], scorer: str) -> dict[str, Any]:
        """The reference definition plus the prompt prefix and weight."""
        return {**super().definition(params, scorer), "clamp": "per-sample", "aggregate": "mean"}

    def per_sample(self, inputs: AlignmentInputs, params: Mapping[str, Any]) -> np.ndarray:
        """One column: the sample's CLIPScore."""
        texts = inputs.caption_embeddings(prompt_prefix(params))
        return clip_scores(inputs.image_embeddings(), texts, params["w"])[:, None]


class RefCLIPScore(_Alignment):
    """RefCLIPScore: harmonic mean of CLIPScore and the best raw caption-reference cosine."""

    name: ClassVar[str] = "refclipscore"
    params: ClassVar[Mapping[str, Any]] = {"prefix": DEFAULT_PREFIX, "w": DEFAULT_W, "caption": "golden"}
    columns: ClassVar[tuple[str, ...]] = ("value", "clipscore", "ref_cosine")
    needs: ClassVar[tuple[str, ...]] = ("caption", "references")

    def definition(self, params: Mapping[str, Any], scorer: str) -> dict[str, Any]:
        """The reference definition: references prefixed too, max raw cosine over references (no clamp, no
        ``w``), harmonic mean 0 where the CLIPScore is 0."""
        return {**super().definition(params, scorer), "references": "max raw cosine, prefixed",
                "aggregate": "mean"}

    def per_sample(self, inputs: AlignmentInputs, params: Mapping[str, Any]) -> np.ndarray:
        """Columns: RefCLIPScore, its CLIPScore part, its reference-cosine part."""
        texts = inputs.caption_embeddings(prompt_prefix(params))
        clip = clip_scores(inputs.image_embeddings(), texts, params["w"])
        refs, owner, which = inputs.reference_rows(prompt_prefix(params))
        ref = max_reference_cosine(texts, refs, owner, which)
        poles = harmonic_mean_poles(clip, ref)
        if len(poles):
            first = ", ".join(repr(inputs.sample_ids[i]) for i in poles[:5])
            raise AdapterError(f"refclipscore: {len(poles)} sample(s) ({first}) have a reference cosine of exactly "
                               "-CLIPScore, where the harmonic mean 2ab/(a+b) has no value (the reference code "
                               "gives an infinity); expected embeddings where a + b != 0")
        return np.stack([harmonic_mean(clip, ref), clip, ref], axis=1)


class Cosine(_Alignment):
    """Mean raw cosine between image and caption embeddings: no scale, no clamp."""

    name: ClassVar[str] = "cosine"
    params: ClassVar[Mapping[str, Any]] = {"prefix": "", "caption": "golden"}
    needs: ClassVar[tuple[str, ...]] = ("caption",)

    def definition(self, params: Mapping[str, Any], scorer: str) -> dict[str, Any]:
        """Raw cosine, mean over samples."""
        return {**super().definition(params, scorer), "aggregate": "mean"}

    def per_sample(self, inputs: AlignmentInputs, params: Mapping[str, Any]) -> np.ndarray:
        """One column: the sample's raw cosine."""
        texts = inputs.caption_embeddings(prompt_prefix(params))
        return rowwise_cosines(inputs.image_embeddings(), texts)[:, None]
