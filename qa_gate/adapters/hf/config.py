"""What a transformers checkpoint is, read from its ``config.json``, and its weights loaded whole.

:func:`transformers_kind` tells a dual encoder, a classifier and a generator apart without
loading weights. :func:`load_complete` loads weights into a class and refuses a checkpoint
that leaves some of the class's weights randomly initialised (transformers only warns),
such as a base model loaded under a task head.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from qa_gate.adapters.locations import missing_location, other_backend
from qa_gate.errors import AdapterError, first_line
from qa_gate.registry import import_backend

DUAL_ENCODER = "dual_encoder"
CLASSIFIER = "classifier"
GENERATOR = "generator"
CHAT = "chat"
KINDS: tuple[str, ...] = (DUAL_ENCODER, CLASSIFIER, GENERATOR, CHAT)

# model_type -> class name tables of transformers' auto classes, asked in this order when
# config.json names no architecture that transformers knows
_MAPPINGS: tuple[tuple[str, str], ...] = (
    ("MODEL_MAPPING_NAMES", DUAL_ENCODER),
    ("MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES", GENERATOR),
    ("MODEL_FOR_VISUAL_QUESTION_ANSWERING_MAPPING_NAMES", GENERATOR),
    ("MODEL_FOR_IMAGE_CLASSIFICATION_MAPPING_NAMES", CLASSIFIER),
)


def read_config(checkpoint: str) -> Any:
    """``AutoConfig.from_pretrained(checkpoint)``, or an ``AdapterError`` naming ``model.checkpoint``."""
    problem = missing_location(checkpoint) or other_backend(Path(checkpoint), "transformers")
    if problem is not None:
        raise AdapterError(problem if problem.startswith("model.") else f"model.checkpoint: {problem}")
    transformers = import_backend("transformers", "transformers")
    try:
        return transformers.AutoConfig.from_pretrained(checkpoint)
    except (OSError, ValueError, KeyError) as exc:
        raise AdapterError(f"model.checkpoint: transformers could not read a config.json from "
                           f"'{checkpoint}': {first_line(exc)}; expected a local folder saved with "
                           "save_pretrained or a hub id") from None


def transformers_kind(checkpoint: str) -> str:
    """``"dual_encoder"``, ``"classifier"``, ``"generator"`` or ``"chat"``, from ``config.json`` alone.

    The first of ``config.architectures`` that transformers knows decides: a class with
    ``get_image_features`` and ``get_text_features`` is a dual encoder (``CLIPModel``,
    ``SiglipModel``), a ``*ForImageClassification`` a classifier, any other class with
    ``generate`` a generator (``VisionEncoderDecoderModel``, BLIP, ``*ForConditionalGeneration``).
    Without a known architecture, ``model_type`` is looked up in the auto classes' tables.
    A generator whose processor takes a chat template is a chat VLM (``chat_template.is_chat_vlm``).
    """
    transformers = import_backend("transformers", "transformers")
    config = read_config(checkpoint)
    architectures = list(getattr(config, "architectures", None) or ())
    for name in architectures:
        kind = _class_kind(name, getattr(transformers, name, None))
        if kind is not None:
            return _chat_or(kind, transformers, config)
    model_type = getattr(config, "model_type", None)
    kind = _model_type_kind(transformers, model_type)
    if kind is not None:
        return _chat_or(kind, transformers, config)
    raise AdapterError(
        f"model.checkpoint: cannot tell what kind of model '{checkpoint}' is: its config.json names "
        f"architectures {architectures} and model_type {model_type!r}; expected an image-text dual encoder "
        "(get_image_features and get_text_features, e.g. CLIPModel), an image classifier "
        "(*ForImageClassification) or an image-to-text generator (e.g. VisionEncoderDecoderModel, "
        "BlipForQuestionAnswering)")


def _chat_or(kind: str, transformers: Any, config: Any) -> str:
    from qa_gate.adapters.hf.chat_template import is_chat_vlm

    return CHAT if kind == GENERATOR and is_chat_vlm(transformers, config) else kind


def _class_kind(name: str, cls: Any) -> str | None:
    if cls is None:
        return None
    if hasattr(cls, "get_image_features") and hasattr(cls, "get_text_features"):
        return DUAL_ENCODER
    if name.endswith("ForImageClassification"):
        return CLASSIFIER
    if hasattr(cls, "generate"):
        return GENERATOR
    return None


def _model_type_kind(transformers: Any, model_type: str | None) -> str | None:
    if not model_type:
        return None
    try:
        from transformers.models.auto import modeling_auto
    except ImportError:
        return None
    for table, kind in _MAPPINGS:
        names: Mapping[str, Any] = getattr(modeling_auto, table, {})
        name = names.get(model_type)
        if isinstance(name, str) and _class_kind(name, getattr(transformers, name, None)) == kind:
            return kind
    return None


def architecture_class(transformers: Any, config: Any, checkpoint: str, auto_classes: Sequence[str],
                       what: str) -> Any:
    """The class named in ``config.architectures``, else the first of ``auto_classes`` mapping the config.

    The named class first: an auto class may load a checkpoint as a sibling architecture (a BLIP
    VQA checkpoint as the BLIP captioner), silently dropping weights it has no place for.
    """
    for name in getattr(config, "architectures", None) or ():
        cls = getattr(transformers, name, None)
        if cls is not None:
            return cls
    for name in auto_classes:
        cls = getattr(transformers, name, None)
        if cls is not None and type(config) in getattr(cls, "_model_mapping", {}):
            return cls
    raise AdapterError(f"model.checkpoint: '{checkpoint}' (model_type {config.model_type!r}) is not {what} "
                       "that transformers knows")


def load_complete(cls: Any, checkpoint: str, **kwargs: Any) -> Any:
    """``cls.from_pretrained(checkpoint, **kwargs)``, refusing weights the checkpoint lacks.

    transformers initialises missing weights at random and only logs a report; a gate
    scoring such a model would measure noise.
    """
    try:
        model, info = cls.from_pretrained(checkpoint, output_loading_info=True, **kwargs)
    except Exception as exc:  # OSError, SafetensorError (a truncated file), torch's errors on a broken .bin
        raise AdapterError(f"model.checkpoint: transformers could not load '{checkpoint}' as "
                           f"{cls.__name__}: {type(exc).__name__}: {first_line(exc)}") from exc
    missing = sorted(info.get("missing_keys") or ())
    if missing:
        raise AdapterError(
            f"model.checkpoint: '{checkpoint}' loads as {type(model).__name__}, but {len(missing)} of its "
            f"weights are not in the checkpoint (first: '{missing[0]}') and would be random; expected a "
            f"checkpoint saved from a {type(model).__name__}")
    return model
