"""A checkpoint that is not where it is said to be fails at once, naming the folder, never trying the hub;
a folder written for the other backend names the adapter to use."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from qa_gate.adapters.load import load_encoder, open_checkpoint
from qa_gate.adapters.locations import looks_like_path, missing_location
from qa_gate.config.model import ModelConfig
from qa_gate.errors import AdapterError

CPU = torch.device("cpu")
DEMO_GOOD = Path(__file__).resolve().parents[2] / "qa_gate" / "demo" / "checkpoints" / "good"


@pytest.fixture
def no_hub(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every attempt to read a config through transformers (the hub included) is recorded and refused."""
    import transformers

    calls: list[str] = []

    def refuse(name: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(str(name))
        raise AssertionError(f"transformers was asked for {name!r}")

    monkeypatch.setattr(transformers.AutoConfig, "from_pretrained", refuse)
    return calls


def _transformers(checkpoint: str) -> ModelConfig:
    return ModelConfig(adapter="transformers", checkpoint=checkpoint, device="cpu")


def test_a_misspelled_local_checkpoint_is_no_such_folder_with_a_guess(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_hub: list[str]) -> None:
    (tmp_path / "tiny_clip").mkdir()
    monkeypatch.chdir(tmp_path)
    with pytest.raises(AdapterError) as info:
        open_checkpoint(_transformers("tiny_clip_nope"), CPU)
    assert str(info.value) == (
        f"model.checkpoint: no such folder: {tmp_path / 'tiny_clip_nope'} (did you mean 'tiny_clip'?); "
        "a folder of a similar name is here, so it was not looked up on the Hugging Face hub")
    assert no_hub == []


def test_a_path_like_value_is_never_a_hub_id_even_online(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_hub: list[str]) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    (tmp_path / "checkpoints").mkdir()
    monkeypatch.chdir(tmp_path)
    for given in ("./clip", "checkpoints/clip", "../elsewhere/clip", str(tmp_path / "abs" / "clip")):
        with pytest.raises(AdapterError) as info:
            open_checkpoint(_transformers(given), CPU)
        message = str(info.value)
        assert message.startswith(f"model.checkpoint: no such folder: {(tmp_path / given).resolve()}"), message
        assert "reads as a path, so it was not looked up on the Hugging Face hub" in message
        assert "\n" not in message
    assert no_hub == []


def test_offline_any_value_missing_here_and_from_the_cache_fails_at_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_hub: list[str]) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(AdapterError) as info:
        open_checkpoint(_transformers("some-org/some-clip"), CPU)
    assert str(info.value) == (f"model.checkpoint: no such folder: {tmp_path / 'some-org' / 'some-clip'}; "
                               "HF_HUB_OFFLINE is set, so it was not looked up on the Hugging Face hub")
    assert no_hub == []


def test_online_a_hub_id_with_nothing_alike_here_is_left_to_the_hub(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.chdir(tmp_path)
    assert missing_location("openai/clip-vit-base-patch32") is None
    assert missing_location("bert-base-uncased") is None
    assert not looks_like_path("openai/clip-vit-base-patch32")
    assert looks_like_path("a/b/c") and looks_like_path("~/clip") and looks_like_path("clip/")


def test_the_transformers_adapter_on_an_open_clip_folder_names_open_clip(no_hub: list[str]) -> None:
    with pytest.raises(AdapterError) as info:
        open_checkpoint(_transformers(str(DEMO_GOOD)), CPU)
    assert str(info.value) == (
        f"model.checkpoint: '{DEMO_GOOD}' holds open_clip_config.json, not the config.json the transformers "
        "adapter reads: it is a checkpoint for the open_clip adapter; use adapter: open_clip "
        "(model.adapter, or --adapter / --mm-adapter)")
    assert no_hub == []


def test_the_open_clip_adapter_on_a_transformers_folder_names_transformers(
        transformers_files: Any) -> None:
    folder = transformers_files.folder
    with pytest.raises(AdapterError) as info:
        load_encoder(ModelConfig(adapter="open_clip", checkpoint=str(folder), device="cpu"), CPU)
    assert str(info.value) == (
        f"model.checkpoint: '{folder}' holds config.json, not the open_clip_config.json the open_clip adapter reads: "
        "it is a checkpoint for the transformers adapter; use adapter: transformers "
        "(model.adapter, or --adapter / --mm-adapter)")


def test_a_misspelled_open_clip_folder_gets_a_guess(open_clip_files: Any) -> None:
    folder = open_clip_files.folder
    typo = folder.with_name(folder.name + "x")
    with pytest.raises(AdapterError) as info:
        load_encoder(ModelConfig(adapter="open_clip", checkpoint=str(typo), device="cpu"), CPU)
    assert str(info.value).startswith(f"model.checkpoint: no such folder: {typo} (did you mean '{folder.name}'?); "
                                      "expected an open_clip checkpoint folder")
