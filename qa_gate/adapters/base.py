"""The adapter interface, device and dtype choice, checkpoint hashing and backend loading."""

from __future__ import annotations

import hashlib
import importlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from qa_gate.config import ModelConfig
from qa_gate.errors import AdapterError
from qa_gate.results import CheckpointInfo

if TYPE_CHECKING:
    import torch
    from PIL.Image import Image


@runtime_checkable
class ImageTextEncoder(Protocol):
    """An image-text dual encoder: batches in, one embedding row per input out.

    Rows need not be normalised; the runner normalises them. Implementations apply
    the model's own preprocessing and tokenizer and move inputs to their device.
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

    settings: Mapping[str, Any]

    def generate(self, images: Sequence[Image]) -> list[str]:
        """One decoded, stripped caption per image."""
        ...


@runtime_checkable
class VisualQuestionAnswerer(Protocol):
    """A generative VQA model: images and one question per image in, one answer per image out.

    ``settings`` holds every decoding setting (fixed, deterministic) and the prompt form;
    the runner records it in the VQA metrics' definitions.
    """

    settings: Mapping[str, Any]

    def answer(self, images: Sequence[Image], questions: Sequence[str]) -> list[str]:
        """One decoded, stripped answer per (image, question) pair."""
        ...


@runtime_checkable
class MultilabelClassifier(Protocol):
    """A multilabel image classifier: a batch of images in, one independent score per label out.

    ``labels`` names the score columns; scores are probabilities (a sigmoid per label),
    so the metrics' ``threshold`` applies to them directly.
    """

    labels: tuple[str, ...]
    settings: Mapping[str, Any]

    def label_scores(self, images: Sequence[Image]) -> torch.Tensor:
        """``[len(images), len(labels)]`` scores in [0, 1]."""
        ...


def import_backend(module: str, package: str) -> ModuleType:
    """Import an optional backend, or fail with the command that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise AdapterError(
            f"the '{module}' backend is not installed ({exc}); install it with: pip install {package}"
        ) from None


def resolve_device(spec: str) -> torch.device:
    """``auto`` picks CUDA when present; ``cuda`` without a GPU is a clear error."""
    import torch

    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if spec.startswith("cuda") and not torch.cuda.is_available():
        raise AdapterError(f"model.device is '{spec}' but torch sees no CUDA device; use 'auto' or 'cpu'")
    return torch.device(spec)


def autocast_dtype(spec: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype: ``None`` (full precision) on CPU and for ``float32``.

    ``auto`` on CUDA is bfloat16 where supported, else float16.
    """
    import torch

    if device.type != "cuda" or spec == "float32":
        return None
    if spec == "auto":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return {"float16": torch.float16, "bfloat16": torch.bfloat16}[spec]


def checkpoint_sha256(location: str) -> str:
    """sha256 of a checkpoint file, or of a folder's files (paths and contents, sorted).

    A location that is not on disk (a hub id or pretrained tag) has no content hash
    here and is recorded by name.
    """
    path = Path(location)
    if path.is_file():
        return _file_sha256(path)
    if path.is_dir():
        outer = hashlib.sha256()
        for file in sorted(p for p in path.rglob("*") if p.is_file()):
            outer.update(file.relative_to(path).as_posix().encode())
            outer.update(bytes.fromhex(_file_sha256(file)))
        return outer.hexdigest()
    return f"unhashed:{location}"


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def load_encoder(model: ModelConfig, device: torch.device) -> tuple[ImageTextEncoder, CheckpointInfo]:
    """Load the configured checkpoint through its adapter, in eval mode on ``device``."""
    if model.adapter == "open_clip":
        from qa_gate.adapters.open_clip import load_open_clip

        encoder, name = load_open_clip(model, device)
    elif model.adapter == "transformers":
        from qa_gate.adapters.transformers import load_transformers

        encoder, name = load_transformers(model, device)
    else:
        from qa_gate.adapters.custom import load_custom

        encoder, name = load_custom(model, device)  # type: ignore[assignment]
        if not isinstance(encoder, ImageTextEncoder):
            raise AdapterError(f"model.adapter: '{model.adapter}' returned {type(encoder).__name__}, which lacks "
                               "encode_images(images) and encode_texts(texts)")
    info = CheckpointInfo(model.adapter, model.checkpoint, checkpoint_sha256(model.checkpoint), name)
    return encoder, info


def load_captioner(model: ModelConfig, device: torch.device) -> tuple[ImageCaptioner, CheckpointInfo]:
    """Load the configured checkpoint as an image-to-text model (transformers only), in eval mode."""
    if model.adapter != "transformers":
        raise AdapterError(f"model.adapter: the captioning metrics need an image-to-text model, which only "
                           f"the 'transformers' adapter loads; '{model.adapter}' loads dual encoders")
    from qa_gate.adapters.captioner import load_transformers_captioner

    captioner, name = load_transformers_captioner(model, device)
    return captioner, CheckpointInfo(model.adapter, model.checkpoint, checkpoint_sha256(model.checkpoint), name)
