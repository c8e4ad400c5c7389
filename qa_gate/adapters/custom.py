"""A user's own adapter, named ``package.module:attr`` in ``model.adapter``.

The user's code is held to the protocols at the door: whatever it raises while being imported,
built or asked what it serves becomes one ``AdapterError`` line naming ``module:attr``, the
operation and the exception (``KeyboardInterrupt`` is no ``Exception`` and passes). Its model
calls are checked where every adapter's are, in ``qa_gate.scoring.inputs``.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from qa_gate.adapters.protocols import (
    ANSWERER,
    CAPABILITIES,
    CAPTIONER,
    CLASSIFIER,
    ENCODER,
    PROTOCOLS,
    Built,
)
from qa_gate.config.model import ModelConfig
from qa_gate.errors import AdapterError, GateError, first_line

if TYPE_CHECKING:
    import torch

T = TypeVar("T")

METHODS = ("encode_images(images) and encode_texts(texts) (a dual encoder), generate(images) and settings "
           "(image-to-text), answer(images, questions) and settings (VQA), or label_scores(images), labels "
           "and settings (multilabel)")


def guarded(adapter: str, operation: str, call: Callable[[], T]) -> T:
    """``call()``; an exception from the user's code becomes one ``AdapterError`` line naming ``adapter``
    and ``operation`` (a ``GateError`` passes as it is)."""
    try:
        return call()
    except GateError:
        raise
    except Exception as exc:
        raise AdapterError(f"model.adapter: '{adapter}' raised {type(exc).__name__} in {operation}: "
                           f"{first_line(exc)}") from exc


def load_custom(model: ModelConfig, device: torch.device) -> UserOffer:
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
    except Exception as exc:  # ImportError, or whatever the module raises while it runs
        raise AdapterError(f"model.adapter: cannot import '{module_name}' for adapter '{model.adapter}': "
                           f"{type(exc).__name__}: {first_line(exc)}") from exc
    factory = getattr(module, attr, None)
    if factory is None or not callable(factory):
        raise AdapterError(f"model.adapter: '{module_name}' has no callable '{attr}'")
    made = guarded(model.adapter, f"its factory {attr}(model_config, device)", lambda: factory(model, device))
    serves = _serves(model.adapter, made)
    if not serves:
        raise AdapterError(f"model.adapter: '{model.adapter}' returned {type(made).__name__}, which has none of "
                           f"the adapter methods; expected {METHODS}")
    _check_properties(model.adapter, made, serves)
    return UserOffer(made, f"custom:{model.adapter}", serves)


def _serves(adapter: str, made: object) -> tuple[str, ...]:
    """The capabilities whose every Protocol member ``made`` has, each looked up once, guarded: the
    lookup runs a property's code."""
    members = {name for protocol in PROTOCOLS.values() for name in vars(protocol) if not name.startswith("_")}
    present = {name for name in sorted(members)
               if guarded(adapter, f"its '{name}' attribute", partial(hasattr, made, name))}
    return tuple(c for c in CAPABILITIES
                 if all(name in present for name in vars(PROTOCOLS[c]) if not name.startswith("_")))


def _check_properties(adapter: str, made: object, serves: Collection[str]) -> None:
    """``settings`` is a mapping and ``labels`` distinct strings, where the capability has them."""
    def read(name: str) -> Any:
        return guarded(adapter, f"its '{name}' attribute", lambda: getattr(made, name))

    if any(c in serves for c in (CAPTIONER, ANSWERER, CLASSIFIER)):
        settings = read("settings")
        if not isinstance(settings, Mapping):
            raise AdapterError(f"model.adapter: '{adapter}' has settings of type {type(settings).__name__}; "
                               "expected a mapping of the settings its outputs depend on (it enters definitions)")
    if CLASSIFIER in serves:
        labels = read("labels")
        names = list(labels) if isinstance(labels, (list, tuple)) else None
        if names is None or not all(isinstance(x, str) for x in names) or len(set(names)) != len(names):
            raise AdapterError(f"model.adapter: '{adapter}' has labels {labels!r}; expected a list of distinct "
                               "label names, one per score column")


@dataclass(frozen=True)
class UserOffer:
    """A user adapter object, already built: it serves every capability whose Protocol it implements."""

    made: Any
    name: str
    serves: tuple[str, ...]
    """The capabilities the object implements."""

    @property
    def description(self) -> str:
        """``"<Type> (a user adapter object)"``."""
        return f"{type(self.made).__name__} (a user adapter object)"

    def load(self, chosen: Collection[str]) -> Built:
        """The object as every capability it implements, whatever was chosen: it is one object."""
        def _as(capability: str) -> Any:
            return self.made if capability in self.serves else None

        return Built(self.name, encoder=_as(ENCODER), captioner=_as(CAPTIONER), answerer=_as(ANSWERER),
                     classifier=_as(CLASSIFIER))


class UserBackend:
    """The backend of every ``package.module:attr`` adapter: the factory runs when the checkpoint is opened."""

    def open(self, model: ModelConfig, device: torch.device) -> UserOffer:
        """Import and call the user's factory."""
        return load_custom(model, device)


BACKEND = UserBackend()
