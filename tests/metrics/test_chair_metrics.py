"""CHAIR: mentions and counts by hand, the singulariser, the vocabulary file, and an independent
re-implementation of the published definition on random captions built from the vocabulary."""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.chair_reference import USABLE, reference_values

from qa_gate.golden.manifest import Sample
from qa_gate.metrics.chair import ChairI, ChairS, ObjectRecall
from qa_gate.metrics.chair_words import mentions, parse_vocabulary, singular, vocabulary

DATA = Path(str(resources.files("qa_gate.metrics").joinpath("data", "chair_objects.yaml")))
COCO = ("person, bicycle, car, motorcycle, airplane, bus, train, truck, boat, traffic light, fire hydrant, stop sign, "
        "parking meter, bench, bird, cat, dog, horse, sheep, cow, elephant, bear, zebra, giraffe, backpack, umbrella, "
        "handbag, tie, suitcase, frisbee, skis, snowboard, sports ball, kite, baseball bat, baseball glove, "
        "skateboard, surfboard, tennis racket, bottle, wine glass, cup, fork, knife, spoon, bowl, banana, apple, "
        "sandwich, orange, broccoli, carrot, hot dog, pizza, donut, cake, chair, couch, potted plant, bed, "
        "dining table, toilet, tv, laptop, mouse, remote, keyboard, cell phone, microwave, oven, toaster, sink, "
        "refrigerator, book, clock, vase, scissors, teddy bear, hair drier, toothbrush").split(", ")
"""The 80 COCO 2014 category names, in category id order."""
METRICS = (ChairI(), ChairS(), ObjectRecall())


@dataclass
class Inputs:
    sample_ids: tuple[str, ...]
    captions: list[str]
    truth: list[tuple[str, ...]]

    def predictions(self) -> list[str]:
        return self.captions

    def objects(self) -> list[tuple[str, ...]]:
        return self.truth


def _values(captions: list[str], truth: list[tuple[str, ...]]) -> list[float]:
    inputs = Inputs(tuple(f"s{i}" for i in range(len(captions))), captions, truth)
    return [float(m.aggregate(m.per_sample(inputs, {}))) for m in METRICS]


HAND = [  # caption, objects, mentions, hallucinated
    ("A man and a woman sit on a bench next to two dogs.", ("person", "bench"),
     ["person", "person", "bench", "dog"], 1),
    ("A baby elephant near train tracks.", ("elephant",), ["elephant"], 0),  # no person, no train
    ("The seat of the toilet is up.", ("toilet",), ["toilet"], 0),  # the seat is no chair
    ("Hot dogs and a teddy bear on the dining tables.", ("hot dog",), ["hot dog", "teddy bear", "dining table"], 2),
    ("A cat.", (), ["cat"], 1),
    ("Nothing here.", ("puppies",), [], 0),
]


@pytest.mark.parametrize("caption, objects, said, hallucinated", HAND)
def test_mentions_by_hand(caption: str, objects: tuple[str, ...], said: list[str], hallucinated: int) -> None:
    assert mentions(caption) == said


def test_suite_values_by_hand() -> None:
    captions, truth = [h[0] for h in HAND], [h[1] for h in HAND]
    # mentions 4+1+1+3+1+0 = 10, hallucinated 1+0+0+2+1+0 = 4; captions with one: 3 of 6;
    # ground-truth categories 2+1+1+1+0+1 = 6, mentioned 2+1+1+1+0+0 = 5
    assert _values(captions, truth) == pytest.approx([4 / 10, 3 / 6, 5 / 6])
    inputs = Inputs(tuple(f"s{i}" for i in range(6)), captions, truth)
    assert ChairI().sample_values(ChairI().per_sample(inputs, {})).tolist() == [0.25, 0, 0, 2 / 3, 1, 0]
    assert ObjectRecall().sample_values(ObjectRecall().per_sample(inputs, {})).tolist() == [1, 1, 1, 1, 1, 0]
    assert not ChairI.higher_is_better and not ChairS.higher_is_better and ObjectRecall.higher_is_better


