"""Character and word error rates with jiwer 4 semantics (DESIGN.md §4).

Per sample the statistics are ``[errors, reference length]``: errors are the
edit operations (substitutions + deletions + insertions) of jiwer's Levenshtein
alignment, the length is the reference's token count after the transforms.
The suite value is corpus-level, as ``jiwer.cer`` / ``jiwer.wer`` compute it on
the lists: ``sum(errors) / sum(reference length)``, not a mean of per-sample
rates. When the total reference length is 0 jiwer returns the number of
insertions (an absolute count, not a rate); ``aggregate`` mirrors that so a
bootstrap resample of empty references never fails, while ``per_sample`` refuses
a suite whose references are all empty.

Transforms are jiwer's defaults and do not change case:

- CER: ``Strip``, ``ReduceToListOfListOfChars`` (inner spaces count as characters);
- WER: ``RemoveMultipleSpaces``, ``Strip``, ``ReduceToListOfListOfWords`` (words
  split on single spaces; a tab inside a line does not split words).

``lowercase: true`` puts ``ToLowerCase`` first, on both sides.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import ModuleType
from typing import Any, ClassVar, Protocol

import numpy as np

from qa_gate.errors import GateError
from qa_gate.metrics.base import Metric

TRANSFORMS: Mapping[str, tuple[str, ...]] = {
    "char": ("Strip", "ReduceToListOfListOfChars"),
    "word": ("RemoveMultipleSpaces", "Strip", "ReduceToListOfListOfWords"),
}
"""jiwer's ``cer_default`` and ``wer_default``, by transform class name."""


class OCRInputs(Protocol):
    """What CER/WER read: one predicted and one reference transcription per sample."""

    sample_ids: tuple[str, ...]

    def predictions(self) -> list[str]:
        """The model's transcription of each sample."""
        ...

    def references(self) -> list[str]:
        """The reference transcription of each sample."""
        ...


def _jiwer() -> ModuleType:
    try:
        import jiwer
    except ImportError as exc:
        raise GateError(f"CER/WER need jiwer ({exc}); install it with: pip install 'jiwer>=4,<5'") from None
    return jiwer


def transform_names(unit: str, lowercase: bool) -> tuple[str, ...]:
    """The jiwer transforms applied to both sides, in order."""
    return (("ToLowerCase",) if lowercase else ()) + TRANSFORMS[unit]


def edit_counts(references: Sequence[str], predictions: Sequence[str], unit: str,
                lowercase: bool = False) -> np.ndarray:
    """``[n, 2]``: each pair's edit operations (S + D + I) and reference length.

    ``unit`` is ``"char"`` or ``"word"``; one jiwer call aligns every pair.
    """
    if unit not in TRANSFORMS:
        raise ValueError(f"unit must be 'char' or 'word', got {unit!r}")
    jiwer = _jiwer()
    if not references:
        return np.zeros((0, 2))
    transform = jiwer.Compose([getattr(jiwer, name)() for name in transform_names(unit, lowercase)])
    out = jiwer.process_words(list(references), list(predictions), transform, transform)
    counts = np.empty((len(references), 2))
    for row, (reference, chunks) in enumerate(zip(out.references, out.alignments)):
        errors = 0
        for chunk in chunks:
            if chunk.type == "insert":
                errors += chunk.hyp_end_idx - chunk.hyp_start_idx
            elif chunk.type != "equal":
                errors += chunk.ref_end_idx - chunk.ref_start_idx
        counts[row] = errors, len(reference)
    return counts


def error_rate(stats: np.ndarray) -> np.ndarray:
    """``sum(errors) / sum(length)`` over axis ``-2`` of ``[..., n, 2]``; jiwer's edge case
    (the error count itself) where the summed length is 0."""
    stats = np.asarray(stats, dtype=np.float64)
    errors, length = stats[..., 0].sum(axis=-1), stats[..., 1].sum(axis=-1)
    return np.where(length > 0, errors / np.where(length > 0, length, 1.0), errors)


class _EditRate(Metric[OCRInputs]):
    """Shared CER/WER machinery; subclasses set ``name`` and ``unit``."""

    unit: ClassVar[str]
    higher_is_better: ClassVar[bool] = False
    params: ClassVar[Mapping[str, Any]] = {"lowercase": False}
    columns: ClassVar[tuple[str, ...]] = ("errors", "reference_length")
    mean_sufficient: ClassVar[bool] = True  # summed edits / summed length (references are never all empty)
    needs: ClassVar[tuple[str, ...]] = ("text",)
    family: ClassVar[str] = "ocr"

    def definition(self, params: Mapping[str, Any], scorer: str) -> dict[str, Any]:
        """The unit, the jiwer transforms and the corpus-level formula."""
        lowercase = bool(params.get("lowercase", self.params["lowercase"]))
        return {**super().definition(params, scorer), "reference": "jiwer 4", "unit": self.unit,
                "transforms": list(transform_names(self.unit, lowercase)),
                "aggregate": "sum(S+D+I) / sum(reference length)",
                "zero_reference_length": "total insertions (as jiwer)"}

    def per_sample(self, inputs: OCRInputs, params: Mapping[str, Any]) -> np.ndarray:
        """Columns: edit operations and reference length of each sample."""
        lowercase = params.get("lowercase", self.params["lowercase"])
        if not isinstance(lowercase, bool):
            raise ValueError(f"{self.name}: lowercase must be true or false, got {lowercase!r}")
        ids = inputs.sample_ids
        predictions, references = list(inputs.predictions()), list(inputs.references())
        if len(predictions) != len(ids) or len(references) != len(ids):
            raise ValueError(f"{self.name}: {len(ids)} samples but {len(predictions)} predictions "
                             f"and {len(references)} references")
        for sample_id, prediction, reference in zip(ids, predictions, references):
            if not isinstance(prediction, str) or not isinstance(reference, str):
                raise ValueError(f"sample '{sample_id}': {self.name} needs a prediction and a reference "
                                 f"string, got {type(prediction).__name__} and {type(reference).__name__}")
        stats = edit_counts(references, predictions, self.unit, lowercase)
        if len(ids) and stats[:, 1].sum() == 0:
            raise ValueError(f"{self.name}: every reference is empty after the transforms "
                             f"({', '.join(transform_names(self.unit, lowercase))}); the error rate "
                             f"is undefined (jiwer would return the insertion count instead)")
        return stats

    def aggregate(self, stats: np.ndarray) -> np.ndarray:
        """Corpus-level rate from summed counts, leading axes kept."""
        return error_rate(stats)

    def sample_values(self, stats: np.ndarray) -> np.ndarray:
        """Each sample's own rate (jiwer on that pair alone)."""
        return error_rate(np.asarray(stats, dtype=np.float64)[:, None, :])


class CER(_EditRate):
    """Character error rate: summed character edits over summed reference characters."""

    name: ClassVar[str] = "cer"
    unit: ClassVar[str] = "char"


class WER(_EditRate):
    """Word error rate: summed word edits over summed reference words."""

    name: ClassVar[str] = "wer"
    unit: ClassVar[str] = "word"
