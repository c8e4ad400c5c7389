"""What a model can do for the gate: one Protocol per capability, and how backends offer them.

A capability is named by a constant (``ENCODER``, ``CAPTIONER``, ``ANSWERER``,
``CLASSIFIER``). The scoring side asks for capabilities with :class:`Demand`; a backend
tells what a checkpoint can serve with an :class:`Offer` and loads what was chosen as a
:class:`Built`. Adapters know capabilities, never metric families.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    import torch
    from PIL.Image import Image

    from qa_gate.config.model import ModelConfig

ENCODER = "encoder"
CAPTIONER = "captioner"
ANSWERER = "answerer"
CLASSIFIER = "classifier"
CAPABILITIES: tuple[str, ...] = (ENCODER, CAPTIONER, ANSWERER, CLASSIFIER)
"""The capability names: what a loaded checkpoint can do (one Protocol each, below)."""


@dataclass(frozen=True)
class Demand:
    """What some configured metrics need from the checkpoint: any one of ``accepts`` (in preference order)."""

    metrics: tuple[str, ...]
    """The metric names, for error messages."""
    accepts: tuple[str, ...]
    """Capability names, preferred first."""
    what: str
    """How an error names it: "a dual encoder", "a VQA model or a dual encoder", ..."""
    timed: bool = False
    """The metrics read the timings of the model's calls (efficiency): an adapter whose outputs were
    not computed here (a predictions file) cannot serve them."""


@runtime_checkable
class ImageTextEncoder(Protocol):
    """An image-text dual encoder: batches in, one embedding row per input out.

    Rows need not be normalised; the runner normalises them. Implementations apply
    the model's own preprocessing and tokenizer and move inputs to their device. A numpy
    array or a list of rows is accepted as well as a tensor; every value must be finite,
    and image and text rows must have one width (``qa_gate.scoring.inputs`` checks).
    """

    def encode_images(self, images: Sequence[Image]) -> torch.Tensor:
        """``[len(images), d]`` image embeddings."""
        ...

    def encode_texts(self, texts: Sequence[str]) -> torch.Tensor:
        """``[len(texts), d]`` text embeddings."""
        ...


@runtime_checkable
class ImageCaptioner(Protocol):
    """An image-to-text model: a batch of images in, one generated caption per image out.

    ``settings`` holds every decoding setting (fixed, deterministic); the runner records
    it in the definition of the captioning metrics.
    """

    @property
    def settings(self) -> Mapping[str, Any]:
        """Every decoding setting."""
        ...

    def generate(self, images: Sequence[Image]) -> list[str]:
        """One decoded, stripped caption per image."""
        ...


@runtime_checkable
class VisualQuestionAnswerer(Protocol):
    """A generative VQA model: images and one question per image in, one answer per image out.

    ``settings`` holds every decoding setting (fixed, deterministic) and the prompt form;
    the runner records it in the VQA metrics' definitions.
    """

    @property
    def settings(self) -> Mapping[str, Any]:
        """Every decoding setting and the prompt form."""
        ...

    def answer(self, images: Sequence[Image], questions: Sequence[str]) -> list[str]:
        """One decoded, stripped answer per (image, question) pair."""
        ...


@runtime_checkable
class MultilabelClassifier(Protocol):
    """A multilabel image classifier: a batch of images in, one independent score per label out.

    ``labels`` names the score columns; scores are probabilities (a sigmoid per label),
    so the metrics' ``threshold`` applies to them directly.
    """

    @property
    def labels(self) -> tuple[str, ...]:
        """The label of each score column."""
        ...

    @property
    def settings(self) -> Mapping[str, Any]:
        """What the scores depend on beyond the checkpoint (recorded in definitions)."""
        ...

    def label_scores(self, images: Sequence[Image]) -> torch.Tensor:
        """``[len(images), len(labels)]`` finite scores in [0, 1] (a tensor, array or list of rows)."""
        ...


@runtime_checkable
class PreparesImages(Protocol):
    """Optional, beside any capability that takes images: split the model's image preprocessing from
    the model call, so the runner never holds more than one full-size decoded image.

    When a capability object also has ``prepare_image``, the runner decodes one image, passes it to
    ``prepare_image`` at once, drops the decode, and decodes the next; the batch handed to
    ``encode_images`` / ``generate`` / ``answer`` / ``label_scores`` of that object then holds the
    prepared items in place of the images. The outputs must be those of the same call with the images
    (the built-in backends are tested to match). Without ``prepare_image`` the call gets the images.
    Preparing runs under the same inference mode as the call, and its time counts in the batch's time.
    """

    def prepare_image(self, image: Image) -> Any:
        """The model input of one image (e.g. a ``[3, H, W]`` tensor), as the capability's methods take it."""
        ...


