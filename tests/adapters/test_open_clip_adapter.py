"""The open_clip adapter against open_clip itself: same embeddings, safe loading, clear errors."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import open_clip
import pytest
import torch
from open_clip.transform import PreprocessCfg, image_transform_v2
from safetensors.torch import load_file, save_file

from qa_gate.adapters.load import load_encoder
from qa_gate.config.model import ModelConfig
from qa_gate.errors import AdapterError

CPU = torch.device("cpu")


class TrainingNotes:
    """Arbitrary Python state saved beside the weights: loading it needs full unpickling."""

    def __init__(self, text: str) -> None:
        self.text = text


def _config(checkpoint: Path | str, **fields: object) -> ModelConfig:
    return ModelConfig(adapter="open_clip", checkpoint=str(checkpoint), device="cpu", **fields)


def _expected(files, images, texts, preprocess_cfg: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """What open_clip computes for ``files.model`` with the given preprocessing and its own tokenizer."""
    preprocess = image_transform_v2(PreprocessCfg(**preprocess_cfg), is_train=False)
    tokenizer = open_clip.SimpleTokenizer(context_length=files.config["model_cfg"]["text_cfg"]["context_length"])
    with torch.no_grad():
        image_rows = files.model.encode_image(torch.stack([preprocess(img) for img in images]))
        text_rows = files.model.encode_text(tokenizer(texts))
    return image_rows, text_rows


def _embed(encoder, images, texts) -> tuple[torch.Tensor, torch.Tensor]:
    with torch.inference_mode():
        return encoder.encode_images(images), encoder.encode_texts(texts)


def _assert_same(got: tuple[torch.Tensor, torch.Tensor], expected: tuple[torch.Tensor, torch.Tensor]) -> None:
    for rows, want in zip(got, expected):
        assert rows.shape == want.shape == (3, 32)
        torch.testing.assert_close(rows, want, rtol=1e-5, atol=1e-6)
        assert not torch.allclose(want[0], want[1], atol=1e-3)  # different inputs, different rows


def _folder_sha256(folder: Path) -> str:
    """The documented folder hash: sha256 over (relative posix path, file sha256) in path order."""
    outer = hashlib.sha256()
    for file in sorted(p for p in folder.rglob("*") if p.is_file()):
        outer.update(file.relative_to(folder).as_posix().encode())
        outer.update(hashlib.sha256(file.read_bytes()).digest())
    return outer.hexdigest()


def test_local_dir_checkpoint_embeds_like_open_clip(open_clip_files, images, texts) -> None:
    encoder, info = load_encoder(_config(open_clip_files.folder), CPU)

    expected = _expected(open_clip_files, images, texts, open_clip_files.config["preprocess_cfg"])
    _assert_same(_embed(encoder, images, texts), expected)
    assert info.adapter == "open_clip"
    assert info.checkpoint == str(open_clip_files.folder)
    assert info.model_name == "open_clip:local-dir:tiny_clip_dir"
    assert info.sha256 == _folder_sha256(open_clip_files.folder)


def test_local_dir_uses_the_folders_preprocessing(open_clip_files, images, texts) -> None:
    """mean/std 0.5 from open_clip_config.json, not open_clip's default (OpenAI) normalisation."""
    encoder, _ = load_encoder(_config(open_clip_files.folder), CPU)
    default_norm = _expected(open_clip_files, images, texts, {"size": 32})

    got_images, _ = _embed(encoder, images, texts)
    assert not torch.allclose(got_images, default_norm[0], atol=1e-3)


