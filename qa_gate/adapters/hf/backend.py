"""The ``transformers`` adapter: a checkpoint's kind (from ``config.json``) decides what it serves.

=============  ================================  =============================================
kind           serves                            loaded as
=============  ================================  =============================================
dual encoder   encoder                           ``AutoModel`` (``CLIPModel``, ``SiglipModel``)
classifier     classifier                        ``AutoModelForImageClassification`` (multilabel)
generator      captioner, answerer               one model in memory, even when it does both
chat VLM       captioner, answerer               ``AutoModelForImageTextToText`` + ``AutoProcessor``,
                                                 prompted through the chat template (``chat.py``)
=============  ================================  =============================================

A chat VLM given ``model.options.question_prompt`` is a generator that answers only (``PROMPTED``): the
hand-written prompt replaces its chat template, and without a template nothing would prompt a caption.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from qa_gate.adapters.hf.config import CHAT, DUAL_ENCODER, GENERATOR, transformers_kind
from qa_gate.adapters.hf.config import CLASSIFIER as CLASSIFIER_KIND
from qa_gate.adapters.protocols import ANSWERER, CAPTIONER, CLASSIFIER, ENCODER, Built
from qa_gate.config.model import ModelConfig

if TYPE_CHECKING:
    import torch

PROMPTED = "prompted_chat"
"""A chat VLM given ``model.options.question_prompt``: loaded as a generator, serving answers only."""
DESCRIPTIONS: Mapping[str, str] = {DUAL_ENCODER: "an image-text dual encoder",
                                   GENERATOR: "an image-to-text (generative) model",
                                   CLASSIFIER_KIND: "an image classifier",
                                   CHAT: "a chat vision-language model",
                                   PROMPTED: "a chat vision-language model prompted by model.options.question_prompt "
                                             "(answers only; without question_prompt it captions through its chat "
                                             "template)"}
SERVES: Mapping[str, tuple[str, ...]] = {DUAL_ENCODER: (ENCODER,), CLASSIFIER_KIND: (CLASSIFIER,),
                                         GENERATOR: (CAPTIONER, ANSWERER), CHAT: (CAPTIONER, ANSWERER),
                                         PROMPTED: (ANSWERER,)}


@dataclass(frozen=True)
class TransformersOffer:
    """A transformers checkpoint whose kind is known and whose weights are not loaded yet."""

    model: ModelConfig
    device: torch.device
    kind: str

    @property
    def serves(self) -> tuple[str, ...]:
        """The capabilities of the checkpoint's kind."""
        return SERVES[self.kind]

    @property
    def description(self) -> str:
        """The kind in words: "an image classifier"."""
        return DESCRIPTIONS[self.kind]

    def load(self, chosen: Collection[str]) -> Built:
        """Load the ``chosen`` capabilities; a generator's captioner and answerer share one model."""
        if self.kind == DUAL_ENCODER:
            from qa_gate.adapters.hf.dual_encoder import load_transformers

            encoder, name = load_transformers(self.model, self.device)
            return Built(name, encoder=encoder)
        if self.kind == CLASSIFIER_KIND:
            from qa_gate.adapters.hf.classifier import load_transformers_classifier

            classifier, name = load_transformers_classifier(self.model, self.device)
            return Built(name, classifier=classifier)
        if self.kind == CHAT:
            from qa_gate.adapters.hf.chat import load_chat

            return load_chat(self.model, self.device, chosen)
        return self._load_generator(chosen)

    def _load_generator(self, chosen: Collection[str]) -> Built:
        captioner = answerer = None
        names: list[str] = []
        net: Any = None
        if CAPTIONER in chosen:
            from qa_gate.adapters.hf.captioner import load_transformers_captioner

            captioner, name = load_transformers_captioner(self.model, self.device)
            net = captioner.model
            names.append(name)
        if ANSWERER in chosen:
            from qa_gate.adapters.hf.answerer import load_transformers_answerer

            answerer, name = load_transformers_answerer(self.model, self.device, net)
            names.append(name)
        return Built(" + ".join(dict.fromkeys(names)), captioner=captioner, answerer=answerer)


class TransformersBackend:
    """The ``transformers`` adapter."""

    def open(self, model: ModelConfig, device: torch.device) -> TransformersOffer:
        """Read the checkpoint's ``config.json`` for its kind; no weights are loaded."""
        kind = transformers_kind(model.checkpoint)
        if kind == CHAT and "question_prompt" in model.options:
            kind = PROMPTED
        return TransformersOffer(model, device, kind)


BACKEND = TransformersBackend()
