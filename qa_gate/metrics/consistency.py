"""``consistency@P``: the share of samples whose prediction is unchanged under the perturbation ``P``.

The prediction is that of the metric named by the ``of`` parameter (the first metric of the suite
re-scored under ``P``), per its family (:data:`PREDICTIONS`): the answer for VQA, the top-1 class for
zero-shot, the predicted label set for multilabel, the caption's token set for captioning (and
OCR), the top-1 retrieved caption for alignment and retrieval. Each sample's row is 1 when the
prediction on the perturbed input equals the one on the clean input, else 0, so the bootstrap,
slices and flips see it as any per-sample metric. ``qa_gate.scoring.perturbed`` computes the
predictions.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from qa_gate.metrics.base import Metric

PREDICTIONS: Mapping[str, str] = {
    "alignment": "top-1 caption of the suite by cosine(image, prefix + caption), ties to the first",
    "retrieval": "top-1 caption or reference of the suite by cosine(image, text), ties to the first",
    "zeroshot": "top-1 class by cosine(image, template-averaged class embedding), ties to the first",
    "vqa": "the answer, VQA-normalised (punctuation, digits, articles)",
    "multilabel": "the set of labels scored >= threshold",
    "caption": "the set of lowercased word tokens of the generated caption",
    "scored_caption": "the set of lowercased word tokens of the generated caption",
    "ocr": "the set of lowercased word tokens of the transcription",
}
"""What a prediction is, per family: it enters the definition."""


class Consistency(Metric[tuple[Sequence[Hashable], Sequence[Hashable]]]):
    """1 per sample whose prediction under the perturbation equals its clean prediction; the mean."""

    name: ClassVar[str] = "consistency"
    columns: ClassVar[tuple[str, ...]] = ("unchanged",)
    mean_sufficient: ClassVar[bool] = True

    def __init__(self, resolve: Callable[[str], Metric[Any]]) -> None:
        self._resolve = resolve
        """The metric registry's ``get_metric`` (passed in: this module does not import the registry)."""

    def family_for(self, params: Mapping[str, Any]) -> str:
        """The family of the metric whose predictions it compares (``of``; from a stored definition too)."""
        of, its = self._of(params)
        return of.family_for(its)

    def needs_for(self, params: Mapping[str, Any]) -> tuple[str, ...]:
        """What the compared metric needs."""
        of, its = self._of(params)
        return of.needs_for(its)

    def definition(self, params: Mapping[str, Any], scorer: str) -> dict[str, Any]:
        """The compared metric's definition, and what a prediction is."""
        of = self._resolve(str(params["of"]))
        family = of.family_for(params)
        return {"metric": self.name, "version": self.version, "of": of.definition(params, scorer),
                "prediction": PREDICTIONS[family]}

    def _of(self, params: Mapping[str, Any]) -> tuple[Metric[Any], Mapping[str, Any]]:
        """The compared metric and its params: ``of`` names it in a metric's params; in a stored definition
        (which the report reads) ``of`` is that metric's definition, naming it under ``metric``."""
        of = params["of"]
        if isinstance(of, Mapping):
            return self._resolve(str(of["metric"])), of
        return self._resolve(str(of)), params

    def per_sample(self, inputs: tuple[Sequence[Hashable], Sequence[Hashable]],
                   params: Mapping[str, Any]) -> np.ndarray:
        """``[n, 1]``: 1.0 where the clean and perturbed predictions are equal."""
        clean, perturbed = inputs
        if len(clean) != len(perturbed):
            raise ValueError(f"{len(clean)} clean predictions against {len(perturbed)} perturbed ones")
        return np.array([[1.0 if a == b else 0.0] for a, b in zip(clean, perturbed)], dtype=np.float64).reshape(-1, 1)
