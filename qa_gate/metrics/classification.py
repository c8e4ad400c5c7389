"""Multilabel F1 (micro, macro, samples, weighted) as scikit-learn defines it (DESIGN.md §4).

A label is predicted when its score is ``>= threshold`` (default 0.5). Per label,
``F1 = 2 TP / (2 TP + FP + FN)``, and ``zero_division`` (0.0 or 1.0, default 0.0)
where ``2 TP + FP + FN == 0`` (no true and no predicted positive), as
``sklearn.metrics.f1_score`` does:

- ``micro``: one F1 from TP, FP and FN summed over samples and labels;
- ``macro``: unweighted mean over labels of each label's F1 from summed counts;
- ``weighted``: that mean weighted by support (TP + FN); when every support is 0
  scikit-learn (1.9) falls back to the unweighted mean, and so does this;
- ``samples``: mean over samples of each sample's F1 over its labels.

Per-sample statistics are ``3 L + 1`` columns: TP of every label, FP of every
label, FN of every label (in ``labels`` order), then ``zero_division`` repeated on
every row. ``aggregate`` receives no parameters, so the one parameter it needs
travels with the statistics; resampling rows keeps it constant.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Protocol

import numpy as np

from qa_gate.metrics.base import Metric, prompt_problem

AVERAGES = ("micro", "macro", "samples", "weighted")
PROMPT = "a photo of a {label}"
"""How a dual encoder scoring labels writes each one; the score is the raw cosine to the image."""


class MultilabelInputs(Protocol):
    """What multilabel F1 reads: a score and a 0/1 target per (sample, label)."""

    sample_ids: tuple[str, ...]
    labels: tuple[str, ...]

    def scores(self) -> np.ndarray:
        """``[n, L]`` float scores, one column per label in ``labels`` order."""
        ...

    def targets(self) -> np.ndarray:
        """``[n, L]`` ground truth in {0, 1}."""
        ...


def column_names(labels: Sequence[str]) -> tuple[str, ...]:
    """Names of the ``3 L + 1`` statistic columns for ``labels``."""
    return (*(f"{kind}:{label}" for kind in ("tp", "fp", "fn") for label in labels), "zero_division")


def _matrix(rows: Any, what: str, sample_ids: Sequence[str], labels: Sequence[str]) -> np.ndarray:
    """``rows`` as a float ``[n, L]`` array, or a ValueError naming the first bad sample."""
    width = len(labels)
    try:
        array = np.asarray(rows, dtype=np.float64)
    except (ValueError, TypeError):
        array = None  # ragged or not numeric: find the row below
    if array is None or array.ndim != 2 or array.shape[1] != width:
        for sample_id, row in zip(sample_ids, rows):
            if np.ndim(row) != 1 or len(row) != width:
                got = f"{len(row)} columns" if np.ndim(row) == 1 else f"a {np.ndim(row)}-d value"
                raise ValueError(f"sample '{sample_id}': {what} has {got}, expected {width} "
                                 f"(one per label: {', '.join(labels)})")
        raise ValueError(f"{what} must be an [n, {width}] array of numbers")
    if array.shape[0] != len(sample_ids):
        raise ValueError(f"{len(sample_ids)} samples but {array.shape[0]} rows of {what}")
    return array


def label_counts(scores: Any, targets: Any, sample_ids: Sequence[str], labels: Sequence[str],
                 threshold: float) -> np.ndarray:
    """``[n, 3 L]``: per-sample TP, FP and FN of every label (``score >= threshold`` predicts)."""
    scores = _matrix(scores, "scores", sample_ids, labels)
    targets = _matrix(targets, "targets", sample_ids, labels)
    for name, array, bad in (("score", scores, ~np.isfinite(scores)),
                             ("target", targets, (targets != 0) & (targets != 1))):
        if bad.any():
            row, col = (int(i) for i in np.argwhere(bad)[0])
            expected = "a finite number" if name == "score" else "0 or 1"
            raise ValueError(f"sample '{sample_ids[row]}': {name} of label '{labels[col]}' is "
                             f"{float(array[row, col])!r}, expected {expected}")
    predicted, true = scores >= threshold, targets == 1
    return np.concatenate([predicted & true, predicted & ~true, ~predicted & true], axis=1).astype(np.float64)


def _split(stats: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """TP, FP, FN ``[..., n, L]`` and zero_division ``[...]`` from ``[..., n, 3 L + 1]``."""
    stats = np.asarray(stats, dtype=np.float64)
    k = stats.shape[-1]
    if k < 4 or (k - 1) % 3:
        raise ValueError(f"multilabel statistics need 3 L + 1 columns, got {k}")
    size = (k - 1) // 3
    zero = stats[..., 0, -1] if stats.shape[-2] else np.zeros(stats.shape[:-2])
    return stats[..., :size], stats[..., size:2 * size], stats[..., 2 * size:3 * size], zero


def _f1(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray, zero: np.ndarray) -> np.ndarray:
    """Element-wise ``2 TP / (2 TP + FP + FN)``; ``zero`` (broadcast) where that is 0 / 0."""
    denominator = 2.0 * tp + fp + fn
    safe = np.where(denominator > 0, denominator, 1.0)
    return np.where(denominator > 0, 2.0 * tp / safe, zero)


def label_f1(stats: np.ndarray) -> np.ndarray:
    """``[..., L]``: each label's F1 from counts summed over the sample axis."""
    tp, fp, fn, zero = _split(stats)
    return _f1(tp.sum(-2), fp.sum(-2), fn.sum(-2), zero[..., None])