@pytest.mark.parametrize("config_name", ["config_json", "plain_config_json"])
def test_weights_file_with_model_config_json(open_clip_files, images, texts, config_name: str) -> None:
    config_json: Path = getattr(open_clip_files, config_name)
    encoder, info = load_encoder(_config(open_clip_files.weights, model_name=str(config_json)), CPU)

    # a wrapped config brings its preprocess_cfg; a plain model config gets open_clip's defaults
    preprocess_cfg = open_clip_files.config["preprocess_cfg"] if config_name == "config_json" else {"size": 32}
    _assert_same(_embed(encoder, images, texts), _expected(open_clip_files, images, texts, preprocess_cfg))
    assert info.model_name == f"open_clip:{config_json.stem}"
    assert info.sha256 == hashlib.sha256(open_clip_files.weights.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def pickled_checkpoint(open_clip_files, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A training checkpoint: weights under 'state_dict' plus a custom object only full pickle can load."""
    path = tmp_path_factory.mktemp("pickled") / "epoch_3.pt"
    torch.save({"state_dict": open_clip_files.model.state_dict(), "notes": TrainingNotes("epoch 3")}, path)
    return path


def test_pickle_needing_code_is_refused(open_clip_files, pickled_checkpoint: Path) -> None:
    model = _config(pickled_checkpoint, model_name=str(open_clip_files.plain_config_json))
    with pytest.raises(AdapterError) as info:
        load_encoder(model, CPU)

    message = str(info.value)
    assert f"'{pickled_checkpoint}'" in message
    assert "allow_pickle" in message
    assert "weights_only" in message


def test_pickle_loads_when_allowed(open_clip_files, pickled_checkpoint: Path, images, texts) -> None:
    model = _config(pickled_checkpoint, model_name=str(open_clip_files.plain_config_json), allow_pickle=True)
    encoder, _ = load_encoder(model, CPU)

    expected = _expected(open_clip_files, images, texts, {"size": 32})  # a plain config: default preprocessing
    _assert_same(_embed(encoder, images, texts), expected)


def test_folder_without_config_is_refused(open_clip_files, tmp_path: Path) -> None:
    folder = tmp_path / "weights_only"
    folder.mkdir()
    shutil.copy(open_clip_files.folder / "open_clip_model.safetensors", folder)

    with pytest.raises(AdapterError, match="open_clip_config.json") as info:
        load_encoder(_config(folder), CPU)
    assert str(folder) in str(info.value)


def test_file_without_model_name_is_refused(open_clip_files) -> None:
    with pytest.raises(AdapterError, match=r"^model\.model_name: ") as info:
        load_encoder(_config(open_clip_files.weights), CPU)
    assert str(open_clip_files.weights) in str(info.value)


def test_unknown_architecture_suggests_the_closest(open_clip_files) -> None:
    with pytest.raises(AdapterError, match=r"^model\.model_name: 'ViT-B-33' ") as info:
        load_encoder(_config(open_clip_files.weights, model_name="ViT-B-33"), CPU)
    assert "did you mean 'ViT-B-32'?" in str(info.value)
    assert len(str(info.value)) < 300  # not open_clip's list of every architecture


@pytest.mark.parametrize(("content", "expected"), [
    ('{"model_cfg": {"embed_dim": 32}}', "lacks vision_cfg, text_cfg"),
    ('{"embed_dim": 32, "vision_cfg": {}', "not readable JSON"),
])
def test_bad_model_config_json(open_clip_files, tmp_path: Path, content: str, expected: str) -> None:
    config_json = tmp_path / "broken.json"
    config_json.write_text(content, encoding="utf-8")

    with pytest.raises(AdapterError, match=r"^model\.model_name: ") as info:
        load_encoder(_config(open_clip_files.weights, model_name=str(config_json)), CPU)
    assert expected in str(info.value)
    assert str(config_json) in str(info.value)


def test_missing_model_config_json(open_clip_files, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.json"
    with pytest.raises(AdapterError, match="does not exist"):
        load_encoder(_config(open_clip_files.weights, model_name=str(missing)), CPU)


def test_weights_that_do_not_fit_the_architecture(open_clip_files, tmp_path: Path) -> None:
    folder = tmp_path / "reshaped"
    shutil.copytree(open_clip_files.folder, folder)
    weights = folder / "open_clip_model.safetensors"
    state = load_file(weights)
    state["text_projection"] = torch.zeros(32, 16)  # the architecture says 32 x 32
    save_file(state, weights)

    with pytest.raises(AdapterError, match=r"^model\.checkpoint: open_clip could not load the weights file ") as info:
        load_encoder(_config(folder), CPU)
    message = str(info.value)
    assert f"'{weights}'" in message
    assert "size mismatch for text_projection" in message
    assert "\n" not in message
