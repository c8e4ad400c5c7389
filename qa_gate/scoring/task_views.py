"""The inputs of the VQA, OCR and multilabel families, built from one suite's ``SuiteInputs``.

Each family runs on whichever model the checkpoint is:

- **VQA**: a generative VQA model answers each question; a dual encoder instead ranks
  candidate answers (the sample's ``choices``, else every human answer in the suite)
  by the cosine between the image and ``prompt`` with the answer (and question) filled in.
- **OCR**: an image-to-text model transcribes each image; the reference is ``text``.
- **Multilabel**: a multilabel classifier scores every label (sigmoid probabilities);
  a dual encoder instead scores each label by the raw cosine between the image and
  ``prompt`` with the label filled in.

``method()`` describes which it was; the runner puts it into every metric definition,
so results from the two methods never compare.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from qa_gate.errors import AdapterError
from qa_gate.metrics.tokenize import TokenizedCaptions
from qa_gate.scoring.inputs import generated_texts

if TYPE_CHECKING:
    from qa_gate.scoring.inputs import SuiteInputs


def _cosines(images: np.ndarray, texts: np.ndarray) -> np.ndarray:
    return images @ texts.T


class VQAView:
    """``VQAInputs``: one answer per sample (generated, or the best-ranked candidate) and the human answers."""

    def __init__(self, inputs: SuiteInputs, prompt: str) -> None:
        if inputs.answerer is None and inputs.encoder is None:
            raise AdapterError("the VQA metrics need a VQA model or a dual encoder; none was loaded")
        self._inputs, self.prompt = inputs, prompt
        self.sample_ids = inputs.sample_ids
        self._predictions: list[str] | None = None
        samples = inputs.suite.samples
        self._vocabulary = tuple(sorted({a for s in samples for a in (s.answers or ())}))

    def method(self) -> dict[str, Any]:
        """How the answers were produced: the generation settings, or the ranking prompt and candidates."""
        if self._inputs.answerer is not None:  # the ranking prompt plays no part
            return {"method": "generate", "generation": dict(self._inputs.answerer.settings), "prompt": None}
        return {"method": "rank candidate answers by cosine(image, prompt)", "prompt": self.prompt,
                "candidates": "the sample's choices, else every human answer in the suite",
                "ties": "first candidate in order"}

    def candidates(self, index: int) -> tuple[str, ...]:
        """The answers a dual encoder chooses among for sample ``index``."""
        return self._inputs.suite.samples[index].choices or self._vocabulary

    def predictions(self) -> list[str]:
        """The model's answer to each sample's question, computed once."""
        if self._predictions is None:
            samples = self._inputs.suite.samples
            if self._inputs.answerer is not None:
                questions = [s.question or "" for s in samples]
                self._predictions = generated_texts(self._inputs, "answering", self._inputs.answerer.answer, questions)
            else:
                self._predictions = self._rank()
        return list(self._predictions)

    def _rank(self) -> list[str]:
        images = self._inputs.image_embeddings()
        samples = self._inputs.suite.samples
        texts = [[self.prompt.format(answer=a, question=s.question or "") for a in self.candidates(i)]
                 for i, s in enumerate(samples)]
        embedded = self._inputs.encode_texts([t for group in texts for t in group])
        out, start = [], 0
        for i, group in enumerate(texts):
            scores = _cosines(images[i:i + 1], embedded[start:start + len(group)])[0]
            out.append(self.candidates(i)[int(np.argmax(scores))])
            start += len(group)
        return out

    def answers(self) -> list[list[str]]:
        """The human answers of each sample."""
        return [list(s.answers or ()) for s in self._inputs.suite.samples]


class GeneratedTexts:
    """The image-to-text model's text for each image, generated once per suite in timed batches.

    Captioning and OCR read the same generation: a suite gated on both generates once.
    """

    needs: ClassVar[str] = "these metrics"

    def __init__(self, inputs: SuiteInputs) -> None:
        if inputs.captioner is None:
            raise AdapterError(f"{self.needs} need an image-to-text model; none was loaded")
        self._inputs, self.captioner = inputs, inputs.captioner
        self.sample_ids = inputs.sample_ids
        self._predictions: list[str] | None = None

    def method(self) -> dict[str, Any]:
        """The decoding settings the texts depend on."""
        return {"generation": dict(self.captioner.settings)}

    def predictions(self) -> list[str]:
        """One generated text per image, generated once per suite."""
        if self._predictions is None:
            self._predictions = generated_texts(self._inputs, "generation", self.captioner.generate)
        return list(self._predictions)


class OCRView(GeneratedTexts):
    """``OCRInputs``: the image-to-text model's transcription of each image against ``text``."""

    needs: ClassVar[str] = "the OCR metrics"

    def references(self) -> list[str]:
        """Each sample's reference transcription."""
        return [s.text or "" for s in self._inputs.suite.samples]


