"""``prepare_image`` (``PreparesImages``) of each built-in backend: the call on prepared items gives what
the call on the images gives, exactly, with the real tiny models."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from support.tiny_models import build_tiny_blip_captioner, build_tiny_multilabel_classifier

from qa_gate.adapters.hf.captioner import load_transformers_captioner
from qa_gate.adapters.hf.classifier import load_transformers_classifier
from qa_gate.adapters.hf.dual_encoder import load_transformers
from qa_gate.adapters.open_clip import load_open_clip
from qa_gate.adapters.protocols import PreparesImages
from qa_gate.config.model import ModelConfig

CPU = torch.device("cpu")


def _config(checkpoint: Path, adapter: str = "transformers") -> ModelConfig:
    return ModelConfig(adapter, str(checkpoint), device="cpu")


def _prepared(model: object, images: list) -> list[torch.Tensor]:
    assert isinstance(model, PreparesImages)
    items = [model.prepare_image(image) for image in images]
    assert all(isinstance(x, torch.Tensor) and x.ndim == 3 for x in items)
    return items


def test_open_clip_embeddings_of_prepared_images_equal_those_of_the_images(open_clip_files, images) -> None:
    encoder, _ = load_open_clip(_config(open_clip_files.folder, "open_clip"), CPU)
    with torch.inference_mode():
        plain, prepared = encoder.encode_images(images), encoder.encode_images(_prepared(encoder, images))
        mixed = encoder.encode_images([images[0], *_prepared(encoder, images[1:])])
    assert torch.equal(plain, prepared) and torch.equal(plain, mixed)
    assert not torch.allclose(plain[0], plain[1])


def test_transformers_embeddings_of_prepared_images_equal_those_of_the_images(transformers_files, images) -> None:
    encoder, _ = load_transformers(_config(transformers_files.folder), CPU)
    with torch.inference_mode():
        plain, prepared = encoder.encode_images(images), encoder.encode_images(_prepared(encoder, images))
    torch.testing.assert_close(prepared, plain, rtol=0, atol=1e-6)
    assert not torch.allclose(plain[0], plain[1])


def test_captions_of_prepared_images_equal_those_of_the_images(tmp_path: Path, images) -> None:
    captioner, _ = load_transformers_captioner(_config(build_tiny_blip_captioner(tmp_path / "blip")), CPU)
    with torch.inference_mode():
        plain, prepared = captioner.generate(images), captioner.generate(_prepared(captioner, images))
    assert prepared == plain
    assert len(plain) == len(images) and all(isinstance(t, str) for t in plain)


def test_label_scores_of_prepared_images_equal_those_of_the_images(tmp_path: Path, images) -> None:
    folder = build_tiny_multilabel_classifier(tmp_path / "vit", ["cat", "dog", "car"])
    classifier, _ = load_transformers_classifier(_config(folder), CPU)
    with torch.inference_mode():
        plain = classifier.label_scores(images)
        prepared = classifier.label_scores(_prepared(classifier, images))
    torch.testing.assert_close(prepared, plain, rtol=0, atol=1e-6)
    assert plain.shape == (len(images), 3)


@pytest.mark.parametrize("size", [(40, 32), (300, 120)])
def test_one_prepared_row_equals_its_row_of_the_batch(transformers_files, images, size) -> None:
    from PIL import Image

    encoder, _ = load_transformers(_config(transformers_files.folder), CPU)
    odd = images[0].resize(size)
    batch = transformers_files.processor(images=[*images, odd], return_tensors="pt")["pixel_values"]
    assert torch.equal(encoder.prepare_image(odd), batch[-1])
    assert isinstance(odd, Image.Image)


def test_answers_to_prepared_images_equal_those_to_the_images(tmp_path: Path, images) -> None:
    from support.tiny_models import build_tiny_blip_vqa

    from qa_gate.adapters.hf.answerer import PreparingAnswerer, load_transformers_answerer

    answerer, _ = load_transformers_answerer(_config(build_tiny_blip_vqa(tmp_path / "vqa")), CPU)
    assert isinstance(answerer, PreparingAnswerer)  # BLIP tokenizes a question the same with or without its image
    questions = ["what colour?", "is it a dog or a cat?", "how many?"]
    with torch.inference_mode():
        plain = answerer.answer(images, questions)
        prepared = answerer.answer(_prepared(answerer, images), questions)
        inputs = answerer._inputs(_prepared(answerer, images), questions)
    assert prepared == plain and all(isinstance(t, str) for t in plain)
    want = answerer.processor(images=images, text=questions, padding=True, return_tensors="pt")
    assert set(inputs) == set(want) and all(torch.equal(inputs[k], want[k]) for k in want)
