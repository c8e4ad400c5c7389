"""The transformers adapter against transformers itself, and the whole gate scored through it."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from qa_gate.adapters.load import load_encoder
from qa_gate.config.model import ModelConfig
from qa_gate.errors import AdapterError
from qa_gate.files import checkpoint_sha256
from qa_gate.golden.suite import write_hashes
from qa_gate.pipeline import prepare, score

CPU = torch.device("cpu")


def _config(checkpoint: Path | str, **fields: object) -> ModelConfig:
    return ModelConfig(adapter="transformers", checkpoint=str(checkpoint), device="cpu", **fields)


def _pooled(output: object) -> torch.Tensor:
    """transformers 5 returns an output object whose pooler_output is the projected embedding."""
    return output if isinstance(output, torch.Tensor) else output.pooler_output


def _direct(files, images: list[Image.Image], texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """Embeddings computed with the CLIPModel and CLIPProcessor the checkpoint was saved from."""
    with torch.no_grad():
        pixels = files.processor(images=images, return_tensors="pt")["pixel_values"]
        tokens = files.processor(text=texts, padding=True, return_tensors="pt")
        image_rows = _pooled(files.model.get_image_features(pixel_values=pixels))
        text_rows = _pooled(files.model.get_text_features(input_ids=tokens["input_ids"],
                                                          attention_mask=tokens["attention_mask"]))
    return image_rows, text_rows


def _assert_matches(encoder, files, images, texts) -> None:
    with torch.inference_mode():
        got = encoder.encode_images(images), encoder.encode_texts(texts)
    for rows, want in zip(got, _direct(files, images, texts)):
        assert isinstance(rows, torch.Tensor)
        assert rows.shape == want.shape == (3, 16)
        torch.testing.assert_close(rows, want, rtol=1e-5, atol=1e-6)
        assert not torch.allclose(want[0], want[1], atol=1e-3)  # different inputs, different rows


def test_embeddings_match_get_features(transformers_files, images, texts) -> None:
    encoder, info = load_encoder(_config(transformers_files.folder), CPU)

    _assert_matches(encoder, transformers_files, images, texts)
    assert info.adapter == "transformers"
    assert info.model_name == "transformers:CLIPModel"


def test_texts_are_embedded_independently_of_batch_padding(transformers_files, texts) -> None:
    """A text's row must not depend on the longer texts it was padded against."""
    encoder, _ = load_encoder(_config(transformers_files.folder), CPU)
    with torch.inference_mode():
        batch = encoder.encode_texts(texts)
        alone = torch.cat([encoder.encode_texts([text]) for text in texts])
    torch.testing.assert_close(batch, alone, rtol=1e-5, atol=1e-5)


def test_pickle_only_folder_is_refused(transformers_files) -> None:
    folder = transformers_files.pickle_folder
    with pytest.raises(AdapterError, match=r"^model\.checkpoint: ") as info:
        load_encoder(_config(folder), CPU)
    assert f"'{folder}'" in str(info.value)
    assert "allow_pickle" in str(info.value)


def test_pickle_only_folder_loads_when_allowed(transformers_files, images, texts) -> None:
    encoder, info = load_encoder(_config(transformers_files.pickle_folder, allow_pickle=True), CPU)
    _assert_matches(encoder, transformers_files, images, texts)
    assert info.model_name == "transformers:CLIPModel"


@pytest.mark.parametrize("content", ["empty", "readme", "open_clip"])
def test_folder_that_is_not_a_transformers_model(tmp_path: Path, content: str) -> None:
    folder = tmp_path / "not_a_model"
    folder.mkdir()
    if content == "readme":
        (folder / "README.md").write_text("weights coming soon\n", encoding="utf-8")
    elif content == "open_clip":
        (folder / "open_clip_config.json").write_text('{"model_cfg": {}}', encoding="utf-8")

    # what the checkpoint is comes from config.json, read before any weights
    expected = ("holds open_clip_config.json, not the config.json the transformers adapter reads"
                if content == "open_clip" else "transformers could not read a config\\.json ")
    with pytest.raises(AdapterError, match=rf"^model\.checkpoint: .*{expected}") as info:
        load_encoder(_config(folder), CPU)
    assert f"'{folder}'" in str(info.value)
    assert "\n" not in str(info.value)


