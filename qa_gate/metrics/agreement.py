"""Agreement metrics of shadow mode: the candidate's outputs against the production model's on the same samples.

Each suite with ``shadow: {reference: production.jsonl}`` compares what the model under test
produced with the reference file's outputs, sample by sample, so the bootstrap, slices and
flips work as for any metric:

- ``answer_agreement``: 1 where the two answers are equal after the VQA normalisation of
  :mod:`qa_gate.metrics.vqa` (line breaks and tabs to spaces, ``strip``, then
  ``process_punctuation`` and ``process_digit_article`` on both sides), else 0; the mean.
- ``label_agreement``: per-sample Jaccard index of the two predicted label sets (both empty: 1);
  the mean. ``label_agreement_micro``: summed intersections over summed unions (a ratio of sums;
  statistics ``[intersection, union]``; 1 when every set is empty).
- ``caption_agreement``: CIDEr-D of the candidate's captions with the production caption as the
  one reference (pycocoevalcap, as ``cider``); ``caption_agreement_bleu4``: corpus BLEU-4 likewise;
  ``caption_agreement_clipscore``: the candidate caption's CLIPScore minus the production caption's,
  both by the fixed ``scorer`` (positive: the candidate describes the image better).
- ``text_agreement``: CER of the candidate's transcription against the production transcription
  (jiwer, as ``cer``): **lower is better**, 0 when they are identical; the production text plays
  the reference, so the rate is per production character.
- ``embedding_agreement``: mean cosine between the candidate's and the production model's
  embedding of each image (``embedding: image``, the default) or of each sample's caption
  (``embedding: text``); both sides L2-normalised first.

Every definition records the reference file's sha256 (``production_sha256``) and how the
candidate's outputs were produced (the family's method), so a changed production file or
another way of answering never compares as the same metric.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any, ClassVar, Protocol

import numpy as np

from qa_gate.metrics.base import Metric, prompt_problem
from qa_gate.metrics.classification import PROMPT as LABEL_PROMPT
from qa_gate.metrics.clip import DEFAULT_PREFIX, DEFAULT_W, clip_scores, prompt_prefix, rowwise_cosines
from qa_gate.metrics.ocr import CER
from qa_gate.metrics.text import Bleu4, CIDErD
from qa_gate.metrics.vqa import RANKING_PROMPT, normalise

EMBEDDINGS = ("image", "text")
PERFECT = 1.0


class Agreement(Protocol):
    """What an agreement metric reads: the candidate's and the production model's output per sample."""

    sample_ids: tuple[str, ...]

    def predictions(self) -> list[Any]:
        """The candidate's output per sample."""
        ...

    def references(self) -> list[Any]:
        """The production model's output per sample (from the reference file)."""
        ...


@lru_cache(maxsize=1 << 16)
def _normal(text: str) -> str:
    """``text`` as the VQA normalisation leaves it (answers repeat: each distinct one is normalised once)."""
    return normalise(text.replace("\n", " ").replace("\t", " ").strip())


def same_answer(candidate: str, production: str) -> bool:
    """True when two answers match after the VQA normalisation of both sides."""
    return _normal(candidate) == _normal(production)


def label_overlap(candidate: Iterable[str], production: Iterable[str]) -> tuple[int, int]:
    """``(|intersection|, |union|)`` of two label sets."""
    a, b = set(candidate), set(production)
    return len(a & b), len(a | b)


def jaccard(inter: np.ndarray, union: np.ndarray) -> np.ndarray:
    """Element-wise ``inter / union``; 1 where the union is empty (both sets empty agree)."""
    inter, union = np.asarray(inter, dtype=np.float64), np.asarray(union, dtype=np.float64)
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), PERFECT)


def _pairs(inputs: Agreement, name: str) -> tuple[list[Any], list[Any]]:
    ids = inputs.sample_ids
    candidate, production = list(inputs.predictions()), list(inputs.references())
    if not len(ids) == len(candidate) == len(production):
        raise ValueError(f"{name}: {len(ids)} samples but {len(candidate)} candidate and "
                         f"{len(production)} production outputs")
    return candidate, production


class _Shadow:
    """Marks a metric that reads ``shadow.reference``: config loading asks for the section."""

    compares_reference: ClassVar[bool] = True
    agreed: ClassVar[float | None] = PERFECT
    """The per-sample value of two identical outputs (``None`` when it depends on the suite: CIDEr-D)."""


