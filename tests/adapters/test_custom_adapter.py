"""A user's own adapter, ``package.module:attr``: imported, called with the config, checked."""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image

from qa_gate.adapters.load import load_encoder
from qa_gate.config.model import ModelConfig
from qa_gate.errors import AdapterError

CPU = torch.device("cpu")

ENCODER_SOURCE = '''
import numpy as np
import torch


class MeanColourEncoder:
    """Images -> mean RGB; texts -> length and vowel count. Remembers how it was made."""

    def __init__(self, model_config, device):
        self.model_config, self.device = model_config, device

    def encode_images(self, images):
        return torch.from_numpy(np.stack([np.asarray(img, dtype=np.float32).mean(axis=(0, 1)) for img in images]))

    def encode_texts(self, texts):
        return torch.tensor([[float(len(t)), float(sum(ch in "aeiou" for ch in t)), 1.0] for t in texts])


def make(model_config, device):
    return MeanColourEncoder(model_config, device)


class OnlyImages:
    def encode_images(self, images):
        return torch.zeros(len(images), 3)


def half_made(model_config, device):
    return OnlyImages()


not_callable = 42
'''

_names = itertools.count()


def _config(adapter: str, checkpoint: str = "my-model-v3") -> ModelConfig:
    return ModelConfig(adapter=adapter, checkpoint=checkpoint, device="cpu", batch_size=7)


def test_factory_builds_the_encoder(user_module) -> None:
    module = user_module(ENCODER_SOURCE)
    config = _config(f"{module}:make")

    encoder, info = load_encoder(config, CPU)

    assert type(encoder).__name__ == "MeanColourEncoder"
    assert type(encoder).__module__ == module
    assert encoder.model_config is config
    assert encoder.device == CPU
    red = Image.new("RGB", (4, 2), (200, 10, 0))
    torch.testing.assert_close(encoder.encode_images([red]), torch.tensor([[200.0, 10.0, 0.0]]))
    torch.testing.assert_close(encoder.encode_texts(["a cat"]), torch.tensor([[5.0, 2.0, 1.0]]))
    assert info.adapter == f"{module}:make"
    assert info.model_name == f"custom:{module}:make"
    assert info.checkpoint == "my-model-v3"
    assert info.sha256 == "unhashed:my-model-v3"  # a name, not a file: recorded by name


def test_checkpoint_file_of_a_custom_adapter_is_hashed(user_module, tmp_path: Path) -> None:
    weights = tmp_path / "weights.bin"
    weights.write_bytes(b"\x00\x01\x02")
    module = user_module(ENCODER_SOURCE)

    _, info = load_encoder(_config(f"{module}:make", str(weights)), CPU)

    assert info.sha256 == "ae4b3280e56e2faf83f414a6e3dabe9d5fbe18976544c05fed121accb85b53fc"  # sha256sum


def test_module_beside_the_current_directory_is_importable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A module next to thresholds.yaml works without installing it (the gate runs from that folder)."""
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", ".", str(tmp_path))])
    monkeypatch.chdir(tmp_path)
    name = f"qa_gate_user_adapter_cwd_{next(_names)}"
    (tmp_path / f"{name}.py").write_text(ENCODER_SOURCE, encoding="utf-8")
    try:
        encoder, _ = load_encoder(_config(f"{name}:make"), CPU)
    finally:
        sys.modules.pop(name, None)
    assert type(encoder).__name__ == "MeanColourEncoder"


@pytest.mark.parametrize("returned", ["object()", "None", "half_made(model_config, device)"])
def test_factory_returning_a_wrong_object(user_module, returned: str) -> None:
    module = user_module(ENCODER_SOURCE + f"\n\ndef wrong(model_config, device):\n    return {returned}\n")

    with pytest.raises(AdapterError, match=r"^model\.adapter: ") as info:
        load_encoder(_config(f"{module}:wrong"), CPU)
    message = str(info.value)
    assert f"'{module}:wrong'" in message
    assert "encode_images(images) and encode_texts(texts)" in message


def test_missing_module(user_module) -> None:
    with pytest.raises(AdapterError, match=r"^model\.adapter: cannot import 'no_such_qa_gate_module_xyz'"):
        load_encoder(_config("no_such_qa_gate_module_xyz:make"), CPU)


def test_module_whose_import_fails_names_the_cause(user_module) -> None:
    module = user_module("import no_such_dependency_of_the_adapter_xyz\n")

    with pytest.raises(AdapterError, match=f"cannot import '{module}'") as info:
        load_encoder(_config(f"{module}:make"), CPU)
    assert "no_such_dependency_of_the_adapter_xyz" in str(info.value)


@pytest.mark.parametrize("attr", ["nowhere", "not_callable"])
def test_missing_or_uncallable_factory(user_module, attr: str) -> None:
    module = user_module(ENCODER_SOURCE)

    with pytest.raises(AdapterError, match=rf"^model\.adapter: '{module}' has no callable '{attr}'"):
        load_encoder(_config(f"{module}:{attr}"), CPU)
