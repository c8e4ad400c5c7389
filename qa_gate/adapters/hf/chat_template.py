"""What makes a transformers checkpoint a chat vision-language model, and the chat template it is prompted with.

A *chat VLM* is an image-text-to-text model (its ``model_type`` is in transformers'
``AutoModelForImageTextToText`` table) whose processor class is built for chat templates (its
``__init__`` takes ``chat_template``: LLaVA, Qwen2-VL, Idefics3, SmolVLM, PaliGemma, Gemma 3, ...).
BLIP, BLIP-2, GIT and ``VisionEncoderDecoderModel`` are image-text-to-text models whose processors
know no chat template: they stay plain generators. Recognition reads ``config.json`` only; the
template itself is read with the processor when the model loads (:func:`chat_template`).
"""

from __future__ import annotations

import hashlib
import inspect
from typing import Any

from qa_gate.errors import AdapterError


def is_chat_vlm(transformers: Any, config: Any) -> bool:
    """True if ``config`` (an ``AutoConfig``) is an image-text-to-text model whose processor takes a chat template."""
    model_type = getattr(config, "model_type", None)
    try:
        from transformers.models.auto import modeling_auto, processing_auto
    except ImportError:
        return False
    if model_type not in getattr(modeling_auto, "MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES", {}):
        return False
    name = getattr(processing_auto, "PROCESSOR_MAPPING_NAMES", {}).get(model_type)
    processor = getattr(transformers, name, None) if isinstance(name, str) else None
    if processor is None:
        return False
    try:
        return "chat_template" in inspect.signature(processor.__init__).parameters
    except (TypeError, ValueError):
        return False


def chat_template(processor: Any, checkpoint: str) -> str:
    """The template ``apply_chat_template`` renders with: the processor's (its ``"default"`` when it holds
    several), else its tokenizer's; an ``AdapterError`` naming ``checkpoint`` when neither has one."""
    for owner in (processor, getattr(processor, "tokenizer", None)):
        template = getattr(owner, "chat_template", None)
        if isinstance(template, dict):
            template = template.get("default")
        if isinstance(template, str) and template.strip():
            return template
    raise AdapterError(
        f"model.checkpoint: '{checkpoint}' is a chat vision-language model ({type(processor).__name__}) but "
        "has no chat template (neither its processor nor its tokenizer holds one); add one (a chat_template.jinja "
        "in the checkpoint folder: set processor.chat_template and save_pretrained) or write the prompt by hand in "
        "model.options.question_prompt (answers only), e.g. 'USER: <image>\\n{question} ASSISTANT:', or "
        "'{question}' for a processor that places the image tokens itself, such as PaliGemma's")


def template_sha256(template: str) -> str:
    """The sha256 of the template's source (UTF-8), as the metric definitions record it."""
    return hashlib.sha256(template.encode("utf-8")).hexdigest()
