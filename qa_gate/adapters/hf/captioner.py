"""Hugging Face image-to-text models (``VisionEncoderDecoderModel``, BLIP, ...): generate captions.

Decoding is fixed and greedy (``do_sample=False, num_beams=1``), so a caption depends only
on the checkpoint, the image and ``max_new_tokens`` (``model.options.max_new_tokens``,
default 30). ``settings`` holds exactly these values; the runner writes them into the
definition of every captioning metric, so results decoded differently never compare.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from qa_gate.adapters.hf.config import architecture_class, load_complete, read_config
from qa_gate.adapters.hf.dual_encoder import refuse_pickle_only
from qa_gate.config.model import ModelConfig
from qa_gate.errors import AdapterError, first_line
from qa_gate.registry import import_backend

if TYPE_CHECKING:
    import torch
    from PIL.Image import Image

MAX_NEW_TOKENS = 30
# auto classes tried when config.json names no architecture transformers knows
_AUTO_CLASSES = ("AutoModelForImageTextToText", "AutoModelForVision2Seq", "VisionEncoderDecoderModel")


def decoding_settings(options: Mapping[str, Any]) -> dict[str, Any]:
    """The fixed greedy decoding settings, with ``max_new_tokens`` from ``model.options``."""
    value = options.get("max_new_tokens", MAX_NEW_TOKENS)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise AdapterError(f"model.options.max_new_tokens: expected a positive integer, got {value!r}")
    return {"do_sample": False, "num_beams": 1, "max_new_tokens": value}


class TransformersCaptioner:
    """A transformers image-to-text model with its image processor and tokenizer."""

    def __init__(self, model: Any, image_processor: Any, tokenizer: Any, device: torch.device,
                 settings: Mapping[str, Any]) -> None:
        self.model, self.image_processor, self.tokenizer = model, image_processor, tokenizer
        self.device, self.settings = device, dict(settings)

    def generate(self, images: Sequence[Image]) -> list[str]:
        """One caption per image: greedy ``generate``, special tokens skipped, stripped."""
        pixels = self.image_processor(images=list(images), return_tensors="pt")["pixel_values"]
        ids = self.model.generate(pixel_values=pixels.to(self.device), **self.settings)
        return [t.strip() for t in self.tokenizer.batch_decode(ids, skip_special_tokens=True)]


def load_transformers_captioner(model: ModelConfig, device: torch.device) -> tuple[TransformersCaptioner, str]:
    """The image-to-text model, ``AutoImageProcessor`` and ``AutoTokenizer``, in eval mode."""
    transformers = import_backend("transformers", "transformers")
    settings = decoding_settings(model.options)
    if not model.allow_pickle:
        refuse_pickle_only(model.checkpoint)
    kwargs: dict[str, Any] = {} if model.allow_pickle else {"use_safetensors": True}
    cls = architecture_class(transformers, read_config(model.checkpoint), model.checkpoint, _AUTO_CLASSES,
                             "an image-to-text model")
    net = load_complete(cls, model.checkpoint, **kwargs)
    if not hasattr(net, "generate"):
        raise AdapterError(f"model.checkpoint: '{model.checkpoint}' loads as {type(net).__name__}, "
                           "which cannot generate text")
    try:
        image_processor = transformers.AutoImageProcessor.from_pretrained(model.checkpoint)
        tokenizer = transformers.AutoTokenizer.from_pretrained(model.checkpoint)
    except (OSError, ValueError, KeyError) as exc:
        first = first_line(exc)
        raise AdapterError(f"model.checkpoint: no image processor or tokenizer in '{model.checkpoint}': "
                           f"{first}") from None
    net.to(device).eval()
    return TransformersCaptioner(net, image_processor, tokenizer, device, settings), \
        f"transformers:{type(net).__name__}"
