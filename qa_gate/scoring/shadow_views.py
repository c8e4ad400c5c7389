"""The inputs of the agreement families (shadow mode): the candidate's outputs beside the production model's.

Each view reuses the family view that produces the candidate's outputs (``VQAView``,
``CaptionView``, ``OCRView``, ``MultilabelView``, the suite's image embeddings), whatever serves
it: a generative model, a dual encoder ranking or scoring prompts, or a predictions file. The
production outputs come from the suite's ``shadow.reference``, read once per run and aligned with
the suite's samples (every sample exactly one row: coverage errors stop the run before scoring).

``method()`` is what enters every definition of the family: the reference file's sha256 and how
the candidate's outputs were produced, so neither a changed production file nor another way of
answering ever compares as the same metric.
"""

from __future__ import annotations

import glob
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from qa_gate.errors import AdapterError, ConfigError, did_you_mean
from qa_gate.scoring.task_views import CaptionView, MultilabelView, OCRView, VQAView

if TYPE_CHECKING:
    from qa_gate.config.model import ShadowConfig
    from qa_gate.golden.suite import Suite
    from qa_gate.scoring.inputs import SuiteInputs

FIELDS_OF: dict[str, tuple[str, ...]] = {
    "answer_agreement": ("answer",), "label_agreement": ("labels", "scores"), "caption_agreement": ("caption", "text"),
    "text_agreement": ("text", "caption"), "embedding_agreement": ("image_embedding", "text_embedding"),
    "scored_caption_agreement": ("caption", "text")}
"""The reference file's fields each agreement family compares, the first a row gives (an image-to-text model's one
generated text is its ``caption`` or its ``text``, as a predictions file serves it)."""


@lru_cache(maxsize=16)
def _read(path: str, version: tuple[tuple[str, int, int], ...]) -> Any:
    from qa_gate.adapters.predictions.table import read_predictions

    return read_predictions(Path(path))


def reference_table(shadow: ShadowConfig, suite: Suite) -> Any:
    """The suite's reference predictions aligned with its samples (``PredictionTable``), read once per version
    of the file and its sidecars; coverage errors (missing, unknown, duplicate ids) are raised naming the file."""
    path = shadow.reference
    files = [path, *sorted(path.parent.glob(glob.escape(path.name) + ".*"))]
    version = tuple((f.name, f.stat().st_size, f.stat().st_mtime_ns) for f in files if f.is_file())
    return _read(str(path), version).aligned([s.id for s in suite.samples], suite.name)


def check_shadow(suite: Suite, shadow: ShadowConfig | None, families: Sequence[str]) -> None:
    """Before any model loads: the suite's reference covers its samples (each exactly one row) and holds the
    field each of its agreement ``families`` compares."""
    if shadow is None:
        return
    table = reference_table(shadow, suite)
    for family in dict.fromkeys(families):
        fields = FIELDS_OF.get(family)
        if fields is None:
            continue
        if not any(table.has(f) for f in fields):
            raise ConfigError(f"{shadow.label}: the production predictions have no {' or '.join(fields)} "
                              f"field, which the {family} metrics of suite '{suite.name}' compare; expected "
                              "a predictions file written for this suite (mm-gate predict)")


class _Reference:
    """The production outputs of one suite, and what enters the definitions of the family's metrics."""

    def __init__(self, inputs: SuiteInputs, shadow: ShadowConfig | None, family: str) -> None:
        if shadow is None:
            raise AdapterError(f"the {family} metrics compare with suites.{inputs.suite.name}.shadow.reference; "
                               "the suite has none")
        self.table = reference_table(shadow, inputs.suite)
        self.label = shadow.label
        self.sample_ids = inputs.sample_ids

    def column(self, field: str, fallback: str = "") -> list[Any]:
        """The reference's ``field`` (else ``fallback``) per sample; an ``AdapterError`` naming the first sample
        without one."""
        none = (None,) * len(self.sample_ids)
        values = [v if v is not None else w for v, w in zip(self.table.columns.get(field, none),
                                                            self.table.columns.get(fallback, none))]
        missing = [sid for sid, v in zip(self.sample_ids, values) if v is None]
        if missing:
            what = f"{field!r} (or {fallback!r})" if fallback else repr(field)
            raise AdapterError(f"{self.label}: {len(missing)} production row(s) have no {what} "
                               f"(first: sample {missing[0]!r}); every sample of a shadow suite needs one")
        return values

    def extras(self, method: dict[str, Any]) -> dict[str, Any]:
        """The candidate's method with the reference file's sha256."""
        return {**method, "production_sha256": self.table.sha256}


