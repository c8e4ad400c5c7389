"""A user's own adapter, named ``package.module:attr`` in ``model.adapter``."""

from __future__ import annotations

import importlib
import sys
from typing import TYPE_CHECKING

from qa_gate.adapters.base import ImageTextEncoder
from qa_gate.config import ModelConfig
from qa_gate.errors import AdapterError

if TYPE_CHECKING:
    import torch


def load_custom(model: ModelConfig, device: torch.device) -> tuple[ImageTextEncoder, str]:
    """Call ``attr(model_config, device)``; it must return an object with ``encode_images``/``encode_texts``.

    The current directory is importable, so a module beside ``thresholds.yaml`` works.
    """
    module_name, _, attr = model.adapter.partition(":")
    if "" not in sys.path and "." not in sys.path:
        sys.path.insert(0, "")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise AdapterError(f"model.adapter: cannot import '{module_name}' for adapter '{model.adapter}': {exc}") from None
    factory = getattr(module, attr, None)
    if factory is None or not callable(factory):
        raise AdapterError(f"model.adapter: '{module_name}' has no callable '{attr}'")
    encoder = factory(model, device)
    if not isinstance(encoder, ImageTextEncoder):
        raise AdapterError(
            f"model.adapter: '{model.adapter}' returned {type(encoder).__name__}, which lacks "
            "encode_images(images) and encode_texts(texts)"
        )
    return encoder, f"custom:{model.adapter}"
