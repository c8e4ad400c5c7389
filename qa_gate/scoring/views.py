"""The inputs each metric family reads, built from one suite's ``SuiteInputs``.

Alignment metrics read ``SuiteInputs`` itself; retrieval, zero-shot, captioning and
efficiency metrics read the views here. The runner builds each view once per suite,
so ranks, class prompts, generated captions and their tokenisation are shared by
every metric of the family.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from qa_gate.errors import AdapterError
from qa_gate.scoring.device import autocast_label, device_label
from qa_gate.scoring.inputs import generated_texts
from qa_gate.scoring.task_views import MultilabelView, OCRView, VQAView, family_params

if TYPE_CHECKING:

    from qa_gate.metrics.tokenize import TokenizedCaptions
    from qa_gate.scoring.inputs import SuiteInputs


class RetrievalView:
    """``RetrievalInputs``: each image against all captions, its own being its caption and references."""

    def __init__(self, inputs: SuiteInputs) -> None:
        self._inputs = inputs
        self.sample_ids = inputs.sample_ids

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


class EfficiencyView:
    """``EfficiencyInputs``: the timed batches and peak memory of the model's main operation on the suite.

    The operation is what the checkpoint does: image encoding for a dual encoder, generation
    for an image-to-text model, answering for a VQA model, classification for a classifier.
    """

    def __init__(self, inputs: SuiteInputs) -> None:
        self._inputs = inputs
        self.sample_ids = inputs.sample_ids
        if inputs.encoder is not None:
            self.operation = "image encoding"
        elif inputs.captioner is not None:
            self.operation = "generation"
        elif inputs.answerer is not None:
            self.operation = "answering"
        elif inputs.classifier is not None:
            self.operation = "classification"
        else:
            raise AdapterError("the efficiency metrics time the model's main operation; no model was loaded")

    def _run(self) -> None:
        inputs = self._inputs
        if self.operation == "image encoding":
            inputs.image_embeddings()
        elif self.operation == "generation":
            inputs.batched("generation", inputs.captioner.generate)
        elif self.operation == "answering":
            inputs.batched("answering", inputs.answerer.answer, [s.question or "" for s in inputs.suite.samples])
        else:
            inputs.batched("classification", inputs.classifier.label_scores)

    def batches(self) -> list[tuple[float, int]]:
        """``(seconds, batch_size)`` of every batch of the operation (running it if not done yet)."""
        self._run()
        return list(self._inputs.stopwatches[self.operation].batches)

    def peak_memory_mb(self) -> float:
        """Peak memory during the operation, MiB."""
        self._run()
        return float(self._inputs.stopwatches[self.operation].peak_memory_mb or 0.0)

    def measurement(self) -> dict[str, Any]:
        """What the numbers depend on beyond the model: goes into the efficiency metrics' definitions.

        Image encoding, the first operation timed, is implied (so older definitions still match);
        another operation is named, with the settings it ran with (decoding changes the time).
        """
        inputs = self._inputs
        out: dict[str, Any] = {"device": device_label(inputs.device), "batch_size": inputs.batch_size,
                               "autocast": autocast_label(inputs.dtype),
                               "memory": "cuda allocator peak" if inputs.device.type == "cuda" else "process peak rss"}
        if self.operation != "image encoding":
            runner = {"generation": inputs.captioner, "answering": inputs.answerer,
                      "classification": inputs.classifier}[self.operation]
            out.update(timed=f"{self.operation} per batch, wall clock", settings=dict(runner.settings))
        return out


class CaptionView:
    """``CaptionInputs``: the captioner's caption of each image against the sample's references.

    The references are ``sample.references`` followed by ``sample.caption`` when it holds
    text (the golden caption is one more human reference). Captions are generated once per
    suite, in batches; ``tokenized()`` PTB-tokenises them once for every captioning metric.
    """

    def __init__(self, inputs: SuiteInputs) -> None:
        if inputs.captioner is None:
            raise RuntimeError("captioning metrics need a captioner; none was loaded")
        self._inputs, self.captioner = inputs, inputs.captioner
        self.sample_ids = inputs.sample_ids
        self._predictions: list[str] | None = None
        self._tokenized: TokenizedCaptions | None = None

    def predictions(self) -> list[str]:
        """One generated caption per sample, generated once per suite (shared with OCR)."""
        if self._predictions is None:
            self._predictions = generated_texts(self._inputs, "generation", self.captioner.generate)
        return list(self._predictions)

    def references(self) -> list[list[str]]:
        """``references`` plus the golden caption when present."""
        return [[*s.references, *([s.caption] if s.caption and s.caption.strip() else [])]
                for s in self._inputs.suite.samples]

    def tokenized(self) -> TokenizedCaptions:
        """The PTB-tokenised predictions and references (one Java call per suite)."""
        if self._tokenized is None:
            from qa_gate.metrics.tokenize import TokenizedCaptions

            self._tokenized = TokenizedCaptions.of(self)
        return self._tokenized


class ScoredCaptionInputs:
    """``AlignmentInputs`` for generated captions: the fixed scorer embeds the images, the model's
    captions and the references (``references`` plus the golden caption)."""

    def __init__(self, inputs: SuiteInputs, captions: CaptionView) -> None:
        if inputs.scorer_inputs is None:
            raise RuntimeError("caption: generated needs the scorer; none was loaded")
        self._scorer, self._captions = inputs.scorer_inputs, captions
        self.sample_ids = inputs.sample_ids

    def image_embeddings(self) -> np.ndarray:
        """``[n, d]`` normalised image embeddings from the scorer."""
        return self._scorer.image_embeddings()

    def caption_embeddings(self, prefix: str) -> np.ndarray:
        """``[n, d]``: ``prefix`` + each generated caption, embedded by the scorer."""
        return self._scorer.encode_texts([prefix + c for c in self._captions.predictions()])

    def reference_embeddings(self, prefix: str) -> tuple[np.ndarray, np.ndarray]:
        """Every reference (prefixed), the golden caption included, and the sample owning it."""
        refs = self._captions.references()
        owner = np.array([i for i, group in enumerate(refs) for _ in group], dtype=np.int64)
        return self._scorer.encode_texts([prefix + r for group in refs for r in group]), owner


def view_for(family: str, params: Mapping[str, object], inputs: SuiteInputs,
          views: dict[tuple[str, str], object]) -> object:
    """The inputs object a metric family reads."""
    if family == "alignment":
        return inputs
    if family == "scored_caption":
        # the captions the caption metrics score, generated once; not tokenised (no Java needed here)
        captions = views.setdefault(("caption", ""), CaptionView(inputs))
        return ScoredCaptionInputs(inputs, captions)  # type: ignore[arg-type]
    key = (family, str(params.get("label_tag", "")) + family_params(family, params))
    if key not in views:
        if family == "vqa":
            views[key] = VQAView(inputs, str(params["prompt"]))
        elif family == "ocr":
            views[key] = OCRView(inputs)
        elif family == "multilabel":
            views[key] = MultilabelView(inputs, str(params["prompt"]))
        elif family == "caption":
            views[key] = CaptionView(inputs)
        elif family == "retrieval":
            views[key] = RetrievalView(inputs)
        elif family == "efficiency":
            views[key] = EfficiencyView(inputs)
        else:
            views[key] = ZeroShotView(inputs, str(key[1]))
    view = views[key]
    return view.tokenized() if isinstance(view, CaptionView) else view
