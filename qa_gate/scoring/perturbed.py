"""Scoring under perturbations: one set of views per perturbation, and the predictions ``consistency@P`` compares.

A metric whose params carry a ``perturbation`` spec (``qa_gate.config.perturbations``) reads the views
of that perturbation's inputs (``SuiteInputs.perturbed``): an image perturbation decodes every image
through its transform (``qa_gate.scoring.perturbations``) and runs the model again, its outputs cached
under keys that hold the perturbation's spec (never the clean entries); a text perturbation scores
the suite's samples with their captions and references perturbed, the images and their outputs
shared with the clean inputs (text embeddings are cached by content). A generated caption scored by
the fixed ``scorer`` is scored against the clean image: the perturbation tests the model, not the judge.

``consistency@P`` reads ``(clean predictions, perturbed predictions)`` of the metric it names
(``of``), per family as :data:`qa_gate.metrics.consistency.PREDICTIONS` says.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Hashable, Mapping
from dataclasses import replace
from typing import Any

import numpy as np

from qa_gate.config.model import Perturbation
from qa_gate.config.perturbations import PERTURBATION_KEY, side
from qa_gate.metrics.base import Metric
from qa_gate.metrics.clip import prompt_prefix
from qa_gate.metrics.consistency import Consistency
from qa_gate.metrics.host_ranking import distinct_rows
from qa_gate.metrics.vqa import normalise
from qa_gate.metrics.zeroshot import class_embeddings, templates_param
from qa_gate.scoring.families import FAMILIES, Family, SuiteViews
from qa_gate.scoring.perturbations import image_transform, perturbed_sample

Params = Mapping[str, Any]
_WORD = re.compile(r"\w+")


def perturbation_of(params: Params) -> Perturbation | None:
    """The perturbation a metric's params carry (``None``: a clean metric)."""
    spec = params.get(PERTURBATION_KEY)
    return None if spec is None else Perturbation(**dict(spec))


def _top1(scores: np.ndarray) -> list[int]:
    return [int(i) for i in np.argmax(scores, axis=1)]


def _top1_text(images: np.ndarray, texts: np.ndarray) -> list[int]:
    """Each image's top-1 text by cosine, in float64 against the *distinct* text rows, ties to the first: rows
    that are bitwise equal (one text twice) tie exactly, so the first of them is the prediction whatever a
    BLAS kernel's rounding does with their positions (a float32 product of equal rows can differ in the last
    bit from one row position, CPU or OpenBLAS build to another, and the tie went either way)."""
    dups = distinct_rows(texts)
    first = np.arange(len(texts)) if dups is None else np.sort(dups[0])
    return [int(first[i]) for i in _top1(images.astype(np.float64) @ texts[first].astype(np.float64).T)]


def _tokens(texts: list[str]) -> list[Hashable]:
    return [frozenset(_WORD.findall(t.lower())) for t in texts]


def _alignment(views: SuiteViews, params: Params) -> list[Hashable]:
    inputs = views.inputs
    prefix = prompt_prefix({"prefix": params.get("prefix", "")})
    return list(_top1_text(inputs.image_embeddings(), inputs.caption_embeddings(prefix)))


def _retrieval(views: SuiteViews, params: Params) -> list[Hashable]:
    view = views.get(FAMILIES["retrieval"], params)
    texts, _ = view.caption_embeddings()
    return list(_top1_text(view.image_embeddings(), texts))


def _zeroshot(views: SuiteViews, params: Params) -> list[Hashable]:
    view = views.get(FAMILIES["zeroshot"], params)
    classes = class_embeddings(view.encode_texts, view.classes, templates_param(params))
    return [view.classes[i] for i in _top1(view.image_embeddings().astype(np.float64) @ classes.T)]


def _vqa(views: SuiteViews, params: Params) -> list[Hashable]:
    return [normalise(a) for a in views.get(FAMILIES["vqa"], params).predictions()]


def _multilabel(views: SuiteViews, params: Params) -> list[Hashable]:
    view = views.get(FAMILIES["multilabel"], params)
    hits = view.scores() >= float(params.get("threshold", 0.5))
    return [frozenset(x for x, on in zip(view.labels, row) if on) for row in hits]


def _captions(views: SuiteViews, _: Params) -> list[Hashable]:
    return _tokens(views.get(FAMILIES["caption"], {}).predictions())


def _ocr(views: SuiteViews, params: Params) -> list[Hashable]:
    return _tokens(views.get(FAMILIES["ocr"], params).predictions())


PREDICT: Mapping[str, Callable[[SuiteViews, Params], list[Hashable]]] = {
    "alignment": _alignment, "retrieval": _retrieval, "zeroshot": _zeroshot, "vqa": _vqa,
    "multilabel": _multilabel, "caption": _captions, "scored_caption": _captions, "ocr": _ocr,
}
"""Each family's prediction per sample, as ``consistency@P`` compares them (``metrics.consistency.PREDICTIONS``)."""


class PerturbedViews:
    """The clean views of a suite and, built on first use, one set of views per perturbation."""

    def __init__(self, clean: SuiteViews) -> None:
        self.clean = clean
        self._views: dict[str, SuiteViews] = {}

    def views(self, perturbation: Perturbation | None) -> SuiteViews:
        """The views a metric under ``perturbation`` reads (``None``: the clean ones)."""
        if perturbation is None:
            return self.clean
        variant = json.dumps(perturbation.spec(), sort_keys=True, separators=(",", ":"))
        if variant not in self._views:
            inputs = self.clean.inputs
            suite, transform, cache = inputs.suite, None, inputs.cache  # text: the images and their keys unchanged
            if side(perturbation) == "text":
                suite = replace(suite, samples=tuple(perturbed_sample(s, perturbation) for s in suite.samples))
            else:
                transform = image_transform(perturbation)
                cache = inputs.cache.perturbed(variant, f"{inputs.cache.label} @{perturbation.name}")
            self._views[variant] = SuiteViews(inputs.perturbed(transform, suite, cache), self.clean.shadow)
        return self._views[variant]

    def read(self, metric: Metric[Any], family: Family, params: Params) -> tuple[Any, Any]:
        """The view whose ``extras`` enter the metric's definition, and what its ``per_sample`` reads."""
        perturbation = perturbation_of(params)
        if isinstance(metric, Consistency):
            clean = PREDICT[family.name](self.clean, params)
            perturbed = PREDICT[family.name](self.views(perturbation), params)
            return self.clean.get(family, params), (clean, perturbed)
        view = self.views(perturbation).get(family, params)
        return view, family.read(view)


def perturbation_extras(params: Params) -> dict[str, Any]:
    """What a perturbed metric's definition adds: its perturbation's spec (nothing for a clean metric)."""
    spec = params.get(PERTURBATION_KEY)
    return {} if spec is None else {PERTURBATION_KEY: dict(spec)}
