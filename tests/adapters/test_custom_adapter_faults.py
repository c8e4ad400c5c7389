"""A user adapter that fails while it is imported, built or asked what it serves: one line naming
``module:attr`` and the operation, never a traceback; a KeyboardInterrupt passes untouched."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from qa_gate.adapters.load import load_encoder, load_model
from qa_gate.adapters.protocols import Demand
from qa_gate.config.model import ModelConfig
from qa_gate.errors import AdapterError

CPU = torch.device("cpu")
MULTILABEL = (Demand(("f1_micro",), ("classifier", "encoder"), "a multilabel classifier or a dual encoder"),)

SOURCE = '''
import torch


class Encoder:
    def encode_images(self, images):
        return torch.zeros(len(images), 4)

    def encode_texts(self, texts):
        return torch.zeros(len(texts), 4)


def broken(model_config, device):
    raise ValueError("weights not found at /models/v3\\nsee the docs")


def interrupted(model_config, device):
    raise KeyboardInterrupt


class Classifier:
    def __init__(self, labels, settings):
        self._labels, self._settings = labels, settings

    @property
    def labels(self):
        if self._labels is None:
            raise RuntimeError("labels file missing")
        return self._labels

    @property
    def settings(self):
        return self._settings

    def label_scores(self, images):
        return torch.zeros(len(images), len(self.labels))


def no_labels(model_config, device):
    return Classifier(None, {})


def settings_list(model_config, device):
    return Classifier(["red"], ["threshold", 0.5])


def twice_red(model_config, device):
    return Classifier(["red", "blue", "red"], {})


def fine(model_config, device):
    return Classifier(["red", "blue"], {"head": "v2"})
'''


def _config(module: str, attr: str) -> ModelConfig:
    return ModelConfig(adapter=f"{module}:{attr}", checkpoint="mine", device="cpu")


def test_a_factory_that_raises_is_named_with_its_first_line(user_module: Callable[[str], str]) -> None:
    module = user_module(SOURCE)
    with pytest.raises(AdapterError) as info:
        load_encoder(_config(module, "broken"), CPU)
    assert str(info.value) == (f"model.adapter: '{module}:broken' raised ValueError in its factory "
                               "broken(model_config, device): weights not found at /models/v3")
    assert isinstance(info.value.__cause__, ValueError)  # kept for a debug traceback


def test_a_keyboard_interrupt_in_the_factory_passes_untouched(user_module: Callable[[str], str]) -> None:
    module = user_module(SOURCE)
    with pytest.raises(KeyboardInterrupt):
        load_encoder(_config(module, "interrupted"), CPU)


def test_a_module_that_raises_while_imported_is_named(user_module: Callable[[str], str]) -> None:
    module = user_module("raise RuntimeError('CUDA_VISIBLE_DEVICES is not set')\n")
    with pytest.raises(AdapterError) as info:
        load_encoder(_config(module, "make"), CPU)
    assert str(info.value) == (f"model.adapter: cannot import '{module}' for adapter '{module}:make': "
                               "RuntimeError: CUDA_VISIBLE_DEVICES is not set")


def test_a_property_that_raises_is_named(user_module: Callable[[str], str]) -> None:
    module = user_module(SOURCE)
    with pytest.raises(AdapterError) as info:
        load_model(_config(module, "no_labels"), CPU, MULTILABEL)
    assert str(info.value) == (f"model.adapter: '{module}:no_labels' raised RuntimeError in its 'labels' "
                               "attribute: labels file missing")


@pytest.mark.parametrize(("attr", "expected"), [
    ("settings_list", "has settings of type list; expected a mapping"),
    ("twice_red", "has labels ['red', 'blue', 'red']; expected a list of distinct label names"),
])
def test_malformed_properties_are_refused(user_module: Callable[[str], str], attr: str, expected: str) -> None:
    module = user_module(SOURCE)
    with pytest.raises(AdapterError, match=rf"^model\.adapter: '{module}:{attr}' ") as info:
        load_model(_config(module, attr), CPU, MULTILABEL)
    assert expected in str(info.value)


def test_a_well_formed_classifier_loads(user_module: Callable[[str], str]) -> None:
    module = user_module(SOURCE)
    loaded = load_model(_config(module, "fine"), CPU, MULTILABEL)
    assert loaded.classifier is not None and loaded.classifier.labels == ["red", "blue"]
    assert loaded.encoder is None
