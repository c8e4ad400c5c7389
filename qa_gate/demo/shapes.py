"""Synthetic coloured shapes: the demo golden suite and the demo training data.

Every image is one coloured shape (circle, square, triangle, cross) on a plain grey
background, drawn supersampled and box-filtered down so edges are smooth. Each sample
draws from its own ``random.Random`` seeded by ``(seed, colour, shape, index)``, so the
same seed always gives the same pixels, and PNGs are written without metadata, so the
same pixels always give the same bytes.
"""

from __future__ import annotations

import math
import random
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "green": (40, 170, 60),
    "blue": (40, 80, 220),
    "yellow": (235, 210, 40),
    "purple": (140, 60, 190),
}
SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "cross")

SUITE_DESCRIPTION = "Synthetic coloured shapes (qa_gate demo). Rebuild with python -m qa_gate.demo build."


@dataclass(frozen=True)
class RenderSettings:
    """How shapes are drawn: output size, supersampling and the ranges samples vary over."""

    size: int = 64
    supersample: int = 4
    min_radius: float = 0.20  # half-extent of the shape, as a fraction of the canvas
    max_radius: float = 0.36
    margin: float = 0.04
    max_rotation: float = 20.0  # degrees, for the shapes that have corners
    colour_jitter: int = 18  # per channel, +/-
    min_background: int = 20  # grey level of the plain background
    max_background: int = 235


@dataclass(frozen=True)
class ShapeSample:
    """One rendered image with what it shows."""

    id: str
    colour: str
    shape: str
    image: Image.Image


def caption(colour: str, shape: str) -> str:
    """The suite's caption for one colour and shape: ``a <colour> <shape>``."""
    return f"a {colour} {shape}"


def references(colour: str, shape: str) -> tuple[str, ...]:
    """Paraphrases of the caption, used as RefCLIPScore references."""
    return (f"a {shape} that is {colour}", f"a {colour} {shape} on a plain background")


def combos() -> list[tuple[str, str]]:
    """Every (colour, shape) pair, colours outermost, in a fixed order."""
    return [(colour, shape) for colour in COLOURS for shape in SHAPES]


def _polygon(shape: str, cx: float, cy: float, r: float, angle: float) -> list[tuple[float, float]]:
    """Corners of a square, triangle or cross of half-extent ``r``, rotated by ``angle`` radians."""
    if shape == "square":
        s = r / math.sqrt(2.0) * 1.15
        points = [(-s, -s), (s, -s), (s, s), (-s, s)]
    elif shape == "triangle":
        points = [(r * math.cos(a), r * math.sin(a)) for a in (-math.pi / 2, math.pi / 6, 5 * math.pi / 6)]
    elif shape == "cross":
        t = 0.36 * r
        points = [(-t, -r), (t, -r), (t, -t), (r, -t), (r, t), (t, t),
                  (t, r), (-t, r), (-t, t), (-r, t), (-r, -t), (-t, -t)]
    else:
        raise ValueError(f"unknown shape {shape!r}; expected one of {', '.join(SHAPES)}")
    cos, sin = math.cos(angle), math.sin(angle)
    return [(cx + x * cos - y * sin, cy + x * sin + y * cos) for x, y in points]


def draw_shape(colour: str, shape: str, rng: random.Random, settings: RenderSettings = RenderSettings()) -> Image.Image:
    """Draw one shape of one colour, with position, size, rotation and shades drawn from ``rng``."""
    canvas = settings.size * settings.supersample
    grey = rng.randint(settings.min_background, settings.max_background)
    fill = tuple(min(255, max(0, c + rng.randint(-settings.colour_jitter, settings.colour_jitter)))
                 for c in COLOURS[colour])
    r = rng.uniform(settings.min_radius, settings.max_radius) * canvas
    low, high = r + settings.margin * canvas, canvas - r - settings.margin * canvas
    cx, cy = rng.uniform(low, high), rng.uniform(low, high)
    angle = math.radians(rng.uniform(-settings.max_rotation, settings.max_rotation))

    image = Image.new("RGB", (canvas, canvas), (grey, grey, grey))
    draw = ImageDraw.Draw(image)
    if shape == "circle":
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=fill)
    else:
        draw.polygon(_polygon(shape, cx, cy, r, angle), fill=fill)
    return image.resize((settings.size, settings.size), Image.Resampling.BOX)


def generate_samples(seed: int, per_combo: int, settings: RenderSettings = RenderSettings()) -> Iterator[ShapeSample]:
    """Yield ``per_combo`` samples of every (colour, shape) pair, deterministically from ``seed``."""
    for colour, shape in combos():
        for index in range(per_combo):
            rng = random.Random(f"qa_gate.demo/{seed}/{colour}/{shape}/{index}")
            yield ShapeSample(f"{colour}-{shape}-{index:03d}", colour, shape, draw_shape(colour, shape, rng, settings))


def _manifest(samples: list[ShapeSample]) -> str:
    """The suite manifest as YAML text (all values are plain words, so no quoting is needed)."""
    lines = ["version: 1", f"description: {SUITE_DESCRIPTION}", "samples:"]
    for sample in samples:
        lines += [
            f"  - id: {sample.id}",
            f"    image: images/{sample.id}.png",
            f"    caption: {caption(sample.colour, sample.shape)}",
            f"    references: [{', '.join(references(sample.colour, sample.shape))}]",
            f"    tags: {{colour: {sample.colour}, shape: {sample.shape}}}",
        ]
    return "\n".join(lines) + "\n"


def render_suite(out: Path, seed: int, per_combo: int, settings: RenderSettings = RenderSettings()) -> Path:
    """Render the golden suite into ``out`` (deleted first) and return ``out``.

    Writes ``images/<id>.png`` for every sample and ``manifest.yaml``; the caller
    writes ``SHA256SUMS`` (see :func:`qa_gate.golden.write_hashes`).
    """
    if out.exists():
        shutil.rmtree(out)
    (out / "images").mkdir(parents=True)
    samples = list(generate_samples(seed, per_combo, settings))
    for sample in samples:
        # No pnginfo and default compression: identical pixels give identical bytes.
        sample.image.save(out / "images" / f"{sample.id}.png", format="PNG")
    (out / "manifest.yaml").write_text(_manifest(samples), encoding="utf-8")
    return out
