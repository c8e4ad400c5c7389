"""``transformers_kind`` on tiny checkpoints of each kind, and on config.json files with no weights."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.tiny_chat_models import build_tiny_llava
from support.tiny_models import (
    build_tiny_blip_vqa,
    build_tiny_multilabel_classifier,
    build_tiny_trocr,
)

from qa_gate.adapters.hf.config import KINDS, transformers_kind
from qa_gate.errors import AdapterError


def _config_only(folder: Path, body: dict) -> str:
    """A folder with a config.json and no weights: a kind read from it was read without loading."""
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(body), encoding="utf-8")
    return str(folder)


def test_saved_checkpoints_of_each_kind(transformers_files, tmp_path: Path) -> None:
    found = {
        "clip": transformers_kind(str(transformers_files.folder)),
        "blip_vqa": transformers_kind(str(build_tiny_blip_vqa(tmp_path / "blip"))),
        "classifier": transformers_kind(str(build_tiny_multilabel_classifier(tmp_path / "vit", ["a", "b"]))),
        "trocr": transformers_kind(str(build_tiny_trocr(tmp_path / "trocr"))),
        "llava": transformers_kind(str(build_tiny_llava(tmp_path / "llava"))),
    }
    assert found == {"clip": "dual_encoder", "blip_vqa": "generator", "classifier": "classifier",
                     "trocr": "generator", "llava": "chat"}
    assert set(found.values()) == set(KINDS)


@pytest.mark.parametrize(("architecture", "model_type", "kind"), [
    ("CLIPModel", "clip", "dual_encoder"),
    ("SiglipModel", "siglip", "dual_encoder"),
    ("BlipForConditionalGeneration", "blip", "generator"),
    ("Blip2ForConditionalGeneration", "blip-2", "generator"),
    ("ViTForImageClassification", "vit", "classifier"),
    ("VisionEncoderDecoderModel", "vision-encoder-decoder", "generator"),
])
def test_the_architecture_decides_without_weights(tmp_path: Path, architecture: str, model_type: str,
                                                  kind: str) -> None:
    checkpoint = _config_only(tmp_path / "ckpt", {"architectures": [architecture], "model_type": model_type})
    assert transformers_kind(checkpoint) == kind


@pytest.mark.parametrize(("architectures", "model_type", "kind"), [
    (None, "clip", "dual_encoder"),
    (["MyOwnClip"], "clip", "dual_encoder"),
    ([], "vision-encoder-decoder", "generator"),
])
def test_model_type_decides_when_no_architecture_is_known(tmp_path: Path, architectures, model_type: str,
                                                          kind: str) -> None:
    body = {"model_type": model_type} if architectures is None else {"architectures": architectures,
                                                                      "model_type": model_type}
    assert transformers_kind(_config_only(tmp_path / "ckpt", body)) == kind


def test_an_unknown_kind_names_the_checkpoint_and_the_architecture(tmp_path: Path) -> None:
    checkpoint = _config_only(tmp_path / "bert", {"architectures": ["BertForSequenceClassification"],
                                                  "model_type": "bert"})
    with pytest.raises(AdapterError, match=r"^model\.checkpoint: cannot tell what kind of model") as info:
        transformers_kind(checkpoint)
    message = str(info.value)
    assert f"'{checkpoint}'" in message and "BertForSequenceClassification" in message
    assert "expected an image-text dual encoder" in message


def test_an_unreadable_checkpoint_names_the_key(tmp_path: Path) -> None:
    with pytest.raises(AdapterError, match=r"^model\.checkpoint: transformers could not read") as info:
        transformers_kind(str(tmp_path))
    assert f"'{tmp_path}'" in str(info.value)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(AdapterError, match=r"^model\.checkpoint: transformers could not read"):
        transformers_kind(str(broken))
