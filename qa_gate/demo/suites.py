"""The demo's retrieval, VQA and multilabel golden suites, drawn with the shapes of :mod:`qa_gate.demo.shapes`.

Each suite seeds every sample's ``random.Random`` with a string naming the suite, the
seed, the colour, the shape and the index, so the suites never share an image with
``golden/shapes`` or with each other, and the same seed always gives the same bytes.

- ``golden/retrieval``: one image per (colour, shape), each with its own caption.
- ``golden/vqa``: "what color is the shape?" / "what shape is this?" with ten human
  answers; a few annotators disagree (another colour, "dark red", "oval"), so an answer
  can score 0.3, 0.6 or 0.9 under the VQA leave-one-out rule.
- ``golden/multilabel``: each image carries its colour and its shape as labels.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from qa_gate.demo.shapes import COLOURS, SHAPES, caption, combos, draw_shape, references
from qa_gate.demo.suite_writer import GoldenEntry, Value, write_suite

REBUILD = "Rebuild with python -m qa_gate.demo build --skip-train."
RETRIEVAL_DESCRIPTION = f"One coloured shape per caption, for image-text retrieval (qa_gate demo). {REBUILD}"
VQA_DESCRIPTION = f"Questions about one coloured shape, ten human answers each (qa_gate demo). {REBUILD}"
MULTILABEL_DESCRIPTION = f"Coloured shapes labelled with their colour and shape (qa_gate demo). {REBUILD}"

COLOUR_QUESTION = ("what color is the shape?", "what color is the")  # question, VQA question_type
SHAPE_QUESTION = ("what shape is this?", "what shape is")
ANNOTATORS = 10
# Answers a VQA annotator might give instead of the shape's name.
SHAPE_SYNONYMS: dict[str, tuple[str, ...]] = {
    "circle": ("oval", "round"),
    "square": ("rectangle", "box"),
    "triangle": ("pyramid", "arrow"),
    "cross": ("plus", "plus sign"),
}


@dataclass(frozen=True)
class SuiteSettings:
    """Seed and sizes of the retrieval, VQA and multilabel suites."""

    seed: int = 0
    vqa_per_combo: int = 4  # alternately a colour and a shape question
    multilabel_per_combo: int = 3
    # How many of the ten annotators disagree with the truth, and how often (weights).
    dissent_counts: tuple[int, ...] = (0, 1, 2, 3)
    dissent_weights: tuple[float, ...] = (0.55, 0.15, 0.15, 0.15)


def _rng(suite: str, seed: int, colour: str, shape: str, index: int) -> random.Random:
    """The sample's own generator: every suite, seed, combo and index draws a different image."""
    return random.Random(f"qa_gate.demo.{suite}/{seed}/{colour}/{shape}/{index}")


def _tags(colour: str, shape: str) -> tuple[str, Value]:
    return ("tags", {"colour": colour, "shape": shape})


def retrieval_entries(settings: SuiteSettings = SuiteSettings()) -> list[GoldenEntry]:
    """One image per (colour, shape), captioned ``caption(colour, shape)``: every caption is unique."""
    entries = []
    for colour, shape in combos():
        image = draw_shape(colour, shape, _rng("retrieval", settings.seed, colour, shape, 0))
        fields = (("caption", caption(colour, shape)), ("references", list(references(colour, shape))),
                  _tags(colour, shape))
        entries.append(GoldenEntry(f"{colour}-{shape}", image, fields))
    return entries


def human_answers(truth: str, alternatives: tuple[str, ...], rng: random.Random,
                  settings: SuiteSettings = SuiteSettings()) -> list[str]:
    """Ten annotators' answers: mostly ``truth``, with 0-3 giving one of ``alternatives`` (same one), shuffled.

    With ``k`` dissenters the truth scores 1.0 and the dissenting answer ``k``/3 - a little
    under leave-one-out: 0.3, 0.6 or 0.9.
    """
    dissent = rng.choices(settings.dissent_counts, weights=settings.dissent_weights)[0]
    other = rng.choice(alternatives)
    answers = [truth] * (ANNOTATORS - dissent) + [other] * dissent
    rng.shuffle(answers)
    return answers


def vqa_entries(settings: SuiteSettings = SuiteSettings()) -> list[GoldenEntry]:
    """``vqa_per_combo`` images per (colour, shape), asking alternately for the colour and for the shape."""
    entries = []
    for colour, shape in combos():
        for index in range(settings.vqa_per_combo):
            rng = _rng("vqa", settings.seed, colour, shape, index)
            image = draw_shape(colour, shape, rng)
            if index % 2 == 0:
                (question, question_type), truth, choices = COLOUR_QUESTION, colour, tuple(COLOURS)
                alternatives = (*(c for c in COLOURS if c != colour), f"dark {colour}", f"light {colour}")
            else:
                (question, question_type), truth, choices = SHAPE_QUESTION, shape, SHAPES
                alternatives = (*(s for s in SHAPES if s != shape), *SHAPE_SYNONYMS[shape])
            answers = human_answers(truth, alternatives, rng, settings)
            fields = (("question", question), ("answers", answers), ("question_type", question_type),
                      ("answer_type", "other"), ("choices", list(choices)), _tags(colour, shape))
            entries.append(GoldenEntry(f"{colour}-{shape}-{index:03d}", image, fields))
    return entries


def multilabel_labels() -> list[str]:
    """The multilabel suite's label set: the five colours, then the four shapes."""
    return [*COLOURS, *SHAPES]


def multilabel_entries(settings: SuiteSettings = SuiteSettings()) -> list[GoldenEntry]:
    """``multilabel_per_combo`` images per (colour, shape), each labelled ``[colour, shape]``."""
    entries = []
    for colour, shape in combos():
        for index in range(settings.multilabel_per_combo):
            image = draw_shape(colour, shape, _rng("multilabel", settings.seed, colour, shape, index))
            fields = (("labels", [colour, shape]), _tags(colour, shape))
            entries.append(GoldenEntry(f"{colour}-{shape}-{index:03d}", image, fields))
    return entries


def render_retrieval(out: Path, settings: SuiteSettings = SuiteSettings()) -> Path:
    """Render ``golden/retrieval`` into ``out`` (deleted first); the caller writes ``SHA256SUMS``."""
    return write_suite(out, RETRIEVAL_DESCRIPTION, retrieval_entries(settings))


def render_vqa(out: Path, settings: SuiteSettings = SuiteSettings()) -> Path:
    """Render ``golden/vqa`` into ``out`` (deleted first); the caller writes ``SHA256SUMS``."""
    return write_suite(out, VQA_DESCRIPTION, vqa_entries(settings))


def render_multilabel(out: Path, settings: SuiteSettings = SuiteSettings()) -> Path:
    """Render ``golden/multilabel`` into ``out`` (deleted first); the caller writes ``SHA256SUMS``."""
    return write_suite(out, MULTILABEL_DESCRIPTION, multilabel_entries(settings), labels=multilabel_labels())
