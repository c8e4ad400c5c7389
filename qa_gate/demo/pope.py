"""The demo's POPE suite: yes/no questions about coloured shapes present in or absent from an image.

``golden/pope`` asks, in the official POPE template, "Is there a <colour> <shape> in the image?".
Every image is one coloured shape (:mod:`qa_gate.demo.shapes`) and gets two questions: one about
the object it shows (``answer: yes``) and one about an object it does not show (``answer: no``).
How the absent object is chosen is the sample's ``pope_split`` tag, after POPE's negative sampling:

- ``random``: any other (colour, shape), drawn uniformly;
- ``adversarial``: the same shape in another colour, the object most easily confused with the
  one shown (POPE's adversarial split asks about objects that co-occur with those present).

Each image is seeded by the suite, the seed, the colour, the shape and the index, so it never
repeats an image of another demo suite, and the same seed always gives the same bytes.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from qa_gate.demo.shapes import COLOURS, combos, draw_shape
from qa_gate.demo.suite_writer import GoldenEntry, write_suite

REBUILD = "Rebuild with python -m qa_gate.demo build --skip-train."
DESCRIPTION = f"POPE-style yes/no questions about coloured shapes present or absent (qa_gate demo). {REBUILD}"
QUESTION = "Is there a {object} in the image?"
"""The official POPE question template (AoiDragon/POPE ``main.py --template``)."""
SPLITS = ("random", "adversarial")


@dataclass(frozen=True)
class PopeSettings:
    """Seed and size of the POPE suite."""

    seed: int = 0
    per_split: int = 1
    """Images per (colour, shape) and split; each image asks two questions."""


def _object(colour: str, shape: str) -> str:
    return f"{colour} {shape}"


def absent_object(colour: str, shape: str, split: str, rng: random.Random) -> str:
    """An object the image of a ``colour`` ``shape`` does not show, chosen as ``split`` says."""
    if split == "adversarial":
        return _object(rng.choice([c for c in COLOURS if c != colour]), shape)
    return _object(*rng.choice([combo for combo in combos() if combo != (colour, shape)]))


def pope_entries(settings: PopeSettings = PopeSettings()) -> list[GoldenEntry]:
    """Two samples (a yes and a no question) per image; ``per_split`` images per (colour, shape) and split."""
    entries = []
    for colour, shape in combos():
        for split in SPLITS:
            for index in range(settings.per_split):
                rng = random.Random(f"qa_gate.demo.pope/{settings.seed}/{colour}/{shape}/{split}/{index}")
                image = draw_shape(colour, shape, rng)
                questions = (("yes", _object(colour, shape)), ("no", absent_object(colour, shape, split, rng)))
                for answer, asked in questions:
                    fields = (("question", QUESTION.format(object=asked)), ("answer", answer),
                              ("tags", {"colour": colour, "shape": shape, "pope_split": split}))
                    entries.append(GoldenEntry(f"{colour}-{shape}-{split}-{index:02d}-{answer}", image, fields))
    return entries


def render_pope(out: Path, settings: PopeSettings = PopeSettings()) -> Path:
    """Render ``golden/pope`` into ``out`` (deleted first); the caller writes ``SHA256SUMS``."""
    return write_suite(out, DESCRIPTION, pope_entries(settings))
