"""Never score a model that did not load: open_clip weights found, read and complete, or a clear refusal;
the recorded sha256 covers what was loaded."""

from __future__ import annotations

import hashlib
import logging
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from qa_gate.adapters.load import checkpoint_digest, load_encoder
from qa_gate.config.model import ModelConfig
from qa_gate.errors import AdapterError

CPU = torch.device("cpu")
WEIGHTS = "open_clip_model.safetensors"


def _config(checkpoint: Path | str, **fields: object) -> ModelConfig:
    return ModelConfig(adapter="open_clip", checkpoint=str(checkpoint), device="cpu", **fields)


def _copy(open_clip_files, tmp_path: Path, name: str = "ckpt") -> Path:
    return Path(shutil.copytree(open_clip_files.folder, tmp_path / name))


def _digest(folder: Path, names: list[str]) -> str:
    """The folder hash over only ``names``: sha256 of (relative path, file sha256) in path order."""
    outer = hashlib.sha256()
    for name in sorted(names):
        outer.update(name.encode())
        outer.update(hashlib.sha256((folder / name).read_bytes()).digest())
    return outer.hexdigest()


def _image_rows(encoder, images) -> torch.Tensor:
    with torch.inference_mode():
        return encoder.encode_images(images)


def test_a_folder_without_weights_is_refused(open_clip_files, tmp_path: Path) -> None:
    folder = _copy(open_clip_files, tmp_path)
    (folder / WEIGHTS).unlink()

    with pytest.raises(AdapterError) as info:
        load_encoder(_config(folder), CPU)
    assert str(info.value) == (
        f"model.checkpoint: folder '{folder}' has no weights file that open_clip loads (open_clip_model.safetensors, "
        "or one *.safetensors, *.bin or *.pth file); it holds only open_clip_config.json. Without weights the "
        "model would be initialised at random")


def test_weights_named_model_pt_are_refused_with_the_name_to_use(open_clip_files, tmp_path: Path) -> None:
    folder = _copy(open_clip_files, tmp_path)
    torch.save(load_file(folder / WEIGHTS), folder / "model.pt")
    (folder / WEIGHTS).unlink()

    with pytest.raises(AdapterError, match=r"^model\.checkpoint: folder .* has no weights file that open_clip "
                                           r"loads") as info:
        load_encoder(_config(folder), CPU)
    assert "it holds model.pt; rename 'model.pt' to open_clip_pytorch_model.bin" in str(info.value)


def test_the_renamed_weights_load_and_embed_like_the_original(open_clip_files, tmp_path: Path, images) -> None:
    folder = _copy(open_clip_files, tmp_path)
    torch.save(load_file(folder / WEIGHTS), folder / "open_clip_pytorch_model.bin")
    (folder / WEIGHTS).unlink()

    encoder, info = load_encoder(_config(folder), CPU)
    reference, _ = load_encoder(_config(open_clip_files.folder), CPU)

    torch.testing.assert_close(_image_rows(encoder, images), _image_rows(reference, images))
    assert info.sha256 == _digest(folder, ["open_clip_config.json", "open_clip_pytorch_model.bin"])


def test_the_only_weights_file_of_another_name_is_loaded(open_clip_files, tmp_path: Path, images) -> None:
    folder = _copy(open_clip_files, tmp_path)
    (folder / WEIGHTS).rename(folder / "epoch_3.safetensors")

    encoder, _ = load_encoder(_config(folder), CPU)
    reference, _ = load_encoder(_config(open_clip_files.folder), CPU)
    torch.testing.assert_close(_image_rows(encoder, images), _image_rows(reference, images))


