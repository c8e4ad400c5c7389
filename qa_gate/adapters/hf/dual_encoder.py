"""Hugging Face transformers backend: ``CLIPModel`` and other dual encoders via ``from_pretrained``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qa_gate.adapters.hf.config import load_complete
from qa_gate.adapters.pixels import on_device, stacked
from qa_gate.config.model import ModelConfig
from qa_gate.errors import AdapterError, first_line
from qa_gate.registry import import_backend

if TYPE_CHECKING:
    import torch
    from PIL.Image import Image


def _features(output: Any) -> torch.Tensor:
    """transformers 4 returns a tensor, transformers 5 an output object whose pooler is projected."""
    import torch

    if isinstance(output, torch.Tensor):
        return output
    pooled = getattr(output, "pooler_output", None)
    if pooled is None:
        raise AdapterError(f"transformers returned {type(output).__name__} without pooler_output")
    return pooled


EXACT_TRIMMING = ("clip",)
"""``model_type``s whose text tower gives every text the same embedding whatever the batch is padded to:
CLIP's is causal, masks padding and pools at the first end-of-text token (``CLIPTextTransformer``)."""
NO_LIMIT = 100_000
"""A tokenizer's ``model_max_length`` at or above this means "not set" (transformers writes ``1e30``)."""


def text_padding(model: Any, processor: Any) -> dict[str, Any]:
    """How a batch of texts is padded: to its longest text where that is exact (``EXACT_TRIMMING``), else
    to the model's text length, as such models are run (SigLIP pools the last position, so its embeddings
    depend on the padding); to the longest when the model states no length. Texts are truncated to the
    model's text length (the smaller of its positions and the tokenizer's ``model_max_length``)."""
    text_config = getattr(model.config, "text_config", None)
    tokenizer = getattr(processor, "tokenizer", processor)
    lengths = [value for value in (getattr(text_config, "max_position_embeddings", None),
                                   getattr(tokenizer, "model_max_length", None))
               if isinstance(value, int) and 0 < value < NO_LIMIT]
    limit = {"max_length": min(lengths)} if lengths else {}
    if getattr(model.config, "model_type", None) in EXACT_TRIMMING or not limit:
        return {"padding": True, **limit}
    return {"padding": "max_length", **limit}


class TransformersEncoder:
    """A transformers dual encoder with its own processor; texts padded as :func:`text_padding` says."""

    def __init__(self, model: Any, processor: Any, device: torch.device) -> None:
        self.model, self.processor, self.device = model, processor, device
        self.padding = text_padding(model, processor)

    def prepare_image(self, image: Image) -> torch.Tensor:
        """One image through the processor: its ``pixel_values`` row, ``[3, H, W]``."""
        return self.processor(images=[image], return_tensors="pt")["pixel_values"][0]

    def encode_images(self, images: Sequence[Image | torch.Tensor]) -> torch.Tensor:
        """Embed a batch of images, or of their :meth:`prepare_image` rows, through ``get_image_features``."""
        pixels = pixel_values(images, self.processor, self.prepare_image, self.device)
        return _features(self.model.get_image_features(pixel_values=pixels))

    def encode_texts(self, texts: Sequence[str]) -> torch.Tensor:
        """Embed a batch of texts through ``get_text_features`` (tokenized as one batch, padded, truncated)."""
        inputs = self.processor(text=list(texts), truncation=True, return_tensors="pt", **self.padding)
        inputs = {k: v.to(self.device) for k, v in inputs.items() if k in ("input_ids", "attention_mask")}
        return _features(self.model.get_text_features(**inputs))


def pixel_values(items: Sequence[Any], processor: Any, prepare: Callable[[Any], torch.Tensor],
                 device: torch.device) -> torch.Tensor:
    """``[n, 3, H, W]`` pixel values of ``items`` on ``device`` (``qa_gate.adapters.pixels``): images go
    through ``processor`` as one batch; if some are already prepared (``prepare_image`` rows, tensors),
    each of the others goes through ``prepare``."""
    import torch

    if not any(isinstance(x, torch.Tensor) for x in items):
        return on_device(processor(images=list(items), return_tensors="pt")["pixel_values"], device)
    return stacked([x if isinstance(x, torch.Tensor) else prepare(x) for x in items], device)


def refuse_pickle_only(checkpoint: str) -> None:
    """Refuse a checkpoint folder that holds only pickle weights (``*.bin``, no ``*.safetensors``)."""
    folder = Path(checkpoint)
    if folder.is_dir() and not any(folder.glob("*.safetensors")) and any(folder.glob("*.bin")):
        raise AdapterError(
            f"model.checkpoint: '{checkpoint}' holds only pickle weights (*.bin). Convert them to "
            "safetensors, or set model.allow_pickle: true if you trust their source"
        )


def load_transformers(model: ModelConfig, device: torch.device) -> tuple[TransformersEncoder, str]:
    """``AutoModel`` and ``AutoProcessor`` from a local folder or hub id, in eval mode."""
    transformers = import_backend("transformers", "transformers")
    if not model.allow_pickle:
        refuse_pickle_only(model.checkpoint)
    kwargs: dict[str, Any] = {} if model.allow_pickle else {"use_safetensors": True}
    net = load_complete(transformers.AutoModel, model.checkpoint, **kwargs)  # missing weights would be random
    try:
        processor = transformers.AutoProcessor.from_pretrained(model.checkpoint)
    except (OSError, ValueError) as exc:
        raise AdapterError(f"model.checkpoint: transformers could not load '{model.checkpoint}': "
                           f"{first_line(exc)}") from None
    for needed in ("get_image_features", "get_text_features"):
        if not hasattr(net, needed):
            raise AdapterError(
                f"model.checkpoint: '{model.checkpoint}' loads as {type(net).__name__}, which has no "
                f"{needed}(); the transformers adapter needs an image-text dual encoder such as CLIPModel"
            )
    net.to(device).eval()
    return TransformersEncoder(net, processor, device), f"transformers:{type(net).__name__}"
