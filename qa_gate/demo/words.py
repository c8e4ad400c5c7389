"""The demo's OCR golden suite: short dark text on plain light backgrounds (``golden/words``).

Texts are the colour and shape words, two-word phrases ("red circle", some title-cased),
numbers ("42") and counts ("3 squares"), each rendered once with Pillow's built-in font
(``ImageFont.load_default(size=...)``, FreeType) with a little jitter in size, position
and grey levels drawn from the sample's own seeded ``random.Random``. Each sample's
``text`` is exactly the string drawn.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from qa_gate.demo.shapes import COLOURS, SHAPES, combos
from qa_gate.demo.suite_writer import GoldenEntry, write_suite

DESCRIPTION = ("Short rendered words, phrases and numbers with exact transcriptions, for OCR (qa_gate demo). "
               "Rebuild with python -m qa_gate.demo build --skip-train.")


@dataclass(frozen=True)
class WordsSettings:
    """How many texts of each kind, and the ranges their rendering varies over."""

    seed: int = 0
    phrases: int = 16  # of the 20 colour-shape pairs
    title_case: int = 4  # of those phrases, written "Red Circle"
    numbers: int = 8  # "42" and others
    counts: int = 7  # "3 squares"
    width: int = 128
    height: int = 32
    margin: int = 3  # pixels kept clear around the text
    font_sizes: tuple[int, ...] = (14, 15, 16, 17, 18)
    background: tuple[int, int] = (205, 250)  # grey level range
    ink: tuple[int, int] = (0, 70)


@dataclass(frozen=True)
class WordSample:
    """One text to render, and what kind of text it is (a tag for slicing)."""

    id: str
    text: str
    kind: str


def texts(settings: WordsSettings = WordsSettings()) -> list[tuple[str, str]]:
    """The suite's ``(kind, text)`` pairs, in order; every text is unique."""
    rng = random.Random(f"qa_gate.demo.words/{settings.seed}/texts")
    out = [("word", word) for word in (*COLOURS, *SHAPES)]
    pairs = rng.sample(combos(), settings.phrases)
    titled = set(rng.sample(range(settings.phrases), settings.title_case))
    for i, (colour, shape) in enumerate(pairs):
        phrase = f"{colour} {shape}"
        out.append(("phrase", phrase.title() if i in titled else phrase))
    numbers = {42}
    while len(numbers) < settings.numbers:  # one to four digits, in turn
        digits = 1 + len(numbers) % 4
        numbers.add(rng.randint(10 ** (digits - 1), 10 ** digits - 1))
    out += [("number", str(n)) for n in sorted(numbers, key=lambda n: (len(str(n)), n))]
    counts: set[str] = set()
    while len(counts) < settings.counts:
        shape = rng.choice(SHAPES)
        counts.add(f"{rng.randint(2, 12)} {shape}{'es' if shape.endswith('s') else 's'}")
    out += [("count", text) for text in sorted(counts, key=lambda text: (int(text.split()[0]), text))]
    return out


def samples(settings: WordsSettings = WordsSettings()) -> list[WordSample]:
    """Every text with its id, ``<index>-<text as a slug>``."""
    return [WordSample(f"{i:03d}-{text.lower().replace(' ', '-')}", text, kind)
            for i, (kind, text) in enumerate(texts(settings))]


@cache
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def draw_text(text: str, rng: random.Random, settings: WordsSettings = WordsSettings()) -> Image.Image:
    """Draw ``text`` in dark grey on a light grey canvas, at the largest drawn size that fits, jittered."""
    background, ink = rng.randint(*settings.background), rng.randint(*settings.ink)
    room = (settings.width - 2 * settings.margin, settings.height - 2 * settings.margin)
    size = rng.choice(settings.font_sizes)
    while True:
        left, top, right, bottom = ImageDraw.Draw(Image.new("L", (1, 1))).textbbox((0, 0), text, font=_font(size))
        if (right - left <= room[0] and bottom - top <= room[1]) or size <= 6:
            break
        size -= 1
    x = rng.randint(settings.margin, max(settings.margin, settings.width - settings.margin - int(right - left)))
    y = rng.randint(settings.margin, max(settings.margin, settings.height - settings.margin - int(bottom - top)))
    image = Image.new("RGB", (settings.width, settings.height), (background,) * 3)
    ImageDraw.Draw(image).text((x - left, y - top), text, fill=(ink,) * 3, font=_font(size))
    return image


def word_entries(settings: WordsSettings = WordsSettings()) -> list[GoldenEntry]:
    """The suite's samples, drawn: ``text`` is the reference transcription, tagged with its kind."""
    entries = []
    for sample in samples(settings):
        rng = random.Random(f"qa_gate.demo.words/{settings.seed}/{sample.id}")
        fields = (("text", sample.text), ("tags", {"kind": sample.kind}))
        entries.append(GoldenEntry(sample.id, draw_text(sample.text, rng, settings), fields))
    return entries


def render_words(out: Path, settings: WordsSettings = WordsSettings()) -> Path:
    """Render ``golden/words`` into ``out`` (deleted first); the caller writes ``SHA256SUMS``."""
    return write_suite(out, DESCRIPTION, word_entries(settings))
