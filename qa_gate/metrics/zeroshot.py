"""Zero-shot classification: top-1, top-5 and mean per-class recall (DESIGN.md §4).

Definitions (they go into every metric's fingerprint):

- Class embedding: every template (``"a photo of a {}."``, ``{}`` replaced by the class name)
  is encoded and L2-normalised; the class embedding is their mean, renormalised.
- The score of a class is the cosine between the image and the class embedding, decided in float64
  (computed in float32 on the model's device, comparisons float32 cannot settle redone in float64).
- The true class's rank is ``1 + number of other classes scoring >= it`` (**ties: pessimistic,
  a tie counts against the model**; scores within ``TIE_TOL`` = 1e-9 count as ties, as in
  retrieval). Top-k is a hit when that rank is ``<= k``. With k classes or fewer every sample
  would be a hit whatever the model (top-5 over 3 classes is 1), so such a suite is refused
  before any model loads (``suite_problem``): top-k needs more than k classes, top-1 and mean
  per-class recall at least 2.
- Mean per-class recall: the mean, over the classes present among the (resampled) samples,
  of the fraction of that class's samples that are top-1 hits. Rows are ``[hit, label]``,
  so a resample that drops a class skips it. Without ties this is scikit-learn's
  ``balanced_accuracy_score``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Protocol

import numpy as np

from qa_gate.errors import ConfigError, GoldenError
from qa_gate.metrics.base import Metric
from qa_gate.metrics.counted import Counted, MeanCounted, class_recall_counted
from qa_gate.metrics.retrieval import (
    DEFAULT_BLOCK,
    TIE_TOL,
    TIES,
    check_finite,
    positive_ranks,
)

DEFAULT_TEMPLATES: tuple[str, ...] = (
    "a photo of a {}.",
    "a blurry photo of a {}.",
    "a photo of the large {}.",
    "a photo of the small {}.",
)
CLASS_EMBEDDING = "mean of L2-normalised template embeddings, renormalised"


class ZeroShotEmbeddings(Protocol):
    """Images, class names, a text encoder and labels: what class ranks are computed from."""

    sample_ids: tuple[str, ...]
    classes: tuple[str, ...]

    def image_embeddings(self) -> np.ndarray:
        """``[n, d]`` normalised, one row per sample."""
        ...

    def encode_texts(self, texts: list[str]) -> np.ndarray:
        """``[m, d]`` normalised embeddings of ``texts``."""
        ...

    def labels(self) -> np.ndarray:
        """``[n]`` int: each sample's class index into ``classes``."""
        ...


def templates_param(params: Mapping[str, Any]) -> tuple[str, ...]:
    """The ``templates`` parameter as a tuple; a ``ConfigError`` unless non-empty strings with ``{}``."""
    raw = params.get("templates", DEFAULT_TEMPLATES)
    if isinstance(raw, str) or not isinstance(raw, Sequence) or not raw:
        raise ConfigError(f"templates: expected a non-empty list of strings with '{{}}', got {raw!r}")
    for template in raw:
        if not isinstance(template, str) or "{}" not in template:
            raise ConfigError(f"templates: each template needs a '{{}}' for the class name, got {template!r}")
    return tuple(raw)


