"""The perturbation transforms: each kind against PIL or torchvision called directly, seeded kinds deterministic."""

from __future__ import annotations

import io
import random
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFilter

from qa_gate.config.model import Perturbation
from qa_gate.golden.manifest import Sample
from qa_gate.scoring.perturbations import image_transform, perturbed_sample, sample_seed, text_transform


def _image(seed: int = 0, size: tuple[int, int] = (40, 30)) -> Image.Image:
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    return Image.fromarray(pixels, "RGB")


def _apply(kind: str, value: object, image: Image.Image, sample_id: str = "s1") -> Image.Image:
    return image_transform(Perturbation("p", kind, value))(image, sample_id)


def _same(a: Image.Image, b: Image.Image) -> bool:
    return a.size == b.size and a.tobytes() == b.tobytes()


def test_jpeg_is_a_pil_reencode_at_the_quality() -> None:
    image = _image()
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=30)
    reference = Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")
    out = _apply("jpeg", 30, image)
    assert _same(out, reference)
    assert not _same(out, image)


def test_blur_is_pil_gaussian_blur_with_sigma_as_radius() -> None:
    image = _image()
    assert _same(_apply("gaussian_blur", 2.0, image), image.filter(ImageFilter.GaussianBlur(radius=2.0)))


@pytest.mark.parametrize(("kind", "value", "reference"), [
    ("center_crop", 0.5, lambda f, im: f.center_crop(im, [15, 20])),
    ("rotate", 30.0, lambda f, im: f.rotate(im, 30.0)),
    ("brightness", 0.5, lambda f, im: f.adjust_brightness(im, 0.5)),
])
def test_geometric_and_colour_kinds_are_torchvision(kind: str, value: float, reference: object) -> None:
    from torchvision.transforms import functional

    image = _image()
    expected = reference(functional, image)  # type: ignore[operator]
    out = _apply(kind, value, image)
    assert _same(out, expected)
    assert not _same(out, image)


def test_downscale_loses_detail_and_keeps_the_size() -> None:
    from torchvision.transforms import InterpolationMode, functional

    image = _image()
    small = functional.resize(image, [15, 20], interpolation=InterpolationMode.BILINEAR, antialias=True)
    back = functional.resize(small, [30, 40], interpolation=InterpolationMode.BILINEAR, antialias=True)
    out = _apply("downscale", 0.5, image)
    assert out.size == image.size
    assert _same(out, back)


def test_noise_adds_seeded_gaussian_noise_on_the_unit_scale() -> None:
    import torch

    image = _image()
    perturbation = Perturbation("noise", "gaussian_noise", 0.05, seed=3)
    out = image_transform(perturbation)(image, "s1")
    generator = torch.Generator().manual_seed(sample_seed(perturbation, "s1") % (2 ** 63))
    noise = torch.randn((3, 30, 40), generator=generator).numpy() * 0.05
    expected = np.clip(np.asarray(image, dtype=np.float32).transpose(2, 0, 1) / 255.0 + noise, 0, 1)
    got = np.asarray(out, dtype=np.float32).transpose(2, 0, 1) / 255.0
    assert np.abs(got - expected).max() <= 0.5 / 255 + 1e-6  # rounded to 8 bits
    assert np.std(got - np.asarray(image, dtype=np.float32).transpose(2, 0, 1) / 255.0) == pytest.approx(0.05,
                                                                                                           rel=0.1)


def test_noise_depends_on_the_sample_name_and_seed_only() -> None:
    image = _image()
    apply = image_transform(Perturbation("noise", "gaussian_noise", 0.1))
    ids = [f"s{i}" for i in range(8)]
    once = [apply(image, i).tobytes() for i in ids]
    with ThreadPoolExecutor(4) as pool:  # other threads, reverse order: the same bytes
        again = list(pool.map(lambda i: apply(image, i).tobytes(), reversed(ids)))[::-1]
    assert once == again
    assert len(set(once)) == len(ids)  # every sample its own noise
    other_seed = image_transform(Perturbation("noise", "gaussian_noise", 0.1, seed=1))(image, "s0").tobytes()
    other_name = image_transform(Perturbation("noise2", "gaussian_noise", 0.1))(image, "s0").tobytes()
    assert other_seed != once[0] and other_name != once[0]


def test_text_kinds_by_hand() -> None:
    assert text_transform(Perturbation("c", "text_case", "upper"))("a Red square.", "s", 0) == "A RED SQUARE."
    assert text_transform(Perturbation("c", "text_case", "lower"))("a Red square.", "s", 0) == "a red square."
    strip = text_transform(Perturbation("p", "text_punctuation", "strip"))
    assert strip("a red, square — isn't it?", "s", 0) == "a red square isnt it"


def _typos_by_hand(text: str, rate: float, rng: random.Random) -> str:
    out = []
    for word in text.split(" "):
        if len(word) >= 2 and rng.random() < rate:
            at = rng.randrange(len(word) - 1)
            if rng.random() < 0.5:
                word = word[:at] + word[at + 1] + word[at] + word[at + 2:]
            else:
                word = word[:at] + word[at + 1:]
        out.append(word)
    return " ".join(out)


def test_typos_are_seeded_swaps_or_drops() -> None:
    perturbation = Perturbation("typo", "text_typo", 0.5, seed=7)
    text = "a small red square on a white background drawn by hand"
    out = text_transform(perturbation)(text, "s1", 2)
    rng = random.Random(sample_seed(perturbation, "s1", 2))
    assert out == _typos_by_hand(text, 0.5, rng)
    assert out != text
    assert out == text_transform(perturbation)(text, "s1", 2)  # deterministic
    changed = [(a, b) for a, b in zip(text.split(), out.split()) if a != b]
    for a, b in changed:  # one swap (same letters) or one drop
        assert sorted(a) == sorted(b) or (len(b) == len(a) - 1 and any(a[:i] + a[i + 1:] == b for i in range(len(a))))


def test_a_text_perturbation_changes_the_caption_and_references_only() -> None:
    sample = Sample("s", "images/s.png", Path("/x/images/s.png"), caption="A red square",
                    references=("Red square", "A square"), question="What?")
    out = perturbed_sample(sample, Perturbation("c", "text_case", "lower"))
    assert (out.caption, out.references, out.question, out.image_path) == (
        "a red square", ("red square", "a square"), "What?", sample.image_path)
