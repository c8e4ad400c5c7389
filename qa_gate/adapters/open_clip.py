"""open_clip backend: a local-dir checkpoint, a weights file plus architecture, or a pretrained tag."""

from __future__ import annotations

import json
import pickle
import tempfile
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qa_gate.adapters.protocols import ENCODER, Built
from qa_gate.config.model import ModelConfig
from qa_gate.errors import AdapterError, did_you_mean, first_line
from qa_gate.registry import import_backend

if TYPE_CHECKING:
    import torch
    from PIL.Image import Image

CONFIG_FILE = "open_clip_config.json"
_MODEL_CFG_KEYS = ("embed_dim", "vision_cfg", "text_cfg")
# preprocess_cfg keys of a config .json -> create_model_and_transforms overrides (size comes from the model)
_PREPROCESS_ARGS = {"mean": "image_mean", "std": "image_std", "interpolation": "image_interpolation",
                    "resize_mode": "image_resize_mode"}


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


def _model_args(model: ModelConfig) -> tuple[str, str | None, dict[str, Any]]:
    """The (model_name, pretrained) pair open_clip's factory takes, and preprocessing overrides."""
    checkpoint = Path(model.checkpoint)
    if checkpoint.is_dir():
        if not (checkpoint / CONFIG_FILE).is_file():
            raise AdapterError(
                f"model.checkpoint: folder '{checkpoint}' has no {CONFIG_FILE}; an open_clip "
                "checkpoint folder needs its model config beside the weights"
            )
        return f"local-dir:{checkpoint}", None, {}
    name = model.model_name
    if model.checkpoint.startswith(("hf-hub:", "local-dir:")):
        return model.checkpoint, None, {}
    if name is None:
        raise AdapterError(
            f"model.model_name: the open_clip checkpoint '{model.checkpoint}' needs its architecture "
            "(model_name, e.g. ViT-B-32, or a path to a model config .json)"
        )
    preprocess: dict[str, Any] = {}
    if name.endswith(".json"):
        name, preprocess = _register_config(name)
    else:
        open_clip = import_backend("open_clip", "open_clip_torch")
        known = open_clip.list_models()
        if name.replace("/", "-") not in known:
            raise AdapterError(
                f"model.model_name: '{name}' is not an open_clip architecture{did_you_mean(name, known)}; "
                "expected a name from open_clip.list_models() or a path to a model config .json"
            )
    pretrained = model.pretrained or model.checkpoint
    return name, pretrained, preprocess


def _register_config(path_text: str) -> tuple[str, dict[str, Any]]:
    """Register a model config .json with open_clip under its file stem.

    Takes a plain model config (``embed_dim``, ``vision_cfg``, ``text_cfg``: what
    ``open_clip.add_model_config`` reads) or an ``open_clip_config.json``-style file
    (``{"model_cfg": ..., "preprocess_cfg": ...}``), whose model config is registered
    and whose mean, std, interpolation and resize mode become preprocessing overrides.
    """
    open_clip = import_backend("open_clip", "open_clip_torch")
    path = Path(path_text)
    if not path.is_file():
        raise AdapterError(f"model.model_name: model config '{path_text}' does not exist")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AdapterError(f"model.model_name: model config '{path_text}' is not readable JSON: {exc}") from None
    wrapped = isinstance(data, dict) and isinstance(data.get("model_cfg"), dict)
    model_cfg = data["model_cfg"] if wrapped else data
    missing = [key for key in _MODEL_CFG_KEYS if not isinstance(model_cfg, dict) or key not in model_cfg]
    if missing:
        raise AdapterError(
            f"model.model_name: '{path_text}' is not an open_clip model config (it lacks "
            f"{', '.join(missing)}); expected {', '.join(_MODEL_CFG_KEYS)} at the top level or "
            f"under 'model_cfg' as in {CONFIG_FILE}"
        )
    if wrapped:  # add_model_config reads only plain model configs: register a plain copy
        with tempfile.TemporaryDirectory() as folder:
            plain = Path(folder) / path.name
            plain.write_text(json.dumps(model_cfg), encoding="utf-8")
            open_clip.add_model_config(plain)
    else:
        open_clip.add_model_config(path)
    given = data.get("preprocess_cfg") if wrapped else None
    preprocess = {arg: given[key] for key, arg in _PREPROCESS_ARGS.items()
                  if isinstance(given, dict) and given.get(key) is not None}
    return path.stem, preprocess


def load_open_clip(model: ModelConfig, device: torch.device) -> tuple[OpenClipEncoder, str]:
    """Build the model, load weights safely (safetensors or ``weights_only``), set eval mode."""
    open_clip = import_backend("open_clip", "open_clip_torch")
    name, pretrained, overrides = _model_args(model)
    try:
        net, _, preprocess = open_clip.create_model_and_transforms(
            name, pretrained=pretrained, device=device, weights_only=not model.allow_pickle, **overrides
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
    first = first_line(exc)
    return AdapterError(
        f"model.checkpoint: '{checkpoint}' is a pickle that cannot be loaded with weights_only=True "
        f"({first}). Convert it to safetensors, or set model.allow_pickle: true if you trust its source"
    )


@dataclass(frozen=True)
class OpenClipOffer:
    """An open_clip checkpoint: always a dual encoder, known without loading it."""

    model: ModelConfig
    device: torch.device
    serves: tuple[str, ...] = (ENCODER,)
    description: str = "an image-text dual encoder"

    def load(self, chosen: Collection[str]) -> Built:
        """Load the encoder (the only capability there is)."""
        encoder, name = load_open_clip(self.model, self.device)
        return Built(name, encoder=encoder)


class OpenClipBackend:
    """The ``open_clip`` adapter."""

    def open(self, model: ModelConfig, device: torch.device) -> OpenClipOffer:
        """Nothing to read before loading: every open_clip model is a dual encoder."""
        return OpenClipOffer(model, device)


BACKEND = OpenClipBackend()