def test_several_weights_files_and_no_preferred_name_are_refused(open_clip_files, tmp_path: Path) -> None:
    folder = _copy(open_clip_files, tmp_path)
    shutil.copy(folder / WEIGHTS, folder / "epoch_3.safetensors")
    (folder / WEIGHTS).rename(folder / "epoch_2.safetensors")

    with pytest.raises(AdapterError) as info:
        load_encoder(_config(folder), CPU)
    assert str(info.value) == (
        f"model.checkpoint: folder '{folder}' holds several weights files (epoch_2.safetensors, "
        "epoch_3.safetensors) and none named open_clip_model.safetensors; keep one, or name the one to load "
        "open_clip_model.safetensors")


def test_sha256_covers_the_weights_loaded_not_a_stale_file_beside_them(open_clip_files, tmp_path: Path) -> None:
    folder = _copy(open_clip_files, tmp_path)
    (folder / "model.pt").write_bytes(b"an old export")
    _, first = load_encoder(_config(folder), CPU)

    (folder / "model.pt").write_bytes(b"another old export")
    _, second = load_encoder(_config(folder), CPU)
    (folder / "open_clip_config.json").write_text(
        (folder / "open_clip_config.json").read_text(encoding="utf-8") + "\n", encoding="utf-8")
    _, third = load_encoder(_config(folder), CPU)

    assert first.sha256 == second.sha256 == _digest(open_clip_files.folder, ["open_clip_config.json", WEIGHTS])
    assert third.sha256 != first.sha256  # the config defines the model: it is hashed
    assert checkpoint_digest("open_clip", str(folder)) == third.sha256  # what a sign-off re-check computes


@pytest.mark.parametrize("removed", [("logit_scale",), ("visual.proj", "ln_final.weight", "logit_scale")])
def test_weights_missing_some_parameters_are_refused(open_clip_files, tmp_path: Path,
                                                      removed: tuple[str, ...]) -> None:
    folder = _copy(open_clip_files, tmp_path)
    state = load_file(folder / WEIGHTS)
    for key in removed:
        del state[key]
    save_file(state, folder / WEIGHTS)

    with pytest.raises(AdapterError) as info:
        load_encoder(_config(folder), CPU)
    assert str(info.value) == (
        f"model.checkpoint: the weights file '{folder / WEIGHTS}' lacks {len(removed)} of the model's "
        f"{len(state) + len(removed)} weights (first: '{sorted(removed)[0]}'), which would be random; expected "
        "every weight of the architecture its config describes")


def test_weights_the_model_has_no_place_for_are_refused(open_clip_files, tmp_path: Path) -> None:
    folder = _copy(open_clip_files, tmp_path)
    state = load_file(folder / WEIGHTS)
    state["head.extra.weight"] = torch.zeros(3)
    save_file(state, folder / WEIGHTS)

    with pytest.raises(AdapterError, match=r"holds 1 weights the model has no place for \(first: "
                                           r"'head\.extra\.weight'\)"):
        load_encoder(_config(folder), CPU)


def test_a_weights_file_missing_parameters_is_refused(open_clip_files, tmp_path: Path) -> None:
    state = dict(load_file(open_clip_files.folder / WEIGHTS))
    del state["positional_embedding"]
    weights = tmp_path / "partial.safetensors"
    save_file(state, weights)

    with pytest.raises(AdapterError, match=r"lacks 1 of the model's \d+ weights \(first: 'positional_embedding'\)"):
        load_encoder(_config(weights, model_name=str(open_clip_files.config_json)), CPU)


def test_a_full_load_logs_no_random_initialisation(open_clip_files, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO):
        load_encoder(_config(open_clip_files.folder), CPU)
    assert "initialized randomly" not in caplog.text