class AnswerAgreementView:
    """The candidate's answer (``VQAView``) and the production answer of each sample."""

    def __init__(self, inputs: SuiteInputs, shadow: ShadowConfig | None, answers: VQAView) -> None:
        self._answers = answers
        self._reference = _Reference(inputs, shadow, "answer_agreement")
        self.sample_ids = inputs.sample_ids

    def method(self) -> dict[str, Any]:
        return self._reference.extras(self._answers.method())

    def predictions(self) -> list[str]:
        return self._answers.predictions()

    def references(self) -> list[str]:
        return [str(v) for v in self._reference.column("answer")]

    def pairs(self) -> list[tuple[str, str]]:
        """``(candidate, production)`` per sample, for the report."""
        return list(zip(self.predictions(), self.references()))


class TextAgreementView:
    """The candidate's text (``CaptionView`` or ``OCRView``) and the production text of each sample."""

    def __init__(self, inputs: SuiteInputs, shadow: ShadowConfig | None, texts: CaptionView | OCRView,
                 family: str) -> None:
        self._texts, (self._field, self._fallback) = texts, FIELDS_OF[family]
        self._reference = _Reference(inputs, shadow, family)
        self.sample_ids = inputs.sample_ids
        self._tokenized: Any = None

    def method(self) -> dict[str, Any]:
        return self._reference.extras(self._texts.method())

    def predictions(self) -> list[str]:
        return self._texts.predictions()

    def references(self) -> list[Any]:
        """The production text; captions as one-reference lists (CIDEr-D and BLEU read a list per sample)."""
        values = [str(v) for v in self._reference.column(self._field, self._fallback)]
        return [[v] for v in values] if self._field == "caption" else values

    def tokenized(self) -> Any:
        """The PTB-tokenised captions and production captions (one Java call), for the caption metrics."""
        if self._tokenized is None:
            from qa_gate.metrics.tokenize import TokenizedCaptions

            self._tokenized = TokenizedCaptions.of(self)
        return self._tokenized

    def pairs(self) -> list[tuple[str, str]]:
        return list(zip(self.predictions(), (str(v) for v in self._reference.column(self._field, self._fallback))))


