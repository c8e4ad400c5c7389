"""The perturbation transforms: what ``suites.X.perturbations`` (``qa_gate.config.perturbations``) does to an input.

Image kinds run PIL and torchvision on the decoded RGB image, in the loader's worker, right after
it is opened: ``jpeg`` re-encodes it in memory (``PIL.Image.save``, ``quality``), ``gaussian_blur``
is ``ImageFilter.GaussianBlur(sigma)``, ``center_crop`` keeps the centre ``fraction`` of each side
(``torchvision.transforms.functional.center_crop``), ``rotate`` turns it by ``degrees``
counter-clockwise about its centre, same size, black corners (``functional.rotate``), ``brightness``
is ``functional.adjust_brightness``, ``downscale`` resizes by ``factor`` (bilinear, antialiased) and
back to the original size, ``gaussian_noise`` adds N(0, std) per pixel and channel on the [0, 1]
scale, clipped and rounded to 8 bits.

Text kinds change the sample's golden caption and references: ``text_case`` lower- or upper-cases
them, ``text_punctuation`` strips punctuation (Unicode category P) and collapses spaces, ``text_typo``
gives each word of two letters or more, with probability ``rate``, one typo: two neighbouring
characters swapped or one character dropped, with even odds.

The random kinds draw from a generator seeded by ``(seed, perturbation name, sample id)`` (and the
text's index in the sample), so a sample's perturbed input is the same whatever the batch size,
the worker count or the order samples load in.
"""

from __future__ import annotations

import hashlib
import io
import random
import unicodedata
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

from qa_gate.config.model import Perturbation

if TYPE_CHECKING:
    import torch
    from PIL import Image

    from qa_gate.golden.suite import Sample

ImageTransform = Callable[["Image.Image", str], "Image.Image"]
"""``(image, sample id) -> image``."""


def sample_seed(perturbation: Perturbation, sample_id: str, *parts: object) -> int:
    """A 64-bit seed from the gate seed, the perturbation's name, the sample's id (and ``parts``)."""
    blob = "\x00".join(map(str, (perturbation.seed, perturbation.name, sample_id, *parts))).encode("utf-8")
    return int.from_bytes(hashlib.sha256(blob).digest()[:8], "big")


def _jpeg(image: Image.Image, quality: float) -> Image.Image:
    from PIL import Image

    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=int(quality))
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        return decoded.convert("RGB")


def _blur(image: Image.Image, sigma: float) -> Image.Image:
    from PIL import ImageFilter

    return image.filter(ImageFilter.GaussianBlur(radius=sigma))


def _crop(image: Image.Image, fraction: float) -> Image.Image:
    from torchvision.transforms import functional

    width, height = image.size
    size = [max(1, round(height * fraction)), max(1, round(width * fraction))]
    out: Image.Image = functional.center_crop(image, size)
    return out


def _rotate(image: Image.Image, degrees: float) -> Image.Image:
    from torchvision.transforms import functional

    out: Image.Image = functional.rotate(image, float(degrees))
    return out


def _brightness(image: Image.Image, factor: float) -> Image.Image:
    from torchvision.transforms import functional

    out: Image.Image = functional.adjust_brightness(image, float(factor))
    return out


def _downscale(image: Image.Image, factor: float) -> Image.Image:
    from torchvision.transforms import InterpolationMode, functional

    width, height = image.size
    small = functional.resize(image, [max(1, round(height * factor)), max(1, round(width * factor))],
                              interpolation=InterpolationMode.BILINEAR, antialias=True)
    out: Image.Image = functional.resize(small, [height, width], interpolation=InterpolationMode.BILINEAR,
                                         antialias=True)
    return out


def noise_tensor(shape: tuple[int, ...], std: float, seed: int) -> torch.Tensor:
    """The noise added to a ``[C, H, W]`` image on the [0, 1] scale: N(0, std) from a generator seeded ``seed``."""
    import torch

    generator = torch.Generator().manual_seed(seed % (2 ** 63))
    return torch.randn(shape, generator=generator, dtype=torch.float32) * float(std)


def _noise(image: Image.Image, std: float, seed: int) -> Image.Image:
    import torch
    from torchvision.transforms import functional

    pixels = functional.pil_to_tensor(image.convert("RGB")).to(torch.float32) / 255.0
    noisy = (pixels + noise_tensor(tuple(pixels.shape), std, seed)).clamp(0.0, 1.0)
    out: Image.Image = functional.to_pil_image((noisy * 255.0).round().to(torch.uint8))
    return out


def image_transform(perturbation: Perturbation) -> ImageTransform:
    """The ``(image, sample id) -> image`` function of an image perturbation."""
    kind, value = perturbation.kind, perturbation.value
    simple: dict[str, Callable[[Image.Image, float], Image.Image]] = {
        "jpeg": _jpeg, "gaussian_blur": _blur, "center_crop": _crop, "rotate": _rotate,
        "brightness": _brightness, "downscale": _downscale,
    }
    if kind == "gaussian_noise":
        return lambda image, sample_id: _noise(image, value, sample_seed(perturbation, sample_id))
    if kind not in simple:
        raise ValueError(f"'{kind}' is no image perturbation")
    apply = simple[kind]
    return lambda image, sample_id: apply(image, value)


def _strip_punctuation(text: str) -> str:
    return " ".join("".join(c for c in text if not unicodedata.category(c).startswith("P")).split())


def typo(word: str, rng: random.Random) -> str:
    """``word`` with one typo: two neighbouring characters swapped or one dropped (``rng`` chooses)."""
    at = rng.randrange(len(word) - 1)
    if rng.random() < 0.5:
        return word[:at] + word[at + 1] + word[at] + word[at + 2:]
    return word[:at] + word[at + 1:]


def _typos(text: str, rate: float, rng: random.Random) -> str:
    words = text.split(" ")
    return " ".join(typo(w, rng) if len(w) >= 2 and rng.random() < rate else w for w in words)


def text_transform(perturbation: Perturbation) -> Callable[[str, str, int], str]:
    """The ``(text, sample id, index of the text in its sample) -> text`` function of a text perturbation."""
    kind, value = perturbation.kind, perturbation.value
    if kind == "text_case":
        return lambda text, _, __: text.lower() if value == "lower" else text.upper()
    if kind == "text_punctuation":
        return lambda text, _, __: _strip_punctuation(text)
    if kind == "text_typo":
        return lambda text, sample_id, index: _typos(
            text, float(value), random.Random(sample_seed(perturbation, sample_id, index)))
    raise ValueError(f"'{kind}' is no text perturbation")


def perturbed_sample(sample: Sample, perturbation: Perturbation) -> Sample:
    """``sample`` with a text perturbation applied to its caption (index 0) and references (1, 2, ...)."""
    apply = text_transform(perturbation)
    caption = None if sample.caption is None else apply(sample.caption, sample.id, 0)
    references = tuple(apply(r, sample.id, i) for i, r in enumerate(sample.references, start=1))
    return replace(sample, caption=caption, references=references)
