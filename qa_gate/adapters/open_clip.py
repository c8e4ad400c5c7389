"""open_clip backend: a local-dir checkpoint, a weights file plus architecture, or a pretrained tag."""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qa_gate.adapters.base import import_backend
from qa_gate.config import ModelConfig
from qa_gate.errors import AdapterError

if TYPE_CHECKING:
    import torch
    from PIL.Image import Image

CONFIG_FILE = "open_clip_config.json"


class OpenClipEncoder:
    """An open_clip model with its own validation transform and tokenizer."""

    def __init__(self, model: Any, preprocess: Any, tokenizer: Any, device: torch.device) -> None:
        self.model, self.preprocess, self.tokenizer, self.device = model, preprocess, tokenizer, device

    def encode_images(self, images: Sequence[Image]) -> torch.Tensor:
        """Embed a batch of images."""
        import torch

        pixels = torch.stack([self.preprocess(img) for img in images]).to(self.device)
        return self.model.encode_image(pixels)

    def encode_texts(self, texts: Sequence[str]) -> torch.Tensor:
        """Embed a batch of texts."""
        return self.model.encode_text(self.tokenizer(list(texts)).to(self.device))


def _model_args(model: ModelConfig) -> tuple[str, str | None]:
    """The (model_name, pretrained) pair open_clip's factory takes."""
    checkpoint = Path(model.checkpoint)
    if checkpoint.is_dir():
        if not (checkpoint / CONFIG_FILE).is_file():
            raise AdapterError(
                f"model.checkpoint: folder '{checkpoint}' has no {CONFIG_FILE}; an open_clip "
                "checkpoint folder needs its model config beside the weights"
            )
        return f"local-dir:{checkpoint}", None
    name = model.model_name
    if model.checkpoint.startswith(("hf-hub:", "local-dir:")):
        return model.checkpoint, None
    if name is None:
        raise AdapterError(
            f"model.model_name: the open_clip checkpoint '{model.checkpoint}' needs its architecture "
            "(model_name, e.g. ViT-B-32, or a path to a model config .json)"
        )
    if name.endswith(".json"):
        open_clip = import_backend("open_clip", "open_clip_torch")
        if not Path(name).is_file():
            raise AdapterError(f"model.model_name: model config '{name}' does not exist")
        open_clip.add_model_config(name)
        name = Path(name).stem
    pretrained = model.pretrained or model.checkpoint
    return name, pretrained


def load_open_clip(model: ModelConfig, device: torch.device) -> tuple[OpenClipEncoder, str]:
    """Build the model, load weights safely (safetensors or ``weights_only``), set eval mode."""
    open_clip = import_backend("open_clip", "open_clip_torch")
    name, pretrained = _model_args(model)
    try:
        net, _, preprocess = open_clip.create_model_and_transforms(
            name, pretrained=pretrained, device=device, weights_only=not model.allow_pickle
        )
        tokenizer = open_clip.get_tokenizer(name)
    except pickle.UnpicklingError as exc:
        raise _pickle_refused(model.checkpoint, exc) from None
    except (RuntimeError, ValueError, FileNotFoundError, OSError) as exc:
        raise AdapterError(f"model.checkpoint: open_clip could not load '{model.checkpoint}': {exc}") from None
    net.eval()
    shown = f"local-dir:{Path(model.checkpoint).name}" if name.startswith("local-dir:") else name
    return OpenClipEncoder(net, preprocess, tokenizer, device), f"open_clip:{shown}"


def _pickle_refused(checkpoint: str, exc: Exception) -> AdapterError:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return AdapterError(
        f"model.checkpoint: '{checkpoint}' is a pickle that cannot be loaded with weights_only=True "
        f"({first}). Convert it to safetensors, or set model.allow_pickle: true if you trust its source"
    )
