"""open_clip backend: a local-dir checkpoint, a weights file plus architecture, or a pretrained tag.

What is loaded, and what its sha256 covers, is decided in ``qa_gate.adapters.open_clip_source``.
A folder's or a file's weights are loaded here rather than by open_clip, into the model open_clip
builds from the config, so that weights which leave any of the model's parameters unset (open_clip
would initialise them at random, or the whole model when it finds no weights) are refused, naming
the first missing one. A download (``hf-hub:``, a pretrained tag) is loaded by open_clip, which is
told to require its weights.
"""

from __future__ import annotations

import logging
import pickle
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qa_gate.adapters.open_clip_source import Source, resolve
from qa_gate.adapters.pixels import stacked
from qa_gate.adapters.protocols import ENCODER, Built
from qa_gate.config.model import ModelConfig
from qa_gate.errors import AdapterError, first_line
from qa_gate.registry import import_backend

if TYPE_CHECKING:
    import torch
    from PIL.Image import Image

class OpenClipEncoder:
    """An open_clip model with its own validation transform and tokenizer.

    ``trims_padding``: texts are encoded with each batch's padding cut after its longest text, which
    leaves every embedding as ``encode_text`` gives it (``qa_gate.adapters.open_clip_text``); else
    as open_clip pads them, to the context length. ``tokenizer`` is open_clip's, or for its
    ``SimpleTokenizer`` the same tokens word by word (``qa_gate.adapters.open_clip_tokens``).
    """

    def __init__(self, model: Any, preprocess: Any, tokenizer: Any, device: torch.device) -> None:
        from qa_gate.adapters.open_clip_text import trimmed_text_encoder
        from qa_gate.adapters.open_clip_tokens import word_tokenizer

        tokenizer = word_tokenizer(tokenizer)
        self.model, self.preprocess, self.tokenizer, self.device = model, preprocess, tokenizer, device
        trimmed = trimmed_text_encoder(model, tokenizer, device)
        self.trims_padding = trimmed is not None
        self._encode_tokens = trimmed or model.encode_text

    def prepare_image(self, image: Image) -> torch.Tensor:
        """One image through the model's validation transform: a ``[3, H, W]`` tensor on the CPU."""
        return self.preprocess(image)

    def encode_images(self, images: Sequence[Image | torch.Tensor]) -> torch.Tensor:
        """Embed a batch of images, or of their :meth:`prepare_image` tensors."""
        import torch

        pixels = stacked([x if isinstance(x, torch.Tensor) else self.preprocess(x) for x in images], self.device)
        return self.model.encode_image(pixels)

    def encode_texts(self, texts: Sequence[str]) -> torch.Tensor:
        """Embed a batch of texts (tokenized as one batch; padding trimmed where exact)."""
        return self._encode_tokens(self.tokenizer(list(texts)).to(self.device))


class _NotRandom(logging.Filter):
    """Drops open_clip's "initialized randomly" warning for a model whose weights the gate loads next."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "initialized randomly" not in record.getMessage()


@contextmanager
def _quiet_random_init() -> Iterator[None]:
    root, quiet = logging.getLogger(), _NotRandom()
    root.addFilter(quiet)
    try:
        yield
    finally:
        root.removeFilter(quiet)


def _detail(exc: BaseException) -> str:
    """The first line of ``exc`` that says something (torch's state_dict errors open with a heading)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return next((line for line in lines if not line.endswith(":")), first_line(exc))


def load_open_clip(model: ModelConfig, device: torch.device) -> tuple[OpenClipEncoder, Source]:
    """Build the model, load weights safely (safetensors or ``weights_only``) and whole, set eval mode."""
    open_clip = import_backend("open_clip", "open_clip_torch")
    source = resolve(model)
    weights_only = not model.allow_pickle
    try:
        if source.weights is None:  # a download: open_clip loads it, and must
            net, _, preprocess = open_clip.create_model_and_transforms(
                source.name, pretrained=source.pretrained, device=device, weights_only=weights_only,
                require_pretrained=True, **source.overrides)
        else:
            with _quiet_random_init():
                net, _, preprocess = open_clip.create_model_and_transforms(
                    source.name, load_weights=False, pretrained_text=False, device=device, **source.overrides)
        tokenizer = open_clip.get_tokenizer(source.name)
    except pickle.UnpicklingError as exc:
        raise _pickle_refused(model.checkpoint, exc) from None
    except Exception as exc:
        raise AdapterError(f"model.checkpoint: open_clip could not load '{model.checkpoint}': "
                           f"{type(exc).__name__}: {_detail(exc)}") from exc
    if source.weights is not None:
        load_weights(net, source.weights, weights_only)
    net.eval()
    return OpenClipEncoder(net, preprocess, tokenizer, device), source


def load_weights(net: Any, weights: Path, weights_only: bool) -> None:
    """Load ``weights`` into ``net`` as open_clip does, refusing a file that cannot be read and weights
    that do not cover every parameter and buffer of the model (or that it has no place for)."""
    open_clip = import_backend("open_clip", "open_clip_torch")
    try:
        result = open_clip.load_checkpoint(net, str(weights), strict=False, weights_only=weights_only)
    except pickle.UnpicklingError as exc:
        raise _pickle_refused(str(weights), exc) from None
    except Exception as exc:  # SafetensorError (a truncated file), torch's zip errors, shape mismatches
        raise AdapterError(f"model.checkpoint: open_clip could not load the weights file '{weights}': "
                           f"{type(exc).__name__}: {_detail(exc)}") from exc
    missing = sorted(getattr(result, "missing_keys", None) or ())  # a big_vision .npz reports nothing
    unexpected = sorted(getattr(result, "unexpected_keys", None) or ())
    total = len(net.state_dict())
    if missing:
        raise AdapterError(f"model.checkpoint: the weights file '{weights}' lacks {len(missing)} of the model's "
                           f"{total} weights (first: '{missing[0]}'), which would be random; expected every "
                           "weight of the architecture its config describes")
    if unexpected:
        raise AdapterError(f"model.checkpoint: the weights file '{weights}' holds {len(unexpected)} weights the "
                           f"model has no place for (first: '{unexpected[0]}'); expected the weights of the "
                           "architecture its config describes")


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
        encoder, source = load_open_clip(self.model, self.device)
        return Built(f"open_clip:{source.shown}", encoder=encoder, sha256=source.sha256)


class OpenClipBackend:
    """The ``open_clip`` adapter."""

    def open(self, model: ModelConfig, device: torch.device) -> OpenClipOffer:
        """Nothing to read before loading: every open_clip model is a dual encoder."""
        return OpenClipOffer(model, device)


BACKEND = OpenClipBackend()