def sample_f1(stats: np.ndarray) -> np.ndarray:
    """``[..., n]``: each sample's F1 over its labels."""
    tp, fp, fn, zero = _split(stats)
    return _f1(tp.sum(-1), fp.sum(-1), fn.sum(-1), zero[..., None])


def f1(stats: np.ndarray, average: str) -> np.ndarray:
    """Multilabel F1 of ``[..., n, 3 L + 1]`` statistics, leading axes kept."""
    tp, fp, fn, zero = _split(stats)
    if average == "micro":
        return _f1(tp.sum((-2, -1)), fp.sum((-2, -1)), fn.sum((-2, -1)), zero)
    if average == "samples":
        return sample_f1(stats).mean(axis=-1)
    scores = label_f1(stats)
    if average == "macro":
        return scores.mean(axis=-1)
    if average == "weighted":
        support = (tp + fn).sum(-2)
        total = support.sum(-1)
        weighted = (scores * support).sum(-1) / np.where(total > 0, total, 1.0)
        return np.where(total > 0, weighted, scores.mean(axis=-1))
    raise ValueError(f"average must be one of {', '.join(AVERAGES)}, got {average!r}")


def per_label_f1(stats: np.ndarray, labels: Sequence[str]) -> dict[str, float]:
    """Each label's F1 over the suite, for the report."""
    scores = label_f1(np.asarray(stats, dtype=np.float64))
    if scores.shape != (len(labels),):
        raise ValueError(f"statistics hold {scores.shape[-1]} labels, got {len(labels)} names")
    return {label: float(value) for label, value in zip(labels, scores)}


class _MultilabelF1(Metric[MultilabelInputs]):
    """Shared multilabel F1 machinery; subclasses set ``name`` and ``average``."""

    average: ClassVar[str]
    params: ClassVar[Mapping[str, Any]] = {"threshold": 0.5, "zero_division": 0.0, "prompt": PROMPT}
    columns: ClassVar[tuple[str, ...]] = ("tp:<label>...", "fp:<label>...", "fn:<label>...",
                                          "zero_division")
    needs: ClassVar[tuple[str, ...]] = ("labels",)
    family: ClassVar[str] = "multilabel"

    def check_params(self, params: Mapping[str, Any]) -> str | None:
        """``zero_division`` is 0 or 1; the prompt-scoring ``prompt`` places ``{label}``."""
        zero = params.get("zero_division", self.params["zero_division"])
        if zero not in (0, 1):
            return f"zero_division: expected 0.0 or 1.0, got {zero!r}"
        return prompt_problem(params.get("prompt", PROMPT), "label", ("label",))

    def definition(self, params: Mapping[str, Any], scorer: str) -> dict[str, Any]:
        """scikit-learn's average, the threshold rule and the zero-division value."""
        return {**super().definition(params, scorer), "reference": "sklearn.metrics.f1_score",
                "average": self.average, "predicted": "score >= threshold",
                "zero_division_where": "2TP + FP + FN == 0"}

    def per_sample(self, inputs: MultilabelInputs, params: Mapping[str, Any]) -> np.ndarray:
        """Columns: TP, FP, FN of every label, then ``zero_division``."""
        threshold = params.get("threshold", self.params["threshold"])
        zero = params.get("zero_division", self.params["zero_division"])
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) \
                or not np.isfinite(threshold):
            raise ValueError(f"{self.name}: threshold must be a finite number, got {threshold!r}")
        if isinstance(zero, bool) or zero not in (0, 1):
            raise ValueError(f"{self.name}: zero_division must be 0.0 or 1.0, got {zero!r}")
        ids, labels = tuple(inputs.sample_ids), tuple(inputs.labels)
        if not labels:
            raise ValueError(f"{self.name}: no labels")
        counts = label_counts(inputs.scores(), inputs.targets(), ids, labels, float(threshold))
        return np.concatenate([counts, np.full((len(ids), 1), float(zero))], axis=1)

    def aggregate(self, stats: np.ndarray) -> np.ndarray:
        """F1 over the sample axis of ``[..., n, 3 L + 1]``, leading axes kept."""
        return f1(stats, self.average)

    def sample_values(self, stats: np.ndarray) -> np.ndarray:
        """Each sample's own F1 over its labels."""
        return sample_f1(stats)


class F1Micro(_MultilabelF1):
    """Micro F1: from TP, FP, FN summed over samples and labels."""

    name: ClassVar[str] = "f1_micro"
    average: ClassVar[str] = "micro"
    mean_sufficient: ClassVar[bool] = True  # F1 from summed counts is scale-free


class F1Macro(_MultilabelF1):
    """Macro F1: unweighted mean of per-label F1."""

    name: ClassVar[str] = "f1_macro"
    average: ClassVar[str] = "macro"
    mean_sufficient: ClassVar[bool] = True  # F1 from summed counts is scale-free


class F1Samples(_MultilabelF1):
    """Samples F1: mean of per-sample F1."""

    name: ClassVar[str] = "f1_samples"
    average: ClassVar[str] = "samples"


class F1Weighted(_MultilabelF1):
    """Weighted F1: per-label F1 weighted by support (TP + FN)."""

    name: ClassVar[str] = "f1_weighted"
    average: ClassVar[str] = "weighted"
    mean_sufficient: ClassVar[bool] = True  # F1 from summed counts is scale-free