def test_model_without_its_processor_is_refused(transformers_files, tmp_path: Path) -> None:
    folder = tmp_path / "weights_only"
    folder.mkdir()
    for name in ("config.json", "model.safetensors"):
        shutil.copy(transformers_files.folder / name, folder)

    with pytest.raises(AdapterError, match=r"^model\.checkpoint: transformers could not load ") as info:
        load_encoder(_config(folder), CPU)
    assert f"'{folder}'" in str(info.value)


# ---------------------------------------------------------------- the runner end to end

COLOURS = {"red": (220, 30, 30), "blue": (30, 30, 220), "green": (30, 200, 30), "grey": (128, 128, 128)}
CAPTIONS = ("a red circle", "circle!", "the red square is big")


def _rgb(path: Path) -> Image.Image:
    with Image.open(path) as image:
        return image.convert("RGB")


def _golden_suite(folder: Path) -> list[tuple[str, str]]:
    """Every (noisy colour image, caption) pair as a sample, hashed as ``mm-gate golden hash`` would.

    Returns the samples' (image path, caption) in manifest order.
    """
    rng = np.random.default_rng(1)
    (folder / "images").mkdir(parents=True)
    lines = ["version: 1", "description: transformers end to end", "samples:"]
    samples = []
    for colour, rgb in COLOURS.items():
        pixels = np.clip(np.array(rgb) + rng.normal(0, 40, (36, 48, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(pixels, "RGB").save(folder / "images" / f"{colour}.png")
        for k, caption in enumerate(CAPTIONS):
            lines += [f"  - id: {colour}-{k}", f"    image: images/{colour}.png", f"    caption: '{caption}'"]
            samples.append((f"images/{colour}.png", caption))
    (folder / "manifest.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    write_hashes(folder)
    return samples


def test_runner_scores_clipscore_through_transformers(transformers_files, tmp_path: Path) -> None:
    suite = tmp_path / "golden" / "tiny"
    samples = _golden_suite(suite)
    shutil.copytree(transformers_files.folder, tmp_path / "model")
    (tmp_path / "thresholds.yaml").write_text(
        "version: 1\n"
        "model:\n"
        "  adapter: transformers\n"
        "  checkpoint: model\n"
        "  device: cpu\n"
        "  dtype: float32\n"
        "  batch_size: 5\n"  # twelve samples: uneven batches
        "suites:\n"
        "  tiny:\n"
        "    path: golden/tiny\n"
        "    metrics:\n"
        "      clipscore:\n"
        "        min: 0.0\n",
        encoding="utf-8",
    )

    run = score(prepare(tmp_path / "thresholds.yaml"))

    images = [_rgb(suite / image) for image, _ in samples]
    prompts = ["A photo depicts " + caption for _, caption in samples]
    image_rows, text_rows = (rows.double().numpy() for rows in _direct(transformers_files, images, prompts))
    cosines = np.sum(image_rows * text_rows, axis=1) / (
        np.linalg.norm(image_rows, axis=1) * np.linalg.norm(text_rows, axis=1))
    expected = 2.5 * np.maximum(cosines, 0.0)
    assert (cosines < 0).any() and (cosines > 0).any()  # the per-sample clamp matters here

    result = run.suite("tiny").metrics["clipscore"]
    assert result.per_sample == pytest.approx(expected.tolist(), abs=1e-5)
    assert result.value == pytest.approx(expected.mean(), abs=1e-5)
    assert run.checkpoint.adapter == "transformers"
    assert run.checkpoint.checkpoint == "model"  # shown relative to thresholds.yaml
    assert run.checkpoint.sha256 == checkpoint_sha256(str(transformers_files.folder))  # the copy's content
    assert run.environment["device"] == "cpu"
