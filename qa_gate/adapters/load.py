"""Load the checkpoint under test as what the configured metric families need.

A checkpoint is one kind of model, and each family runs on the kinds that can serve it:

========================  ==========================================================
family                    runs on
========================  ==========================================================
alignment, retrieval,     a dual encoder (open_clip, a transformers ``CLIPModel``-like
zero-shot                 model, or a user adapter with ``encode_images``/``encode_texts``)
efficiency                any: its main operation is timed (encoding, generating, answering, classifying)
captioning, OCR           an image-to-text model (transformers ``generate``)
VQA                       a VQA model (``generate`` with the question), or a dual
                          encoder ranking candidate answers
multilabel                a multilabel classifier, or a dual encoder scoring label prompts
========================  ==========================================================

A mismatch is an ``AdapterError`` naming the metrics, the checkpoint and what it loads as.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from qa_gate.adapters.protocols import (
    ImageCaptioner,
    ImageTextEncoder,
    MultilabelClassifier,
    VisualQuestionAnswerer,
)
from qa_gate.config.model import ModelConfig
from qa_gate.errors import AdapterError
from qa_gate.files import checkpoint_sha256
from qa_gate.results import CheckpointInfo

if TYPE_CHECKING:
    import torch

ENCODER_ONLY = frozenset({"alignment", "retrieval", "zeroshot"})
GENERATOR_ONLY = frozenset({"caption", "ocr", "scored_caption"})
KIND_NAMES = {"dual_encoder": "an image-text dual encoder", "generator": "an image-to-text (generative) model",
              "classifier": "an image classifier"}
NEEDS = {"alignment": "a dual encoder", "retrieval": "a dual encoder", "zeroshot": "a dual encoder",
         "efficiency": "any model", "caption": "an image-to-text model",
         "ocr": "an image-to-text model", "scored_caption": "an image-to-text model (caption: generated)",
         "vqa": "a VQA model or a dual encoder",
         "multilabel": "a multilabel classifier or a dual encoder"}


@dataclass(frozen=True)
class LoadedModel:
    """The checkpoint under test, as each capability the configured families use."""

    checkpoint: CheckpointInfo
    encoder: ImageTextEncoder | None = None
    captioner: ImageCaptioner | None = None
    answerer: VisualQuestionAnswerer | None = None
    classifier: MultilabelClassifier | None = None
    scorer: ImageTextEncoder | None = None
    """The fixed dual encoder that scores generated captions (the ``scorer`` section), when configured."""
    scorer_checkpoint: CheckpointInfo | None = None


def _refuse(model: ModelConfig, kind: str, families: Mapping[str, Sequence[str]], bad: set[str]) -> None:
    if not bad:
        return
    metrics = sorted({m for f in bad for m in families[f]})
    wanted = "; ".join(sorted({f"{', '.join(sorted(families[f]))} need {NEEDS[f]}" for f in bad}))
    raise AdapterError(f"model.checkpoint: '{model.checkpoint}' (adapter {model.adapter}) loads as "
                       f"{KIND_NAMES.get(kind, kind)}, which cannot serve {', '.join(metrics)}: {wanted}. "
                       "Gate such metrics in a thresholds file whose model can do them")


def load_model(model: ModelConfig, device: torch.device, families: Mapping[str, Sequence[str]]) -> LoadedModel:
    """Load ``model`` for the metric ``families`` (family -> metric names), in eval mode on ``device``."""
    needed = set(families)
    if model.adapter == "open_clip":
        from qa_gate.adapters.open_clip import load_open_clip

        _refuse(model, "dual_encoder", families, needed & GENERATOR_ONLY)
        encoder, name = load_open_clip(model, device)
        return LoadedModel(_info(model, name), encoder=encoder)
    if model.adapter == "transformers":
        return _load_transformers(model, device, families)
    return _load_custom(model, device, families)


def load_scorer(scorer: ModelConfig, device: torch.device) -> tuple[ImageTextEncoder, CheckpointInfo]:
    """The ``scorer`` section's dual encoder, on the run's ``device``; errors name ``scorer.<key>``."""
    from qa_gate.adapters.load import load_encoder

    try:
        if scorer.adapter == "transformers":
            from qa_gate.adapters.hf.config import transformers_kind

            kind = transformers_kind(scorer.checkpoint)
            if kind != "dual_encoder":
                raise AdapterError(f"model.checkpoint: '{scorer.checkpoint}' is {KIND_NAMES.get(kind, kind)}; "
                                   "a scorer must be an image-text dual encoder such as CLIPModel")
        return load_encoder(scorer, device)
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


def _info(model: ModelConfig, name: str) -> CheckpointInfo:
    return CheckpointInfo(model.adapter, model.checkpoint, checkpoint_sha256(model.checkpoint), name)


def _load_transformers(model: ModelConfig, device: torch.device,
                       families: Mapping[str, Sequence[str]]) -> LoadedModel:
    from qa_gate.adapters.hf.config import transformers_kind

    needed = set(families)
    kind = transformers_kind(model.checkpoint)
    if kind == "dual_encoder":
        from qa_gate.adapters.hf.dual_encoder import load_transformers

        _refuse(model, kind, families, needed & GENERATOR_ONLY)
        encoder, name = load_transformers(model, device)
        return LoadedModel(_info(model, name), encoder=encoder)
    if kind == "classifier":
        from qa_gate.adapters.hf.classifier import load_transformers_classifier

        _refuse(model, kind, families, needed - {"multilabel", "efficiency"})
        classifier, name = load_transformers_classifier(model, device)
        return LoadedModel(_info(model, name), classifier=classifier)
    _refuse(model, kind, families, needed - GENERATOR_ONLY - {"vqa", "efficiency"})
    captioner = answerer = None
    names = []
    net = None  # one model in memory, even when it both captions and answers
    if needed & GENERATOR_ONLY or "vqa" not in needed:  # efficiency alone times generation
        from qa_gate.adapters.hf.captioner import load_transformers_captioner

        captioner, name = load_transformers_captioner(model, device)
        net = captioner.model
        names.append(name)
    if "vqa" in needed:
        from qa_gate.adapters.hf.answerer import load_transformers_answerer

        answerer, name = load_transformers_answerer(model, device, net)
        names.append(name)
    return LoadedModel(_info(model, " + ".join(dict.fromkeys(names))), captioner=captioner, answerer=answerer)


def _load_custom(model: ModelConfig, device: torch.device, families: Mapping[str, Sequence[str]]) -> LoadedModel:
    """A user's adapter object serves each family whose protocol it implements."""
    from qa_gate.adapters.custom import load_custom

    made, name = load_custom(model, device)
    encoder = made if isinstance(made, ImageTextEncoder) else None
    captioner = made if isinstance(made, ImageCaptioner) else None
    answerer = made if isinstance(made, VisualQuestionAnswerer) else None
    classifier = made if isinstance(made, MultilabelClassifier) else None
    served = {f for f in families if _serves(f, encoder, captioner, answerer, classifier)}
    _refuse(model, f"{type(made).__name__} (a user adapter object)", families, set(families) - served)
    return LoadedModel(_info(model, name), encoder=encoder, captioner=captioner, answerer=answerer,
                       classifier=classifier)