def test_a_truncated_safetensors_file_is_named(open_clip_files, tmp_path: Path) -> None:
    folder = _copy(open_clip_files, tmp_path)
    data = (folder / WEIGHTS).read_bytes()
    (folder / WEIGHTS).write_bytes(data[: len(data) // 2])

    with pytest.raises(AdapterError) as info:
        load_encoder(_config(folder), CPU)
    message = str(info.value)
    assert message.startswith(f"model.checkpoint: open_clip could not load the weights file '{folder / WEIGHTS}': "
                              "SafetensorError: ")
    assert "\n" not in message


def test_a_truncated_pt_file_is_named(open_clip_files, tmp_path: Path) -> None:
    weights = tmp_path / "weights.pt"
    data = open_clip_files.weights.read_bytes()
    weights.write_bytes(data[: len(data) // 3])

    with pytest.raises(AdapterError, match=rf"^model\.checkpoint: open_clip could not load the weights file "
                                           rf"'{weights}': \w+: "):
        load_encoder(_config(weights, model_name=str(open_clip_files.plain_config_json)), CPU)


def test_a_truncated_transformers_checkpoint_is_named(transformers_files, tmp_path: Path) -> None:
    folder = Path(shutil.copytree(transformers_files.folder, tmp_path / "hf"))
    data = (folder / "model.safetensors").read_bytes()
    (folder / "model.safetensors").write_bytes(data[: len(data) // 2])

    with pytest.raises(AdapterError) as info:
        load_encoder(ModelConfig(adapter="transformers", checkpoint=str(folder), device="cpu"), CPU)
    message = str(info.value)
    assert message.startswith(f"model.checkpoint: transformers could not load '{folder}' as AutoModel: ")
    assert "\n" not in message


# --- a checkpoint that is not there, and a config that cannot be read: named as such


def test_a_missing_checkpoint_path_is_said_not_to_exist(tmp_path: Path) -> None:
    missing = tmp_path / "checkpoints" / "nowhere"
    with pytest.raises(AdapterError) as info:
        load_encoder(_config(missing), CPU)
    assert str(info.value) == (
        f"model.checkpoint: no such folder: {missing}; expected an open_clip checkpoint folder (open_clip_config.json "
        "and weights), a weights file with model.model_name, hf-hub:org/repo, or a pretrained tag with "
        "model.model_name")


def test_a_missing_local_dir_is_said_not_to_exist(tmp_path: Path) -> None:
    with pytest.raises(AdapterError, match=r"^model\.checkpoint: no such folder: /.*nowhere; "):
        load_encoder(_config(f"local-dir:{tmp_path / 'nowhere'}"), CPU)


def test_a_missing_weights_file_with_an_architecture_is_neither_file_nor_tag(tmp_path: Path) -> None:
    missing = tmp_path / "epoch_9.pt"
    with pytest.raises(AdapterError) as info:
        load_encoder(_config(missing, model_name="ViT-B-32"), CPU)
    message = str(info.value)
    assert message.startswith(f"model.checkpoint: '{missing}' does not exist and is not a pretrained tag of "
                              "ViT-B-32; expected a weights file or a pretrained tag (its tags: openai, ")


def test_a_misspelt_tag_suggests_the_closest(tmp_path: Path) -> None:
    with pytest.raises(AdapterError, match=r"'opneai' does not exist and is not a pretrained tag of ViT-B-32 "
                                           r"\(did you mean 'openai'\?\)"):
        load_encoder(_config("opneai", model_name="ViT-B-32"), CPU)


@pytest.mark.parametrize(("content", "expected"), [
    ('{"model_cfg": {"embed_dim": 32, ', "is not readable JSON: "),
    ('{"embed_dim": 32}', "has no open_clip model config (model_cfg lacks embed_dim, vision_cfg, text_cfg)"),
    ('{"model_cfg": {"embed_dim": 32, "text_cfg": {}}}', "(model_cfg lacks vision_cfg)"),
])
def test_a_malformed_open_clip_config_is_named(open_clip_files, tmp_path: Path, content: str, expected: str) -> None:
    folder = _copy(open_clip_files, tmp_path)
    (folder / "open_clip_config.json").write_text(content, encoding="utf-8")

    with pytest.raises(AdapterError) as info:
        load_encoder(_config(folder), CPU)
    message = str(info.value)
    assert message.startswith(f"model.checkpoint: '{folder / 'open_clip_config.json'}' ")
    assert expected in message