@pytest.mark.parametrize("plural, single", [
    ("people", "person"), ("men", "man"), ("women", "woman"), ("policemen", "policeman"), ("children", "child"),
    ("mice", "mouse"), ("knives", "knife"), ("geese", "goose"), ("oxen", "ox"), ("calves", "calf"),
    ("ponies", "pony"), ("ties", "tie"), ("buses", "bus"), ("glasses", "glass"), ("couches", "couch"),
    ("horses", "horse"), ("skis", "skis"), ("bus", "bus"), ("glass", "glass"), ("sheep", "sheep"),
    ("scissors", "scissors"), ("skies", "skies"), ("dishes", "dishes"), ("toothbrushes", "toothbrush")])
def test_singular_forms(plural: str, single: str) -> None:
    assert singular(plural) == single


def test_the_vocabulary_is_the_80_coco_categories_hashed() -> None:
    vocab = vocabulary()
    assert list(vocab.categories) == COCO and len(vocab.categories) == 80
    assert vocab.sha256 == hashlib.sha256(DATA.read_bytes()).hexdigest()
    definition = ChairI().definition({}, "candidate")
    assert definition["vocabulary"] == {"file": "chair_objects.yaml", "version": 1, "sha256": vocab.sha256}
    assert all(vocab.names[c] == c for c in vocab.categories)


def test_a_name_in_two_categories_is_refused() -> None:
    text = b"version: 1\ncategories:\n  dog: [dog, pup]\n  cat: [cat, pup]\n"
    with pytest.raises(ValueError, match="'pup' names both 'dog' and 'cat'"):
        parse_vocabulary(text)


def test_sample_problems_name_missing_and_unknown_objects() -> None:
    metric = ChairS()
    assert "has no objects" in str(metric.sample_problem(Sample("a", "a.png", "a.png"), {}))
    odd = Sample("b", "b.png", "b.png", objects=("cat", "widget"))
    assert "has objects 'widget' that" in str(metric.sample_problem(odd, {}))
    assert "'cat'" not in str(metric.sample_problem(odd, {}))
    assert metric.sample_problem(Sample("c", "c.png", "c.png", objects=("Dogs", "puppy", "dining tables")), {}) is None
    assert metric.sample_problem(Sample("d", "d.png", "d.png", objects=()), {}) is None
    assert ObjectRecall().suite_problem([Sample("d", "d.png", "d.png", objects=())], {}) is not None


def test_resamples_are_ratios_of_sums() -> None:
    captions, truth = [h[0] for h in HAND], [h[1] for h in HAND]
    inputs = Inputs(tuple(f"s{i}" for i in range(6)), captions, truth)
    draws = np.random.default_rng(1).integers(0, 6, size=(40, 6))
    for metric in METRICS:
        stats = metric.per_sample(inputs, {})
        assert metric.aggregate(stats[draws]) == pytest.approx([float(metric.aggregate(stats[d])) for d in draws])
        assert metric.aggregate(stats[draws]) == pytest.approx(metric.aggregate(stats[draws].mean(1, keepdims=True)))


# ---- against an independent implementation of the published definition on random captions ----

FILLERS = ["a", "the", "and", "with", "on", "near", "two", "some", "red", "big", "is", "sitting", "next", "to"]


def _plural(name: str) -> str:
    last = name.split()[-1]
    if last.endswith(("s", "x", "y", "ch", "sh", "f", "fe", "o", "man")):
        return name
    return name + "s"


def _caption(rng: random.Random) -> tuple[str, tuple[str, ...]]:
    words: list[str] = []
    for _ in range(rng.randint(0, 5)):
        words += rng.sample(FILLERS, rng.randint(1, 3))
        name = rng.choice(USABLE)
        words.append(_plural(name) if rng.random() < 0.3 else name)
    words += rng.sample(FILLERS, 1)
    objects = tuple(rng.sample(USABLE, rng.randint(0, 4)))
    return " ".join(words).capitalize() + rng.choice([".", "", " ."]), objects


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_equals_an_independent_implementation_on_random_captions(seed: int) -> None:
    rng = random.Random(seed)
    pairs = [_caption(rng) for _ in range(rng.randint(1, 8))]
    assert _values([c for c, _ in pairs], [o for _, o in pairs]) == pytest.approx(reference_values(pairs))