class MultilabelView:
    """``MultilabelInputs``: a score per (sample, label of the suite's label set) and the 0/1 targets."""

    def __init__(self, inputs: SuiteInputs, prompt: str) -> None:
        if inputs.classifier is None and inputs.encoder is None:
            raise AdapterError("the multilabel metrics need a multilabel classifier or a dual encoder; none was loaded")
        self._inputs, self.prompt = inputs, prompt
        self.sample_ids = inputs.sample_ids
        self.labels = inputs.suite.labels
        self._scores: np.ndarray | None = None

    def method(self) -> dict[str, Any]:
        """The label set and how scores were produced (classifier settings, or the prompt)."""
        if self._inputs.classifier is not None:  # the scoring prompt plays no part
            how: dict[str, Any] = {"method": "classifier", "classifier": dict(self._inputs.classifier.settings),
                                   "prompt": None}
        else:
            how = {"method": "prompt scoring", "score": "cosine(image, prompt)", "prompt": self.prompt}
        return {"labels": list(self.labels), **how}

    def scores(self) -> np.ndarray:
        """``[n, L]`` scores in the suite's label order, computed once."""
        if self._scores is None:
            classifier = self._inputs.classifier
            if classifier is not None:
                self._scores = self._classify(classifier)
            else:
                prompts = self._inputs.encode_texts([self.prompt.format(label=x) for x in self.labels])
                self._scores = _cosines(self._inputs.image_embeddings(), prompts)
        return self._scores

    def _classify(self, classifier: Any) -> np.ndarray:
        names = tuple(classifier.labels)
        missing = [x for x in self.labels if x not in names]
        if missing:
            raise AdapterError(f"model.checkpoint: the classifier's labels lack {', '.join(map(repr, missing))} "
                               f"from the label set of {self._inputs.suite.name}; its labels are: {', '.join(names)}")
        columns = [names.index(x) for x in self.labels]
        scores = np.concatenate(self._inputs.batched("classification", classifier.label_scores))
        who = self._inputs.who
        if scores.shape[1] != len(names):
            raise AdapterError(f"{who}: its classifier returned {scores.shape[1]} scores per image for its "
                               f"{len(names)} labels; expected one score per label")
        outside = np.flatnonzero(((scores < 0) | (scores > 1)).any(axis=1))
        if len(outside):
            first = self.sample_ids[outside[0]]
            raise AdapterError(f"{who}: its classifier returned scores outside [0, 1] for {len(outside)} of "
                               f"{len(scores)} samples (first: '{first}', {scores[outside[0]].min():.4g} to "
                               f"{scores[outside[0]].max():.4g}); expected probabilities (a sigmoid per label)")
        return scores[:, columns]

    def targets(self) -> np.ndarray:
        """``[n, L]``: 1 where the sample carries the label."""
        index = {x: i for i, x in enumerate(self.labels)}
        out = np.zeros((len(self.sample_ids), len(self.labels)))
        for row, sample in enumerate(self._inputs.suite.samples):
            for name in sample.labels or ():
                out[row, index[name]] = 1.0
        return out

    def predicted(self, threshold: float) -> list[str]:
        """Each sample's predicted labels (score >= ``threshold``), comma-joined, for the report."""
        hits = self.scores() >= threshold
        return [", ".join(x for x, on in zip(self.labels, row) if on) for row in hits]


class CaptionView(GeneratedTexts):
    """``CaptionInputs``: the captioner's caption of each image against the sample's references.

    The references are ``sample.references`` followed by ``sample.caption`` when it holds
    text (the golden caption is one more human reference). Captions are generated once per
    suite, in batches; ``tokenized()`` PTB-tokenises them once for every captioning metric.
    """

    needs: ClassVar[str] = "the captioning metrics"

    def __init__(self, inputs: SuiteInputs) -> None:
        super().__init__(inputs)
        self._tokenized: TokenizedCaptions | None = None

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
