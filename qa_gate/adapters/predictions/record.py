"""``mm-gate predict``'s recorder: the loaded capabilities wrapped so that every output they return is kept.

Each wrapper hands its model's result on unchanged (the run scores it as usual) and keeps a copy
converted as ``qa_gate.scoring.inputs`` converts it (embeddings float32, scores float64), so the
written file holds exactly what the metrics consumed. Image operations run once per suite, in
sample order: their outputs are split by suite with :meth:`Recorder.suite` (the runner calls it as
each suite starts, through :class:`RecordingOutputs`). Texts are keyed by content.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np

from qa_gate.adapters.protocols import ANSWERER, CAPTIONER, CLASSIFIER, ENCODER, PreparesImages
from qa_gate.scoring.cache_plan import SuiteCache
from qa_gate.scoring.inputs import as_rows

if TYPE_CHECKING:
    from qa_gate.adapters.load import LoadedModel
    from qa_gate.config.model import SuiteConfig
    from qa_gate.golden.suite import Suite


class Recorder:
    """The outputs of one run, per (suite, operation) in call order, and every embedded text."""

    def __init__(self) -> None:
        self.current = ""
        self.images: dict[tuple[str, str], list[Any]] = {}
        self.texts: dict[str, np.ndarray] = {}
        self.settings: dict[str, Mapping[str, Any]] = {}
        self.labels: tuple[str, ...] = ()

    def suite(self, name: str) -> None:
        """The runner starts suite ``name``: image outputs from now on are its own."""
        self.current = name

    def add(self, operation: str, items: Sequence[Any]) -> None:
        """One batch's outputs (texts, or rows) of ``operation`` on the current suite."""
        self.images.setdefault((self.current, operation), []).extend(items)

    def outputs(self, suite: str, operation: str) -> list[Any] | None:
        """``operation``'s outputs on ``suite`` in sample order; ``None`` when it did not run there."""
        return self.images.get((suite, operation))


class _Recording:
    operation = ""

    def __init__(self, real: Any, recorder: Recorder) -> None:
        self._real, self._recorder = real, recorder

    @property
    def settings(self) -> Mapping[str, Any]:
        """The real capability's settings."""
        return self._real.settings


class _Prepares:
    _real: Any

    def prepare_image(self, image: Any) -> Any:
        """The real capability's ``prepare_image``."""
        return self._real.prepare_image(image)


def _rows(result: Any, dtype: Any) -> list[np.ndarray]:
    rows = as_rows(result, dtype)
    return [] if rows is None or rows.ndim != 2 else list(rows)  # a bad result is refused by the run itself


class RecordingEncoder(_Recording):
    """Keeps image rows per suite and text rows per text (float32, before normalising)."""

    def encode_images(self, images: Sequence[Any]) -> Any:
        """The real ``encode_images``, recorded."""
        result = self._real.encode_images(images)
        self._recorder.add("image encoding", _rows(result, np.float32))
        return result

    def encode_texts(self, texts: Sequence[str]) -> Any:
        """The real ``encode_texts``, recorded by text."""
        result = self._real.encode_texts(texts)
        self._recorder.texts.update(zip(texts, _rows(result, np.float32)))
        return result


class RecordingCaptioner(_Recording):
    """Keeps each generated text."""

    def generate(self, images: Sequence[Any]) -> list[str]:
        """The real ``generate``, recorded."""
        result = self._real.generate(images)
        self._recorder.add("generation", list(result) if isinstance(result, (list, tuple)) else [])
        return result


class RecordingAnswerer(_Recording):
    """Keeps each answer."""

    def answer(self, images: Sequence[Any], questions: Sequence[str]) -> list[str]:
        """The real ``answer``, recorded."""
        result = self._real.answer(images, questions)
        self._recorder.add("answering", list(result) if isinstance(result, (list, tuple)) else [])
        return result


class RecordingClassifier(_Recording):
    """Keeps each row of scores (float64), with the classifier's labels."""

    @property
    def labels(self) -> tuple[str, ...]:
        """The real classifier's labels."""
        return tuple(self._real.labels)

    def label_scores(self, images: Sequence[Any]) -> Any:
        """The real ``label_scores``, recorded."""
        result = self._real.label_scores(images)
        self._recorder.add("classification", _rows(result, np.float64))
        return result


WRAPPERS: Mapping[str, type[_Recording]] = {ENCODER: RecordingEncoder, CAPTIONER: RecordingCaptioner,
                                            ANSWERER: RecordingAnswerer, CLASSIFIER: RecordingClassifier}
_PREPARING = {name: type(f"{cls.__name__}Preparing", (_Prepares, cls), {}) for name, cls in WRAPPERS.items()}
SETTINGS_OF = {CAPTIONER: "generation", ANSWERER: "answering", CLASSIFIER: "classification"}
"""Which operation's settings each capability records in ``<file>.settings.json``."""


def recording(model: LoadedModel, recorder: Recorder) -> LoadedModel:
    """``model`` with every capability it was loaded as wrapped to record into ``recorder`` (the scorer,
    which a predictions file does not replace, is left as it is)."""
    wrapped: dict[str, Any] = {}
    for name, cls in WRAPPERS.items():
        real = getattr(model, name)
        if real is None:
            continue
        kind = _PREPARING[name] if isinstance(real, PreparesImages) else cls
        wrapped[name] = kind(real, recorder)
        if name in SETTINGS_OF:
            recorder.settings[SETTINGS_OF[name]] = dict(real.settings)
        if name == CLASSIFIER:
            recorder.labels = tuple(real.labels)
    return replace(model, **wrapped)


class RecordingOutputs:
    """What ``qa_gate.scoring.runner.run`` asks of a run's outputs: no cache (every output is computed, so
    every one is recorded), and the suite each batch belongs to."""

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder

    def suite(self, suite: Suite, suite_cfg: SuiteConfig, role: str = "model") -> SuiteCache:
        """An off cache for ``suite``; the model's suite starts here."""
        if role == "model":
            self.recorder.suite(suite_cfg.name)
        return SuiteCache(suite)
