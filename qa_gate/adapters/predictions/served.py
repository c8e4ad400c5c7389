"""The capability objects of a predictions file: each answers an ``OutputRequest`` by sample id (or text).

They share one :class:`Served`: the table aligned to every gated suite before scoring
(``check_suites``), the golden captions whose rows carry a ``text_embedding``, and the label set.
Their image methods are never called (the runner asks ``outputs``); calling one is an error.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from qa_gate.adapters.predictions.coverage import check_file
from qa_gate.adapters.predictions.table import PredictionTable
from qa_gate.adapters.protocols import OutputRequest
from qa_gate.errors import AdapterError, did_you_mean
from qa_gate.golden.suite import Suite

SHOWN = 3


def _listed(items: Sequence[str]) -> str:
    shown = ", ".join(repr(i if len(i) <= 50 else i[:47] + "...") for i in items[:SHOWN])
    return shown + (", ..." if len(items) > SHOWN else "")


class Served:
    """One predictions table, aligned to the gated suites, answering requests."""

    def __init__(self, table: PredictionTable) -> None:
        self.table = table
        self.by_suite: dict[str, PredictionTable] = {}
        self.suites: dict[str, Suite] = {}
        self.captions: dict[str, np.ndarray] = {}
        self.labels: tuple[str, ...] = ()

    def check_suites(self, suites: Sequence[Suite]) -> None:
        """Align the table to every suite (coverage errors stop the run here, before scoring)."""
        self.by_suite = check_file(self.table, {s.name: [x.id for x in s.samples] for s in suites})
        self.suites = {s.name: s for s in suites}
        self.labels = tuple(dict.fromkeys(x for s in suites for x in s.labels))
        for suite in suites:
            vectors = self.by_suite[suite.name].columns["text_embedding"]
            for sample, vector in zip(suite.samples, vectors):
                if vector is not None and sample.caption is not None:
                    self.captions.setdefault(sample.caption, vector)

    def _rows(self, request: OutputRequest) -> tuple[Suite, PredictionTable]:
        if request.suite not in self.by_suite:
            raise AdapterError(f"{self.table.name}: suite {request.suite!r} was not checked against the file "
                               "before scoring; a predictions file serves the suites of the run it was opened for")
        table = self.by_suite[request.suite]
        if tuple(table.ids) != tuple(request.keys):
            raise AdapterError(f"{self.table.name}: outputs were asked for other samples of suite "
                               f"{request.suite!r} than it has")
        return self.suites[request.suite], table

    def outputs(self, request: OutputRequest) -> Any:
        """The outputs of ``request``: texts per sample, or rows of numbers per sample (or per text)."""
        if request.operation == "text encoding":
            return self._texts(request)
        suite, table = self._rows(request)
        if request.operation == "image encoding":
            return np.stack(self._column(table, request, "image_embedding"))
        if request.operation == "generation":
            return self._column(table, request, "caption", "text")  # one generated text: caption, else text
        if request.operation == "answering":
            questions = tuple(s.question or "" for s in suite.samples)
            if request.extra is not None and tuple(request.extra) != questions:
                raise AdapterError(f"{self.table.name}: holds the answers to the questions of suite {suite.name!r}; "
                                   "answers to other questions (perturbed ones) cannot be looked up")
            return self._column(table, request, "answer")
        if request.operation == "classification":
            return self._scores(suite, table)
        raise AdapterError(f"{self.table.name}: a predictions file has no {request.operation} outputs")

    def _column(self, table: PredictionTable, request: OutputRequest, field: str, fallback: str = "") -> list[Any]:
        values = list(table.columns[field])
        if fallback:
            values = [v if v is not None else w for v, w in zip(values, table.columns[fallback])]
        lacking = [i for i, v in enumerate(values) if v is None]
        if lacking:
            what = f"{field} (or {fallback})" if fallback else field
            family = f"the {request.family} metrics" if request.family else "the metrics"
            first, ids = lacking[0], _listed([table.ids[i] for i in lacking])
            raise AdapterError(f"{self.table.name}: {table.where[first]} (sample {table.ids[first]!r} of suite "
                               f"{request.suite!r}) has no {what}; {family} need one for every sample "
                               f"({len(lacking)} of {len(values)} samples lack it: {ids})")
        return values

    def _texts(self, request: OutputRequest) -> np.ndarray:
        found = [self.table.texts.get(t) if t in self.table.texts else self.captions.get(t) for t in request.keys]
        missing = [t for t, row in zip(request.keys, found) if row is None]
        if missing:
            family = f"the {request.family} metrics" if request.family else "the metrics"
            example = json.dumps({"input_text": missing[0], "text_embedding": ["..."]})
            raise AdapterError(f"{self.table.name}: no text_embedding for {len(missing)} text(s) {family} of suite "
                               f"{request.suite!r} embed ({_listed(missing)}); expected a text row for each, e.g. "
                               f"{example} (mm-gate predict writes every text the configured metrics embed)")
        return np.stack(found)  # type: ignore[arg-type]

    def _scores(self, suite: Suite, table: PredictionTable) -> np.ndarray:
        own = set(suite.labels)
        out = np.zeros((len(table.ids), len(self.labels)))
        for row, (given, scores) in enumerate(zip(table.columns["labels"], table.columns["scores"])):
            at = f"{self.table.name}: {table.where[row]} (sample {table.ids[row]!r})"
            if scores is not None:
                lacking = [x for x in suite.labels if x not in scores]
                if lacking:
                    raise AdapterError(f"{at}: scores lack {_listed(lacking)} of the label set of suite "
                                       f"{suite.name!r}; expected a score for every label ({', '.join(suite.labels)})")
                out[row] = [scores.get(x, 0.0) for x in self.labels]
            elif given is not None:
                stray = [x for x in given if x not in own]
                if stray:
                    raise AdapterError(f"{at}: labels name {stray[0]!r}, which is not in the label set of suite "
                                       f"{suite.name!r}{did_you_mean(stray[0], suite.labels)}; its labels are "
                                       f"{', '.join(suite.labels)}")
                out[row] = [1.0 if x in given else 0.0 for x in self.labels]
            else:
                raise AdapterError(f"{at}: has no labels or scores; the multilabel metrics need them for every "
                                   f"sample of suite {suite.name!r}")
        return out


class _Capability:
    """One capability of a predictions file."""

    operation = ""

    def __init__(self, served: Served) -> None:
        self._served = served

    def outputs(self, request: OutputRequest) -> Any:
        """The shared table's outputs for ``request``."""
        return self._served.outputs(request)

    def check_suites(self, suites: Sequence[Suite]) -> None:
        """Align the shared table to the gated suites (done once for every capability of the file)."""
        if not self._served.by_suite:
            self._served.check_suites(suites)

    @property
    def settings(self) -> Mapping[str, Any]:
        """What ``<file>.settings.json`` says the outputs were made with (empty without it)."""
        return dict(self._served.table.settings.get(self.operation, {}))

    def _never(self) -> Any:
        raise AdapterError(f"{self._served.table.name}: a predictions file serves outputs by sample id; its "
                           "outputs are never computed from images")


