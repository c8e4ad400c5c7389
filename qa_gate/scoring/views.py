"""The inputs each metric family reads, built from one suite's ``SuiteInputs``.

Alignment metrics read ``SuiteInputs`` itself; retrieval, zero-shot, captioning and
efficiency metrics read the views here. The runner builds each view once per suite,
so ranks, class prompts, generated captions and their tokenisation are shared by
every metric of the family.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from qa_gate.adapters.protocols import ANSWERER, CAPTIONER, CLASSIFIER, ENCODER
from qa_gate.errors import AdapterError
from qa_gate.metrics.retrieval import Ranks, rank_all
from qa_gate.metrics.zeroshot import suite_ranks
from qa_gate.scoring.alignment_texts import reference_rows, stacked
from qa_gate.scoring.device import autocast_label, device_label
from qa_gate.scoring.task_views import (
    CaptionView,
)

if TYPE_CHECKING:

    from qa_gate.scoring.inputs import SuiteInputs


class RetrievalView:
    """``RetrievalInputs``: each image against all captions, its own being its caption and references."""

    def __init__(self, inputs: SuiteInputs) -> None:
        self._inputs = inputs
        self.sample_ids = inputs.sample_ids
        self._ranks: Ranks | None = None

    def ranks(self) -> Ranks:
        """Both directions' ranks, computed once for the suite's metrics."""
        if self._ranks is None:
            self._ranks = rank_all(self, device=getattr(self._inputs, "device", None))  # the model's device
        return self._ranks

    def image_embeddings(self) -> np.ndarray:
        """``[n, d]`` normalised image embeddings."""
        return self._inputs.image_embeddings()

    def caption_embeddings(self) -> tuple[np.ndarray, np.ndarray]:
        """Every caption and reference, and the index of the image it describes."""
        texts = [[s.caption or "", *s.references] for s in self._inputs.suite.samples]
        owner = np.array([i for i, group in enumerate(texts) for t in group if t.strip()], dtype=np.int64)
        return self._inputs.encode_texts([t for group in texts for t in group if t.strip()]), owner


class ZeroShotView:
    """``ZeroShotInputs``: the classes are the values of one tag (``label_tag``) across the suite."""

    def __init__(self, inputs: SuiteInputs, label_tag: str) -> None:
        self._inputs, self._tag = inputs, label_tag
        self.sample_ids = inputs.sample_ids
        self.classes = tuple(sorted({s.tags[label_tag] for s in inputs.suite.samples}))
        self._ranks: dict[tuple[str, ...], np.ndarray] = {}

    def class_ranks(self, templates: tuple[str, ...]) -> np.ndarray:
        """The true class's rank per sample for ``templates``, computed once per templates."""
        if templates not in self._ranks:
            self._ranks[templates] = suite_ranks(self, templates, getattr(self._inputs, "device", None))
        return self._ranks[templates]

    def image_embeddings(self) -> np.ndarray:
        """``[n, d]`` normalised image embeddings."""
        return self._inputs.image_embeddings()

    def encode_texts(self, texts: list[str]) -> np.ndarray:
        """Normalised embeddings of class prompts."""
        return self._inputs.encode_texts(texts)

    def labels(self) -> np.ndarray:
        """Each sample's class index."""
        index = {c: i for i, c in enumerate(self.classes)}
        return np.array([index[s.tags[self._tag]] for s in self._inputs.suite.samples], dtype=np.int64)


OPERATIONS = {ENCODER: "image encoding", CAPTIONER: "generation", ANSWERER: "answering",
              CLASSIFIER: "classification"}
"""The operation the efficiency metrics time, per capability of the checkpoint."""


class EfficiencyView:
    """``EfficiencyInputs``: the timed batches and peak memory of the model's main operation on the suite.

    The operation is what the checkpoint does: image encoding for a dual encoder, generation
    for an image-to-text model, answering for a VQA model, classification for a classifier.
    """

    def __init__(self, inputs: SuiteInputs, capabilities: Sequence[str]) -> None:
        self._inputs = inputs
        self.sample_ids = inputs.sample_ids
        loaded = next((c for c in capabilities if getattr(inputs, c) is not None), None)
        if loaded is None:
            raise AdapterError("the efficiency metrics time the model's main operation; no model was loaded")
        self.operation = OPERATIONS[loaded]
        self._capability, self._model = loaded, getattr(inputs, loaded)

    def _run(self) -> None:
        inputs = self._inputs
        if self._capability == ENCODER:
            inputs.image_embeddings()
        elif self._capability == CAPTIONER:
            inputs.batched(self.operation, self._model.generate)
        elif self._capability == ANSWERER:
            inputs.batched(self.operation, self._model.answer, [s.question or "" for s in inputs.suite.samples])
        else:
            inputs.batched(self.operation, self._model.label_scores)

    def batches(self) -> list[tuple[float, int]]:
        """``(seconds, batch_size)`` of every batch of the operation (running it if not done yet)."""
        self._run()
        return list(self._inputs.stopwatches[self.operation].batches)

    def peak_memory_mb(self) -> float:
        """Peak memory during the operation, MiB."""
        self._run()
        return float(self._inputs.stopwatches[self.operation].peak_memory_mb or 0.0)

    def method(self) -> dict[str, Any]:
        """What the numbers depend on beyond the model: goes into the efficiency metrics' definitions.

        Image encoding, the first operation timed, is implied (so older definitions still match);
        another operation is named, with the settings it ran with (decoding changes the time).
        """
        inputs = self._inputs
        out: dict[str, Any] = {"device": device_label(inputs.device), "batch_size": inputs.batch_size,
                               "autocast": autocast_label(inputs.dtype),
                               "memory": "cuda allocator peak" if inputs.device.type == "cuda" else "process peak rss"}
        if self._capability != ENCODER:
            out.update(timed=f"{self.operation} per batch, wall clock", settings=dict(self._model.settings))
        return out


class ScoredCaptionInputs:
    """``AlignmentInputs`` for generated captions: the fixed scorer embeds the images, the model's
    captions and the references (``references`` plus the golden caption)."""

    def __init__(self, inputs: SuiteInputs, captions: CaptionView) -> None:
        if inputs.scorer_inputs is None:
            raise RuntimeError("caption: generated needs the scorer; none was loaded")
        self._scorer, self._captions = inputs.scorer_inputs, captions
        self.sample_ids = inputs.sample_ids
        self._embedded: dict[str, np.ndarray] = {}  # prefix -> the generated captions' matrix

    def method(self) -> dict[str, Any]:
        """The decoding settings the scored captions depend on."""
        return self._captions.method()

    def image_embeddings(self) -> np.ndarray:
        """``[n, d]`` normalised image embeddings from the scorer."""
        return self._scorer.image_embeddings()

    def caption_embeddings(self, prefix: str) -> np.ndarray:
        """``[n, d]``: ``prefix`` + each generated caption, embedded by the scorer (once per prefix)."""
        if prefix not in self._embedded:
            self._embedded[prefix] = self._scorer.encode_texts([prefix + c for c in self._captions.predictions()])
        return self._embedded[prefix]

    def reference_rows(self, prefix: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The distinct references (prefixed, the golden caption included), and per reference the sample owning
        it and its row."""
        return reference_rows(self._captions.references(), prefix, self._scorer.text_rows)

    def reference_embeddings(self, prefix: str) -> tuple[np.ndarray, np.ndarray]:
        """Every reference (prefixed), a row each, and the sample owning it."""
        return stacked(self.reference_rows(prefix))