def _normalise(rows: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(rows, axis=-1, keepdims=True)
    return rows / np.where(norms == 0, 1.0, norms)


def class_embeddings(encode: Any, classes: Sequence[str], templates: Sequence[str]) -> np.ndarray:
    """``[C, d]``: per class, the renormalised mean of its normalised template embeddings.

    ``encode`` maps a list of texts to ``[m, d]`` embeddings (``inputs.encode_texts``); all
    ``len(templates) * len(classes)`` texts go to it in one call.
    """
    texts = [t.replace("{}", c) for t in templates for c in classes]
    emb = check_finite(encode(texts), "text").astype(np.float64)  # a few rows: averaged in float64
    if emb.shape[0] != len(texts):
        raise ValueError(f"encode_texts returned {emb.shape[0]} rows for {len(texts)} texts")
    per_template = _normalise(emb.reshape(len(templates), len(classes), -1))
    return _normalise(per_template.mean(axis=0))


def true_class_ranks(images: np.ndarray, classes: np.ndarray, labels: np.ndarray,
                     block: int = DEFAULT_BLOCK, device: Any = None) -> np.ndarray:
    """``[n]`` pessimistic 1-based rank of each image's true class among all classes, on ``device``."""
    ranks, _ = positive_ranks(check_finite(images, "image"), classes, labels, block=block, reverse=False,
                              device=device)
    return ranks


def _labels(inputs: ZeroShotEmbeddings) -> np.ndarray:
    labels = np.asarray(inputs.labels())
    n, n_classes = len(inputs.sample_ids), len(inputs.classes)
    if labels.shape != (n,) or not np.issubdtype(labels.dtype, np.integer):
        raise GoldenError(f"expected {n} integer class labels, got {labels.dtype} {labels.shape}")
    bad = np.flatnonzero((labels < 0) | (labels >= n_classes))
    if len(bad):
        raise GoldenError(f"sample '{inputs.sample_ids[bad[0]]}': label {labels[bad[0]]} is not a class "
                          f"index in [0, {n_classes})")
    return labels.astype(np.int64)


def suite_ranks(inputs: ZeroShotEmbeddings, templates: tuple[str, ...], device: Any = None) -> np.ndarray:
    """The true class's rank of every sample, with class embeddings from ``templates``, on ``device``."""
    images, labels = inputs.image_embeddings(), _labels(inputs)
    classes = class_embeddings(inputs.encode_texts, inputs.classes, templates)
    return true_class_ranks(images, classes, labels, device=device)


class ZeroShotInputs(ZeroShotEmbeddings, Protocol):
    """What the zero-shot metrics read: the embeddings, and the class ranks computed once per templates."""

    def class_ranks(self, templates: tuple[str, ...]) -> np.ndarray:
        """``suite_ranks`` of the embeddings for ``templates``, computed once per templates."""
        ...


class _ZeroShot(Metric[ZeroShotInputs]):
    """Shared parameters and definition."""

    params: ClassVar[Mapping[str, Any]] = {"templates": DEFAULT_TEMPLATES, "label_tag": "label"}
    needs: ClassVar[tuple[str, ...]] = ("tag:{label_tag}",)
    family: ClassVar[str] = "zeroshot"
    statistic: ClassVar[str]
    k: ClassVar[int] = 1
    """The rank within which a sample is a hit (1 for top-1 and mean per-class recall)."""

    def suite_problem(self, samples: Sequence[Any], params: Mapping[str, Any]) -> str | None:
        """Refuses a suite with ``k`` classes or fewer (the values of ``label_tag``): every sample would
        rank its class within the top ``k`` whatever the model."""
        tag = params.get("label_tag", self.params["label_tag"])
        classes = sorted({sample.tags[tag] for sample in samples if tag in sample.tags})
        if len(classes) > self.k:
            return None
        shown = ", ".join(repr(c) for c in classes[:10]) + (", ..." if len(classes) > 10 else "")
        return (f"has {len(classes)} class{'es' if len(classes) != 1 else ''} (values of tag {tag!r}: {shown}), "
                f"so every sample ranks its class within the top {self.k} whatever the model and the value is "
                f"always 1; expected at least {self.k + 1} classes")

    def definition(self, params: Mapping[str, Any], scorer: str) -> dict[str, Any]:
        """Templates, class embedding, ties and the statistic."""
        return {**super().definition(params, scorer), "templates": list(templates_param(params)),
                "class_embedding": CLASS_EMBEDDING, "similarity": "cosine, float64",
                "ties": TIES, "tie_tolerance": TIE_TOL, "statistic": self.statistic}

    def per_sample(self, inputs: ZeroShotInputs, params: Mapping[str, Any]) -> np.ndarray:
        """Columns ``[top-1 hit, rank of the true class]``."""
        rank = inputs.class_ranks(templates_param(params)).astype(np.float64)
        return np.stack([(rank <= 1).astype(np.float64), rank], axis=1)


class _TopK(_ZeroShot):
    columns: ClassVar[tuple[str, ...]] = ("hit", "rank")
    mean_sufficient: ClassVar[bool] = True  # the mean of the hit column

    def per_sample(self, inputs: ZeroShotInputs, params: Mapping[str, Any]) -> np.ndarray:
        """Columns ``[1 when the true class ranks within k, its rank]``."""
        stats = super().per_sample(inputs, params)
        stats[:, 0] = stats[:, 1] <= self.k
        return stats

    def counted(self, stats: np.ndarray) -> Counted | None:
        """The mean of the hit column from draw counts: the one column the bootstrap sums."""
        return MeanCounted(np.asarray(stats, dtype=np.float64)[:, :1], self.aggregate)


class ZeroShotTop1(_TopK):
    """Top-1 accuracy: mean over samples."""
    name, k, statistic = "zeroshot_top1", 1, "top-1 accuracy, mean over samples"


class ZeroShotTop5(_TopK):
    """Top-5 accuracy: mean over samples (a suite of 5 classes or fewer is refused)."""
    name, k, statistic = "zeroshot_top5", 5, "top-5 accuracy, mean over samples; 1 with < 5 classes"


class ZeroShotMeanPerClassRecall(_ZeroShot):
    """Mean over the classes present of the class's top-1 recall (balanced accuracy)."""

    name: ClassVar[str] = "zeroshot_mean_per_class_recall"
    columns: ClassVar[tuple[str, ...]] = ("hit", "label")
    statistic: ClassVar[str] = "mean over classes present of top-1 recall"

    def per_sample(self, inputs: ZeroShotInputs, params: Mapping[str, Any]) -> np.ndarray:
        """Columns ``[top-1 hit, class index]``."""
        stats = super().per_sample(inputs, params)
        stats[:, 1] = _labels(inputs)
        return stats

    def aggregate(self, stats: np.ndarray) -> np.ndarray:
        """Per leading index: per-class recall from ``bincount`` over labels, mean over present classes."""
        stats = np.asarray(stats, dtype=np.float64)
        lead, n = stats.shape[:-2], stats.shape[-2]
        hit = stats[..., 0].reshape(-1, n)
        label = stats[..., 1].astype(np.int64).reshape(-1, n)
        rows = hit.shape[0]
        n_classes = int(label.max(initial=-1)) + 1
        index = (np.arange(rows)[:, None] * n_classes + label).ravel()
        size = rows * n_classes
        counts = np.bincount(index, minlength=size).reshape(rows, n_classes)
        hits = np.bincount(index, weights=hit.ravel(), minlength=size).reshape(rows, n_classes)
        present = counts > 0
        recall = np.divide(hits, counts, out=np.zeros(counts.shape), where=present)
        n_present = present.sum(axis=1)
        value = np.divide(recall.sum(axis=1), n_present, out=np.full(rows, np.nan), where=n_present > 0)
        return value.reshape(lead)

    def counted(self, stats: np.ndarray) -> Counted | None:
        """The recall from draw counts (``qa_gate.metrics.counted``)."""
        return class_recall_counted(stats)