class LabelAgreementView:
    """The candidate's predicted label set (``MultilabelView`` at ``threshold``) and the production label set."""

    def __init__(self, inputs: SuiteInputs, shadow: ShadowConfig | None, labels: MultilabelView,
                 threshold: float) -> None:
        if not labels.labels:
            raise AdapterError(f"the label_agreement metrics predict labels from the label set of "
                               f"{inputs.suite.name}, whose manifest declares none (top-level 'labels')")
        self._labels, self._threshold = labels, threshold
        self._reference = _Reference(inputs, shadow, "label_agreement")
        self.sample_ids = inputs.sample_ids

    def method(self) -> dict[str, Any]:
        return self._reference.extras(self._labels.method())

    def predictions(self) -> list[tuple[str, ...]]:
        hits = self._labels.scores() >= self._threshold
        return [tuple(x for x, on in zip(self._labels.labels, row) if on) for row in hits]

    def references(self) -> list[tuple[str, ...]]:
        """The production labels: its ``labels`` field, else its ``scores`` at the same threshold; a label outside
        the suite's label set (or scores lacking one of its labels) is an ``AdapterError`` naming the sample."""
        names, label = self._labels.labels, self._reference.label
        if self._reference.table.has("labels"):
            out = [tuple(v) for v in self._reference.column("labels")]
        else:
            out = []
            for sample_id, scores in zip(self.sample_ids, self._reference.column("scores")):
                lacking = [x for x in names if x not in scores]
                if lacking:
                    raise AdapterError(f"{label}: sample {sample_id!r}: the production scores lack "
                                       f"{', '.join(map(repr, lacking[:3]))}; expected a score for every label "
                                       f"of the suite ({', '.join(names)})")
                out.append(tuple(x for x in names if float(scores[x]) >= self._threshold))
        for sample_id, given in zip(self.sample_ids, out):
            stray = [x for x in given if x not in names]
            if stray:
                raise AdapterError(f"{label}: sample {sample_id!r}: the production labels name {stray[0]!r}, which "
                                   f"is not in the suite's label set{did_you_mean(stray[0], names)}; expected labels "
                                   f"from {', '.join(names)}")
        return out

    def pairs(self) -> list[tuple[str, str]]:
        return [(", ".join(c), ", ".join(p)) for c, p in zip(self.predictions(), self.references())]


class EmbeddingAgreementView:
    """The candidate's and the production model's embedding of each image, or of each sample's caption."""

    def __init__(self, inputs: SuiteInputs, shadow: ShadowConfig | None) -> None:
        self._inputs = inputs
        self._reference = _Reference(inputs, shadow, "embedding_agreement")
        self.sample_ids = inputs.sample_ids

    def method(self) -> dict[str, Any]:
        encoder = self._inputs.encoder
        return self._reference.extras({"candidate": "the model's own embeddings" if encoder is not None
                                       else "embeddings from a predictions file"})

    def embeddings(self, kind: str) -> tuple[np.ndarray, np.ndarray]:
        """``([n, d], [n, d])``: the candidate's and the production model's ``kind`` embeddings."""
        if kind == "image":
            candidate = self._inputs.image_embeddings()
        else:
            candidate = self._inputs.encode_texts([s.caption or "" for s in self._inputs.suite.samples])
        field = f"{kind}_embedding"
        production = np.asarray([np.asarray(v, dtype=np.float64) for v in self._reference.column(field)])
        if production.ndim != 2 or production.shape[1] != candidate.shape[1]:
            width = production.shape[1] if production.ndim == 2 else "ragged"
            raise AdapterError(f"{self._reference.label}: the production {field} has dimension {width}, the "
                               f"candidate's {candidate.shape[1]}; expected embeddings of the same space")
        return np.asarray(candidate, dtype=np.float64), production


class ScoredAgreementView:
    """The candidate's and the production captions of each image, embedded by the fixed ``scorer``."""

    def __init__(self, inputs: SuiteInputs, shadow: ShadowConfig | None, captions: TextAgreementView) -> None:
        if inputs.scorer_inputs is None:
            raise AdapterError("caption_agreement_clipscore scores both captions with the fixed dual encoder of the "
                               "thresholds file's 'scorer' section; the file has none")
        self._scorer, self._captions = inputs.scorer_inputs, captions
        self.sample_ids = inputs.sample_ids

    def method(self) -> dict[str, Any]:
        return self._captions.method()

    def image_embeddings(self) -> np.ndarray:
        """``[n, d]`` the scorer's normalised image embeddings."""
        return self._scorer.image_embeddings()

    def caption_embeddings(self, prefix: str) -> tuple[np.ndarray, np.ndarray]:
        """``([n, d], [n, d])``: ``prefix`` + the candidate's and + the production caption, embedded by the scorer."""
        pairs = self._captions.pairs()
        return (self._scorer.encode_texts([prefix + c for c, _ in pairs]),
                self._scorer.encode_texts([prefix + p for _, p in pairs]))

    def pairs(self) -> list[tuple[str, str]]:
        return self._captions.pairs()