class AnswerAgreement(_Shadow, Metric[Agreement]):
    """Share of samples whose candidate answer equals the production answer (VQA-normalised)."""

    name: ClassVar[str] = "answer_agreement"
    family: ClassVar[str] = "answer_agreement"
    params: ClassVar[Mapping[str, Any]] = {"prompt": RANKING_PROMPT}
    needs: ClassVar[tuple[str, ...]] = ("question",)
    mean_sufficient: ClassVar[bool] = True

    def check_params(self, params: Mapping[str, Any]) -> str | None:
        """The ranking ``prompt`` of a dual encoder places ``{answer}``."""
        return prompt_problem(params.get("prompt", RANKING_PROMPT), "answer", ("answer", "question"))

    def definition(self, params: Mapping[str, Any], scorer: str) -> dict[str, Any]:
        """Exact match after the VQA normalisation of both sides."""
        return {**super().definition(params, scorer), "match": "exact after VQA normalisation of both sides "
                "(strip, punctuation, digits, articles, contractions)", "aggregate": "mean"}

    def per_sample(self, inputs: Agreement, params: Mapping[str, Any]) -> np.ndarray:
        """One column: 1 where the answers agree, else 0."""
        candidate, production = _pairs(inputs, self.name)
        return np.array([[float(same_answer(str(c), str(p)))] for c, p in zip(candidate, production)],
                        dtype=np.float64).reshape(len(candidate), 1)


class _Labels(_Shadow, Metric[Agreement]):
    family: ClassVar[str] = "label_agreement"
    params: ClassVar[Mapping[str, Any]] = {"threshold": 0.5, "prompt": LABEL_PROMPT}

    def check_params(self, params: Mapping[str, Any]) -> str | None:
        """The prompt-scoring ``prompt`` of a dual encoder places ``{label}``."""
        return prompt_problem(params.get("prompt", LABEL_PROMPT), "label", ("label",))

    def overlaps(self, inputs: Agreement) -> np.ndarray:
        """``[n, 2]``: each sample's intersection and union of the two predicted label sets."""
        candidate, production = _pairs(inputs, self.name)
        return np.array([label_overlap(c, p) for c, p in zip(candidate, production)],
                        dtype=np.float64).reshape(len(candidate), 2)


class LabelAgreement(_Labels):
    """Mean per-sample Jaccard index of the candidate's and the production model's label sets."""

    name: ClassVar[str] = "label_agreement"
    columns: ClassVar[tuple[str, ...]] = ("value", "intersection", "union")
    mean_sufficient: ClassVar[bool] = True

    def definition(self, params: Mapping[str, Any], scorer: str) -> dict[str, Any]:
        """Per-sample Jaccard, both empty = 1, mean over samples."""
        return {**super().definition(params, scorer), "predicted": "score >= threshold",
                "per_sample": "|A ∩ B| / |A ∪ B|, 1 when both are empty", "aggregate": "mean"}

    def per_sample(self, inputs: Agreement, params: Mapping[str, Any]) -> np.ndarray:
        """Columns: the Jaccard index, the intersection and the union of each sample's label sets."""
        counts = self.overlaps(inputs)
        return np.column_stack([jaccard(counts[:, 0], counts[:, 1]), counts])


class LabelAgreementMicro(_Labels):
    """Summed intersections over summed unions of the two label sets (micro agreement)."""

    name: ClassVar[str] = "label_agreement_micro"
    columns: ClassVar[tuple[str, ...]] = ("intersection", "union")
    mean_sufficient: ClassVar[bool] = True  # a ratio of sums is scale-free

    def definition(self, params: Mapping[str, Any], scorer: str) -> dict[str, Any]:
        """A ratio of sums: 1 when every set is empty."""
        return {**super().definition(params, scorer), "predicted": "score >= threshold",
                "aggregate": "sum |A ∩ B| / sum |A ∪ B|, 1 when every union is empty"}

    def per_sample(self, inputs: Agreement, params: Mapping[str, Any]) -> np.ndarray:
        """Columns: intersection and union of each sample's label sets."""
        return self.overlaps(inputs)

    def aggregate(self, stats: np.ndarray) -> np.ndarray:
        """``sum(intersection) / sum(union)`` over the sample axis, leading axes kept."""
        stats = np.asarray(stats, dtype=np.float64)
        return jaccard(stats[..., 0].sum(axis=-1), stats[..., 1].sum(axis=-1))

    def sample_values(self, stats: np.ndarray) -> np.ndarray:
        """Each sample's own Jaccard index."""
        stats = np.asarray(stats, dtype=np.float64)
        return jaccard(stats[:, 0], stats[:, 1])


