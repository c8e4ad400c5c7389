"""The inputs of the hallucination families, POPE and CHAIR, built from one suite's ``SuiteInputs``.

- **POPE**: a generative VQA model (BLIP-style, or a chat VLM) answers each question; the
  answers go through the official POPE parsing (``qa_gate.metrics.pope.parse_answer``). A
  suite gated on both VQA accuracy and POPE generates once (the same ``answering`` batches).
  A dual encoder instead answers by ranking: the queried object's ``prompt`` (default
  ``"a photo of a {object}"``) and those of every other object the suite's questions ask about
  are scored by their raw cosine to the image; the answer is ``yes`` when the queried object is
  among the ``top_k`` best (ties by the objects' sorted order), else ``no``.
- **CHAIR**: the captioner's captions, the caption family's own generation (one per suite),
  against each sample's ``objects``.

``method()`` describes which it was; the runner puts it into every metric definition.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from qa_gate.errors import AdapterError, GoldenError
from qa_gate.golden.suite import sample_hint, suite_hint
from qa_gate.metrics.pope import queried_object, truth
from qa_gate.scoring.inputs import generated_texts

if TYPE_CHECKING:
    from qa_gate.scoring.inputs import SuiteInputs
    from qa_gate.scoring.task_views import CaptionView


class PopeView:
    """``PopeInputs``: each sample's answer (generated, or the ranking's yes/no) and its yes/no truth."""

    def __init__(self, inputs: SuiteInputs, prompt: str, top_k: int) -> None:
        if inputs.answerer is None and inputs.encoder is None:
            raise AdapterError("the POPE metrics need a VQA model or a dual encoder; none was loaded")
        self._inputs, self.prompt, self.top_k = inputs, prompt, top_k
        self.sample_ids = inputs.sample_ids
        self._predictions: list[str] | None = None
        samples = inputs.suite.samples
        queried = [queried_object(s.question, s.tags) for s in samples]
        missing = next((s for s, o in zip(samples, queried) if o is None), None)
        if missing is not None:  # the golden checks refuse it first; this guards a direct use
            raise GoldenError(f"{sample_hint(inputs.suite, missing)}: cannot tell the object POPE question "
                              f"{missing.question!r} asks about; expected 'Is there a/an <object> in the image?' "
                              "or a tag 'pope_object'")
        self.objects = [str(o) for o in queried]
        self.vocabulary = tuple(sorted(set(self.objects)))

    def method(self) -> dict[str, Any]:
        """How the answers were produced: the generation settings, or the ranking rule and its parameters."""
        if self._inputs.answerer is not None:  # the ranking prompt plays no part
            return {"method": "generate", "generation": dict(self._inputs.answerer.settings), "prompt": None,
                    "top_k": None}
        return {"method": "rank objects by cosine(image, prompt)", "prompt": self.prompt, "top_k": self.top_k,
                "candidates": "every object the suite's questions ask about",
                "answer": "yes when the queried object is among the top_k, else no",
                "ties": "objects in sorted order"}

    def predictions(self) -> list[str]:
        """The model's answer to each question, computed once."""
        if self._predictions is None:
            inputs = self._inputs
            if inputs.answerer is not None:
                questions = [s.question or "" for s in inputs.suite.samples]
                self._predictions = generated_texts(inputs, "answering", inputs.answerer.answer, questions)
            else:
                self._predictions = self._rank()
        return list(self._predictions)

    def _rank(self) -> list[str]:
        if len(self.vocabulary) < 2:
            raise GoldenError(f"{suite_hint(self._inputs.suite)}: every POPE question asks about "
                              f"{self.vocabulary[0]!r}, so a dual encoder ranking the objects asked about always "
                              "answers yes; expected questions about at least two objects")
        if self.top_k >= len(self.vocabulary):
            raise GoldenError(f"{suite_hint(self._inputs.suite)}: top_k {self.top_k} is not below the "
                              f"{len(self.vocabulary)} objects the questions ask about, so every answer is yes; "
                              "expected a smaller top_k")
        images = self._inputs.image_embeddings()
        texts = self._inputs.encode_texts([self.prompt.format(object=o) for o in self.vocabulary])
        cosines = images @ texts.T
        # Rank of each object per image: stable sort, so ties go to the object earlier in sorted order.
        order = np.argsort(-cosines, axis=1, kind="stable")
        rank = np.empty_like(order)
        rank[np.arange(len(order))[:, None], order] = np.arange(order.shape[1])[None, :]
        index = {o: i for i, o in enumerate(self.vocabulary)}
        return ["yes" if rank[row, index[o]] < self.top_k else "no" for row, o in enumerate(self.objects)]

    def truths(self) -> list[str]:
        """Each sample's ground truth, ``yes`` or ``no``."""
        return [truth(s.answer or "") for s in self._inputs.suite.samples]


class ChairView:
    """``ChairInputs``: the caption family's generated captions and each sample's ground-truth objects."""

    def __init__(self, inputs: SuiteInputs, captions: CaptionView) -> None:
        self._inputs, self._captions = inputs, captions
        self.sample_ids = inputs.sample_ids
        self._pairs: list[tuple[str, str]] | None = None

    def method(self) -> dict[str, Any]:
        """The decoding settings the captions depend on."""
        return self._captions.method()

    def predictions(self) -> list[str]:
        """One generated caption per image (the caption family's, generated once per suite)."""
        return self._captions.predictions()

    def objects(self) -> list[tuple[str, ...]]:
        """Each sample's ground-truth objects."""
        return [tuple(s.objects or ()) for s in self._inputs.suite.samples]

    def pairs(self) -> list[tuple[str, str]]:
        """Per sample, the object categories its caption mentions that are not in the image (first mention
        order) and the categories that are, comma-joined: what the report's CHAIR section shows."""
        if self._pairs is None:  # once per suite, not once per CHAIR metric
            from qa_gate.metrics.chair_words import category, mentions, vocabulary

            vocab, out = vocabulary(), []
            for caption, objects in zip(self.predictions(), self.objects()):
                truth = {category(name, vocab) for name in objects} - {None}
                wrong = dict.fromkeys(c for c in mentions(caption, vocab) if c not in truth)
                out.append((", ".join(wrong), ", ".join(sorted(str(c) for c in truth))))
            self._pairs = out
        return list(self._pairs)
