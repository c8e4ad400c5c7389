"""consistency@P: 0/1 per sample against a hand count, and each family's prediction as documented."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from qa_gate.metrics.consistency import PREDICTIONS, Consistency
from qa_gate.metrics.registry import base_metric, get_metric
from qa_gate.scoring.perturbed import PREDICT


def test_names_resolve_to_their_base_metric() -> None:
    assert base_metric("clipscore@jpeg_q30") == ("clipscore", "jpeg_q30")
    assert base_metric("clipscore") == ("clipscore", None)
    assert base_metric("a@b.c-1") == ("a", "b.c-1")
    assert get_metric("vqa_accuracy@blur2").name == "vqa_accuracy"
    assert isinstance(get_metric("consistency@blur2"), Consistency)


def test_per_sample_is_one_where_the_prediction_is_unchanged() -> None:
    clean = ["red", "blue", frozenset({"a", "b"}), 3, "x"]
    perturbed = ["red", "green", frozenset({"b", "a"}), 4, "x"]
    stats = get_metric("consistency@p").per_sample((clean, perturbed), {"of": "vqa_accuracy"})
    assert stats.tolist() == [[1.0], [0.0], [1.0], [0.0], [1.0]]
    assert float(get_metric("consistency@p").aggregate(stats)) == pytest.approx(3 / 5)
    resampled = get_metric("consistency@p").aggregate(stats[None, [0, 1]])  # bootstrap-shaped: [b, n, k]
    assert float(resampled[0]) == pytest.approx(0.5)


def test_the_definition_names_the_compared_metric_and_its_prediction() -> None:
    params = {"of": "vqa_accuracy", "prompt": "a photo of a {answer}", "normalisation": "official"}
    definition = get_metric("consistency@p").definition(params, "candidate")
    assert definition["of"] == get_metric("vqa_accuracy").definition(params, "candidate")
    assert definition["prediction"] == PREDICTIONS["vqa"]
    assert get_metric("consistency@p").family_for(params) == "vqa"
    assert get_metric("consistency@p").family_for({"of": "clipscore", "caption": "generated"}) == "scored_caption"


class _Views:
    """Stands for ``SuiteViews``: each family's view by name."""

    def __init__(self, inputs: Any = None, **views: Any) -> None:
        self.inputs, self._views = inputs, views

    def get(self, family: Any, _: Any) -> Any:
        return self._views[family.name]


def test_each_family_predicts_as_documented() -> None:
    answers = SimpleNamespace(predictions=lambda: ["Two.", "a dog", "yes"])
    assert PREDICT["vqa"](_Views(vqa=answers), {}) == ["2", "dog", "yes"]  # official VQA normalisation
    labels = SimpleNamespace(labels=("cat", "dog", "red"), scores=lambda: np.array([[0.9, 0.1, 0.5], [0.2, 0.2, 0.2]]))
    assert PREDICT["multilabel"](_Views(multilabel=labels), {"threshold": 0.5}) == [frozenset({"cat", "red"}),
                                                                                   frozenset()]
    captions = SimpleNamespace(predictions=lambda: ["A red, red square.", "a Square"])
    assert PREDICT["caption"](_Views(caption=captions), {}) == [frozenset({"a", "red", "square"}),
                                                               frozenset({"a", "square"})]
    assert PREDICT["scored_caption"](_Views(caption=captions), {}) == PREDICT["caption"](_Views(caption=captions), {})
    images = np.array([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]])
    texts = np.array([[0.0, 1.0], [1.0, 0.0], [0.8, 0.6]])
    inputs = SimpleNamespace(image_embeddings=lambda: images, caption_embeddings=lambda prefix: texts)
    assert PREDICT["alignment"](_Views(inputs), {"prefix": "A photo of"}) == [1, 2, 0]  # argmax by hand
    ties = SimpleNamespace(image_embeddings=lambda: np.array([[1.0, 0.0]]),
                           caption_embeddings=lambda prefix: np.array([[1.0, 0.0], [1.0, 0.0]]))
    assert PREDICT["alignment"](_Views(ties), {}) == [0]  # ties to the first
    assert set(PREDICT) == set(PREDICTIONS)


def test_the_family_is_read_from_a_stored_definition_too() -> None:
    from qa_gate.scoring.families import family_of

    params = {"of": "i2t_r1"}
    definition = get_metric("consistency@p").definition(params, "candidate")
    assert family_of("consistency@jpeg", definition).name == family_of("consistency@jpeg", params).name == "retrieval"