class CaptionAgreement(_Shadow, CIDErD):
    """CIDEr-D of the candidate's captions with the production caption as the one reference."""

    name: ClassVar[str] = "caption_agreement"
    family: ClassVar[str] = "caption_agreement"
    needs: ClassVar[tuple[str, ...]] = ()
    agreed: ClassVar[float | None] = None


class CaptionAgreementBleu4(_Shadow, Bleu4):
    """Corpus BLEU-4 of the candidate's captions with the production caption as the one reference."""

    name: ClassVar[str] = "caption_agreement_bleu4"
    family: ClassVar[str] = "caption_agreement"
    needs: ClassVar[tuple[str, ...]] = ()
    agreed: ClassVar[float | None] = None  # a sample's BLEU-4 of two identical captions under 4 tokens is not 1


class TextAgreement(_Shadow, CER):
    """CER of the candidate's transcription against the production transcription: 0 when identical."""

    name: ClassVar[str] = "text_agreement"
    family: ClassVar[str] = "text_agreement"
    needs: ClassVar[tuple[str, ...]] = ()
    agreed: ClassVar[float | None] = 0.0

    def definition(self, params: Mapping[str, Any], scorer: str) -> dict[str, Any]:
        """CER with the production transcription as the reference: lower is better."""
        return {**super().definition(params, scorer), "orientation": "lower is better; the production "
                "transcription is the reference (errors per production character)"}


class EmbeddingAgreement(_Shadow, Metric[Any]):
    """Mean cosine between the candidate's and the production model's embedding of the same image or text."""

    name: ClassVar[str] = "embedding_agreement"
    family: ClassVar[str] = "embedding_agreement"
    params: ClassVar[Mapping[str, Any]] = {"embedding": "image"}
    mean_sufficient: ClassVar[bool] = True

    def needs_for(self, params: Mapping[str, Any]) -> tuple[str, ...]:
        """Text embeddings are of each sample's caption."""
        return ("caption",) if params.get("embedding") == "text" else ()

    def check_params(self, params: Mapping[str, Any]) -> str | None:
        """``embedding`` is image or text."""
        kind = params.get("embedding", "image")
        return None if kind in EMBEDDINGS else f"embedding: expected image or text, got {kind!r}"

    def definition(self, params: Mapping[str, Any], scorer: str) -> dict[str, Any]:
        """Cosine of the L2-normalised embeddings, mean over samples."""
        return {**super().definition(params, scorer), "per_sample": "cosine of L2-normalised embeddings",
                "aggregate": "mean"}

    def per_sample(self, inputs: Any, params: Mapping[str, Any]) -> np.ndarray:
        """One column: each sample's cosine between the two embeddings."""
        candidate, production = inputs.embeddings(str(params.get("embedding", "image")))
        return rowwise_cosines(unit_rows(candidate), unit_rows(production))[:, None]


def unit_rows(rows: np.ndarray) -> np.ndarray:
    """``rows`` (float64) scaled to unit length; a zero row stays zero."""
    rows = np.asarray(rows, dtype=np.float64)
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return rows / np.where(norms > 0, norms, 1.0)


class CaptionAgreementCLIPScore(_Shadow, Metric[Any]):
    """CLIPScore of the candidate's caption minus that of the production caption, both by the fixed ``scorer``."""

    name: ClassVar[str] = "caption_agreement_clipscore"
    family: ClassVar[str] = "scored_caption_agreement"
    params: ClassVar[Mapping[str, Any]] = {"prefix": DEFAULT_PREFIX, "w": DEFAULT_W}
    columns: ClassVar[tuple[str, ...]] = ("value", "candidate_clipscore", "production_clipscore")
    mean_sufficient: ClassVar[bool] = True
    agreed: ClassVar[float | None] = None
    scored: ClassVar[bool] = True
    """Scored by the thresholds file's fixed ``scorer``: config loading asks for the section."""

    def definition(self, params: Mapping[str, Any], scorer: str) -> dict[str, Any]:
        """Per-sample CLIPScore difference (candidate - production), both scored by the fixed scorer; the mean."""
        return {**super().definition(params, scorer), "per_sample": "clipscore(candidate) - clipscore(production)",
                "clamp": "per-sample", "aggregate": "mean"}

    def per_sample(self, inputs: Any, params: Mapping[str, Any]) -> np.ndarray:
        """Columns: the difference, the candidate's CLIPScore, the production caption's CLIPScore."""
        candidate, production = inputs.caption_embeddings(prompt_prefix(params))
        images = inputs.image_embeddings()
        ours, theirs = clip_scores(images, candidate, params["w"]), clip_scores(images, production, params["w"])
        return np.column_stack([ours - theirs, ours, theirs])
