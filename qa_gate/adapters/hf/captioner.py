"""Hugging Face image-to-text models (``VisionEncoderDecoderModel``, BLIP, ...): generate captions.

Decoding is fixed and greedy (``do_sample=False, num_beams=1``, ``max_new_tokens`` from
``model.options.max_new_tokens``, default 30); every other field ``generate`` reads comes from the
checkpoint's ``generation_config`` (``no_repeat_ngram_size``, ``repetition_penalty``, token ids, ...).
``settings`` holds the three overrides and, under ``generation_config``, the effective config
``generate`` runs with (:func:`effective_generation_config`); the runner writes them into the
definition of every captioning metric, so results decoded differently never compare.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from qa_gate.adapters.hf.config import architecture_class, load_complete, read_config
from qa_gate.adapters.hf.dual_encoder import pixel_values, refuse_pickle_only
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


def effective_generation_config(net: Any, overrides: Mapping[str, Any]) -> dict[str, Any]:
    """The generation config ``net.generate(**overrides)`` runs with, as plain JSON data: the checkpoint's
    ``generation_config`` with ``overrides`` applied, as the fields set away from transformers' defaults.

    The diff form (``to_json_string(use_diff=True)``), not ``to_dict()``: it names every field the
    checkpoint or the adapter set, and stays the same when a transformers release adds fields left at
    their defaults; ``to_dict()`` lists every field, so the fingerprint would change with the library.
    ``transformers_version`` and private keys (``_from_model_config``) are dropped: they change no token.
    Fields left unset fall back to transformers' global defaults, which are not the checkpoint's.
    """
    import copy
    import json

    config = getattr(net, "generation_config", None)
    if config is None:
        return dict(overrides)
    merged = copy.deepcopy(config)
    merged.update(**overrides)
    data = json.loads(merged.to_json_string(use_diff=True))
    return {k: v for k, v in sorted(data.items()) if k != "transformers_version" and not k.startswith("_")}


class TransformersCaptioner:
    """A transformers image-to-text model with its image processor and tokenizer."""

    def __init__(self, model: Any, image_processor: Any, tokenizer: Any, device: torch.device,
                 settings: Mapping[str, Any]) -> None:
        self.model, self.image_processor, self.tokenizer = model, image_processor, tokenizer
        self.device, self.settings = device, dict(settings)
        self._generation = {k: v for k, v in self.settings.items() if k != "generation_config"}

    def prepare_image(self, image: Image) -> torch.Tensor:
        """One image through the image processor: its ``pixel_values`` row."""
        return self.image_processor(images=[image], return_tensors="pt")["pixel_values"][0]

    def generate(self, images: Sequence[Image | torch.Tensor]) -> list[str]:
        """One caption per image (or :meth:`prepare_image` row): greedy ``generate``, special tokens
        skipped, stripped."""
        pixels = pixel_values(images, self.image_processor, self.prepare_image, self.device)
        ids = self.model.generate(pixel_values=pixels, **self._generation)
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
    settings = {**settings, "generation_config": effective_generation_config(net, settings)}
    return TransformersCaptioner(net, image_processor, tokenizer, device, settings), \
        f"transformers:{type(net).__name__}"