def _serves(family: str, encoder: Any, captioner: Any, answerer: Any, classifier: Any) -> bool:
    if family in ENCODER_ONLY:
        return encoder is not None
    if family == "efficiency":
        return any(x is not None for x in (encoder, captioner, answerer, classifier))
    if family in GENERATOR_ONLY:
        return captioner is not None
    if family == "vqa":
        return answerer is not None or encoder is not None
    return classifier is not None or encoder is not None


def load_encoder(model: ModelConfig, device: torch.device) -> tuple[ImageTextEncoder, CheckpointInfo]:
    """Load the configured checkpoint through its adapter, in eval mode on ``device``."""
    if model.adapter == "open_clip":
        from qa_gate.adapters.open_clip import load_open_clip

        encoder, name = load_open_clip(model, device)
    elif model.adapter == "transformers":
        from qa_gate.adapters.hf.dual_encoder import load_transformers

        encoder, name = load_transformers(model, device)
    else:
        from qa_gate.adapters.custom import load_custom

        encoder, name = load_custom(model, device)  # type: ignore[assignment]
        if not isinstance(encoder, ImageTextEncoder):
            raise AdapterError(f"model.adapter: '{model.adapter}' returned {type(encoder).__name__}, which lacks "
                               "encode_images(images) and encode_texts(texts)")
    info = CheckpointInfo(model.adapter, model.checkpoint, checkpoint_sha256(model.checkpoint), name)
    return encoder, info
