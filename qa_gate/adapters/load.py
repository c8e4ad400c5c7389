"""The one dispatcher: load the checkpoint under test as the capabilities some demands call for.

``model.adapter`` names a backend in :data:`ADAPTERS` (``open_clip``, ``transformers``) or is
a user adapter ``package.module:attr``. The backend *opens* the checkpoint (an
:class:`~qa_gate.adapters.protocols.Offer`: what it serves and how it is described, known
for open_clip without loading, for transformers from ``config.json``, for a user adapter once
its factory has run); :func:`choose` picks one capability per demand; the backend loads only
the chosen ones. A demand that the checkpoint cannot serve is an ``AdapterError`` naming the
metrics, the checkpoint and what it is.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from qa_gate.adapters.protocols import (
    ENCODER,
    Backend,
    Built,
    ChecksDemands,
    Demand,
    ImageCaptioner,
    ImageTextEncoder,
    MultilabelClassifier,
    Offer,
    ServesBySample,
    VisualQuestionAnswerer,
)
from qa_gate.config.model import ModelConfig
from qa_gate.errors import AdapterError
from qa_gate.files import checkpoint_sha256
from qa_gate.registry import Registry, resolve
from qa_gate.results import CheckpointInfo

if TYPE_CHECKING:
    import torch

ADAPTERS: Registry[Backend] = Registry("adapter", {
    "open_clip": "qa_gate.adapters.open_clip:BACKEND",
    "transformers": "qa_gate.adapters.hf.backend:BACKEND",
    "predictions": "qa_gate.adapters.predictions.backend:BACKEND",
}, AdapterError)
"""The built-in backends by adapter name; anything of the form ``module:attr`` is a user adapter."""
USER_ADAPTERS = "qa_gate.adapters.custom:BACKEND"
ENCODER_EXPECTED = "expected an image-text dual encoder (encode_images and encode_texts)"
SCORER_EXPECTED = "a scorer must be an image-text dual encoder such as CLIPModel"


@dataclass(frozen=True)
class LoadedModel:
    """The checkpoint under test, as each capability the configured metrics use."""

    checkpoint: CheckpointInfo
    encoder: ImageTextEncoder | None = None
    captioner: ImageCaptioner | None = None
    answerer: VisualQuestionAnswerer | None = None
    classifier: MultilabelClassifier | None = None
    scorer: ImageTextEncoder | None = None
    """The fixed dual encoder that scores generated captions (the ``scorer`` section), when configured."""
    scorer_checkpoint: CheckpointInfo | None = None


def load_model(model: ModelConfig, device: torch.device, demands: Sequence[Demand]) -> LoadedModel:
    """Load ``model`` as what ``demands`` need, in eval mode on ``device``; refuse what it cannot serve.

    With no demands, the checkpoint loads as the first capability it serves.
    """
    offer = open_checkpoint(model, device)
    chosen, refused = choose(demands, offer.serves)
    if isinstance(offer, ChecksDemands):  # the adapter's own words (a predictions file: the missing fields)
        offer.check_demands(demands, refused)
    _refuse(model, offer.description, refused)
    built = offer.load(chosen or offer.serves[:1])
    return LoadedModel(_info(model, built), encoder=built.encoder, captioner=built.captioner,
                       answerer=built.answerer, classifier=built.classifier)


def check_served(model: LoadedModel, suites: Sequence[Any]) -> None:
    """Before scoring: every capability that ``ServesBySample`` (a predictions file) checks that it covers
    exactly the samples of ``suites`` (an ``AdapterError`` naming the missing, unknown or duplicate ids)."""
    for capability in (model.encoder, model.captioner, model.answerer, model.classifier, model.scorer):
        if isinstance(capability, ServesBySample):
            capability.check_suites(suites)


def open_checkpoint(model: ModelConfig, device: torch.device) -> Offer:
    """The backend that ``model.adapter`` names, opened on ``model.checkpoint``."""
    backend: Backend
    if ":" in model.adapter:
        backend = cast(Backend, resolve(USER_ADAPTERS))
    else:
        backend = ADAPTERS.get(model.adapter, "model.adapter")
    return backend.open(model, device)


def choose(demands: Sequence[Demand], serves: Collection[str]) -> tuple[tuple[str, ...], tuple[Demand, ...]]:
    """The capabilities to load for ``demands`` from a checkpoint that ``serves`` these, and the demands refused.

    Demands with fewer alternatives go first; each takes the first capability it accepts
    that is already chosen, else the first it accepts that the checkpoint serves.
    """
    chosen: list[str] = []
    refused: list[Demand] = []
    for demand in sorted(demands, key=lambda d: len(d.accepts)):
        pick = next((c for c in demand.accepts if c in chosen), None) \
            or next((c for c in demand.accepts if c in serves), None)
        if pick is None:
            refused.append(demand)
        elif pick not in chosen:
            chosen.append(pick)
    return tuple(chosen), tuple(refused)


def _refuse(model: ModelConfig, description: str, refused: Sequence[Demand]) -> None:
    if not refused:
        return
    metrics = sorted({m for d in refused for m in d.metrics})
    wanted = "; ".join(sorted({f"{', '.join(sorted(d.metrics))} need {d.what}" for d in refused}))
    raise AdapterError(f"model.checkpoint: '{model.checkpoint}' (adapter {model.adapter}) loads as "
                       f"{description}, which cannot serve {', '.join(metrics)}: {wanted}. "
                       "Gate such metrics in a thresholds file whose model can do them")


def load_encoder(model: ModelConfig, device: torch.device,
                 expected: str = ENCODER_EXPECTED) -> tuple[ImageTextEncoder, CheckpointInfo]:
    """``model`` as a dual encoder, in eval mode on ``device``; ``expected`` ends the error for any other model."""
    offer = open_checkpoint(model, device)
    if ENCODER not in offer.serves:
        raise AdapterError(f"model.checkpoint: '{model.checkpoint}' is {offer.description}; {expected}")
    built: Built = offer.load((ENCODER,))
    assert built.encoder is not None  # a backend that serves an encoder loads it
    return built.encoder, _info(model, built)


def load_scorer(scorer: ModelConfig, device: torch.device) -> tuple[ImageTextEncoder, CheckpointInfo]:
    """The ``scorer`` section's dual encoder, on the run's ``device``; errors name ``scorer.<key>``."""
    try:
        return load_encoder(scorer, device, SCORER_EXPECTED)
    except AdapterError as exc:
        message = str(exc)
        raise AdapterError("scorer." + message.removeprefix("model.") if message.startswith("model.")
                           else f"scorer: {message}") from None


def scorer_id(info: CheckpointInfo) -> str:
    """How a fixed scorer appears in metric definitions: its model and content hash (a checkpoint
    that is not on disk, a hub id or pretrained tag, by its full name)."""
    digest = info.sha256 if info.sha256.startswith("unhashed:") else info.sha256[:16]
    return f"{info.model_name}@sha256:{digest}" if not digest.startswith("unhashed:") \
        else f"{info.model_name}@{digest}"


def checkpoint_digest(adapter: str, location: str) -> str:
    """The sha256 results record for the checkpoint at ``location``, computed without loading it: an
    open_clip folder's leaves out the weights files open_clip does not read; anything else is
    ``checkpoint_sha256`` (a file, a folder's files, or ``unhashed:<name>``)."""
    if adapter == "open_clip":
        from qa_gate.adapters.open_clip_source import folder_digest

        digest = folder_digest(location)
        if digest is not None:
            return digest
    return checkpoint_sha256(location)


def _info(model: ModelConfig, built: Built) -> CheckpointInfo:
    """What results record of the checkpoint: the hash of what the backend loaded, else of the location."""
    digest = built.sha256 if built.sha256 is not None else checkpoint_sha256(model.checkpoint)
    return CheckpointInfo(model.adapter, model.checkpoint, digest, built.name)
