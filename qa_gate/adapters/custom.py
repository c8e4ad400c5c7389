"""A user's own adapter, named ``package.module:attr`` in ``model.adapter``."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING

from qa_gate.adapters.protocols import (
    CAPABILITIES,
    PROTOCOLS,
    Built,
    ImageCaptioner,
    ImageTextEncoder,
    MultilabelClassifier,
    VisualQuestionAnswerer,
)
from qa_gate.config.model import ModelConfig
from qa_gate.errors import AdapterError

if TYPE_CHECKING:
    import torch


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
        raise AdapterError(f"model.adapter: cannot import '{module_name}' for adapter '{model.adapter}': "
                           f"{exc}") from None
    factory = getattr(module, attr, None)
    if factory is None or not callable(factory):
        raise AdapterError(f"model.adapter: '{module_name}' has no callable '{attr}'")
    made = factory(model, device)
    if not any(isinstance(made, protocol) for protocol in PROTOCOLS.values()):
        raise AdapterError(f"model.adapter: '{model.adapter}' returned {type(made).__name__}, which has none of "
                           f"the adapter methods; expected {METHODS}")
    return made, f"custom:{model.adapter}"


@dataclass(frozen=True)
class UserOffer:
    """A user adapter object, already built: it serves every capability whose Protocol it implements."""

    made: object
    name: str

    @property
    def serves(self) -> tuple[str, ...]:
        """The capabilities the object implements."""
        return tuple(c for c in CAPABILITIES if isinstance(self.made, PROTOCOLS[c]))

    @property
    def description(self) -> str:
        """``"<Type> (a user adapter object)"``."""
        return f"{type(self.made).__name__} (a user adapter object)"

    def load(self, chosen: Collection[str]) -> Built:
        """The object as every capability it implements, whatever was chosen: it is one object."""
        made = self.made
        return Built(self.name,
                     encoder=made if isinstance(made, ImageTextEncoder) else None,
                     captioner=made if isinstance(made, ImageCaptioner) else None,
                     answerer=made if isinstance(made, VisualQuestionAnswerer) else None,
                     classifier=made if isinstance(made, MultilabelClassifier) else None)


class UserBackend:
    """The backend of every ``package.module:attr`` adapter: the factory runs when the checkpoint is opened."""

    def open(self, model: ModelConfig, device: torch.device) -> UserOffer:
        """Import and call the user's factory."""
        return UserOffer(*load_custom(model, device))


BACKEND = UserBackend()