@dataclass(frozen=True)
class OutputRequest:
    """What the runner asks a :class:`ServesBySample` capability for: one operation's outputs on one suite."""

    operation: str
    """``image encoding``, ``text encoding``, ``generation``, ``answering`` or ``classification``."""
    suite: str
    """The suite's name in the thresholds file."""
    keys: tuple[str, ...]
    """The sample ids in suite order, or (``text encoding``) the texts."""
    extra: tuple[Any, ...] | None = None
    """The per-sample extra input (the questions of ``answering``), when the operation has one."""
    family: str = ""
    """The metric family asking, for errors."""


@runtime_checkable
class ServesBySample(Protocol):
    """Optional, beside any capability: outputs looked up by sample id (or text), never computed from images.

    When a capability object has ``outputs``, the runner never decodes an image for it: it asks for
    each operation's outputs of a whole suite at once, and checks them as it checks model outputs (one
    text per sample, or one finite row per key). ``check_suites`` runs once before scoring, with
    every gated suite, so missing or unknown samples stop the run before any metric is computed.
    """

    def outputs(self, request: OutputRequest) -> Any:
        """One output per key of ``request``, in order: a list of texts, or rows of numbers."""
        ...

    def check_suites(self, suites: Sequence[Any]) -> None:
        """Refuse (``AdapterError``) suites whose samples the outputs do not cover exactly."""
        ...


@runtime_checkable
class ChecksDemands(Protocol):
    """Optional, on an :class:`Offer`: refuse what it cannot serve in its own words (which field is missing)."""

    def check_demands(self, demands: Sequence[Demand], refused: Sequence[Demand]) -> None:
        """Raise an ``AdapterError`` for ``refused`` (and any other demand it cannot serve); else return."""
        ...


PROTOCOLS: Mapping[str, type] = {ENCODER: ImageTextEncoder, CAPTIONER: ImageCaptioner,
                                 ANSWERER: VisualQuestionAnswerer, CLASSIFIER: MultilabelClassifier}
"""Each capability's Protocol."""


@dataclass(frozen=True)
class Built:
    """The capabilities loaded from one checkpoint, and the model's name as results record it."""

    name: str
    encoder: ImageTextEncoder | None = None
    captioner: ImageCaptioner | None = None
    answerer: VisualQuestionAnswerer | None = None
    classifier: MultilabelClassifier | None = None
    sha256: str | None = None
    """The hash of what was loaded, when the backend knows it (an open_clip folder leaves out the
    weights files it does not read); ``None``: the checkpoint location is hashed whole."""


class Offer(Protocol):
    """One checkpoint as its backend sees it before loading the chosen capabilities."""

    @property
    def serves(self) -> tuple[str, ...]:
        """The capabilities this checkpoint can serve, in the backend's order of preference."""
        ...

    @property
    def description(self) -> str:
        """What the checkpoint is, for errors: "an image-text dual encoder"."""
        ...

    def load(self, chosen: Collection[str]) -> Built:
        """Load the ``chosen`` capabilities (a subset of :attr:`serves`), in eval mode."""
        ...


class Backend(Protocol):
    """One adapter: turns a configured checkpoint into an :class:`Offer`."""

    def open(self, model: ModelConfig, device: torch.device) -> Offer:
        """Tell what ``model.checkpoint`` serves, loading as little as that takes."""
        ...
