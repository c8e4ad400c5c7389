"""A user's own adapter, named ``package.module:attr`` in ``model.adapter``."""

from __future__ import annotations

import importlib
import sys
from typing import TYPE_CHECKING

from qa_gate.adapters.protocols import (
    ImageCaptioner,
    ImageTextEncoder,
    MultilabelClassifier,
    VisualQuestionAnswerer,
)
from qa_gate.config.model import ModelConfig
from qa_gate.errors import AdapterError

if TYPE_CHECKING:
    import torch


PROTOCOLS = (ImageTextEncoder, ImageCaptioner, VisualQuestionAnswerer, MultilabelClassifier)
METHODS = ("encode_images(images) and encode_texts(texts) (a dual encoder), generate(images) and settings "
           "(image-to-text), answer(images, questions) and settings (VQA), or label_scores(images), labels "
           "and settings (multilabel)")


def load_custom(model: ModelConfig, device: torch.device) -> tuple[object, str]:
    """Call ``attr(model_config, device)``; it must return an object implementing at least one of
    the adapter protocols (``ImageTextEncoder``, ``ImageCaptioner``, ``VisualQuestionAnswerer``,
    ``MultilabelClassifier``).

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
    made = factory(model, device)
    if not any(isinstance(made, protocol) for protocol in PROTOCOLS):
        raise AdapterError(f"model.adapter: '{model.adapter}' returned {type(made).__name__}, which has none of "
                           f"the adapter methods; expected {METHODS}")
    return made, f"custom:{model.adapter}"