class PredictedEncoder(_Capability):
    """``image_embedding`` per sample, ``text_embedding`` per text."""

    def encode_images(self, images: Sequence[Any]) -> Any:
        """Never called: see :meth:`outputs`."""
        return self._never()

    def encode_texts(self, texts: Sequence[str]) -> Any:
        """Never called: see :meth:`outputs`."""
        return self._never()


class PredictedCaptioner(_Capability):
    """``caption`` (else ``text``) per sample: the one text generated per image, as a captioner's."""

    operation = "generation"

    def generate(self, images: Sequence[Any]) -> list[str]:
        """Never called: see :meth:`outputs`."""
        return self._never()


class PredictedAnswerer(_Capability):
    """``answer`` per sample."""

    operation = "answering"

    def answer(self, images: Sequence[Any], questions: Sequence[str]) -> list[str]:
        """Never called: see :meth:`outputs`."""
        return self._never()


class PredictedClassifier(_Capability):
    """``scores`` (or ``labels`` as 1/0) per sample, over the gated suites' labels."""

    operation = "classification"

    @property
    def labels(self) -> tuple[str, ...]:
        """Every label of the gated suites' label sets."""
        return self._served.labels

    def label_scores(self, images: Sequence[Any]) -> Any:
        """Never called: see :meth:`outputs`."""
        return self._never()
