"""The scoring views own what they compute: ranks and class rankings once per suite."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from qa_gate.metrics import retrieval, zeroshot
from qa_gate.metrics.retrieval import (
    I2TRecallAt1,
    T2IMeanRank,
    T2IMedianRank,
    rank_arrays,
)
from qa_gate.metrics.zeroshot import (
    ZeroShotMeanPerClassRecall,
    ZeroShotTop1,
    ZeroShotTop5,
)
from qa_gate.scoring.views import RetrievalView, ZeroShotView


@dataclass
class _Sample:
    caption: str
    references: tuple[str, ...] = ()
    tags: dict[str, str] = field(default_factory=dict)


@dataclass
class _Suite:
    samples: list[_Sample]


class _Inputs:
    """The part of ``SuiteInputs`` the views read: samples, image embeddings, a text encoder."""

    def __init__(self, samples: list[_Sample], seed: int = 0) -> None:
        self.suite = _Suite(samples)
        self.sample_ids = tuple(f"s{i}" for i in range(len(samples)))
        rng = np.random.default_rng(seed)
        self.images = rng.normal(size=(len(samples), 4))
        self.images /= np.linalg.norm(self.images, axis=1, keepdims=True)
        self.rng, self.table, self.calls = rng, {}, []

    def image_embeddings(self) -> np.ndarray:
        return self.images

    def encode_texts(self, texts: list[str]) -> np.ndarray:
        self.calls.append(list(texts))
        for text in texts:
            if text not in self.table:
                v = self.rng.normal(size=4)
                self.table[text] = v / np.linalg.norm(v)
        return np.stack([self.table[t] for t in texts])


def _samples() -> list[_Sample]:
    return [_Sample(f"a {c} {s}", (f"the {s}",), {"colour": c})
            for c in ("red", "blue") for s in ("circle", "square", "star")]


def test_retrieval_ranks_are_computed_once_for_every_metric(monkeypatch) -> None:
    calls = []
    monkeypatch.setattr(retrieval, "rank_arrays", lambda *a, **k: calls.append(1) or rank_arrays(*a, **k))
    view = RetrievalView(_Inputs(_samples()))  # type: ignore[arg-type]
    values = [cls().per_sample(view, {}) for cls in (I2TRecallAt1, T2IMeanRank, T2IMedianRank)]
    assert len(calls) == 1
    assert view.ranks() is view.ranks()
    expected = rank_arrays(*((view.image_embeddings(),) + view.caption_embeddings()))
    np.testing.assert_array_equal(values[0][:, 1], expected.i2t)


def test_zero_shot_classes_are_ranked_once_per_templates(monkeypatch) -> None:
    inputs = _Inputs(_samples(), seed=1)
    view = ZeroShotView(inputs, "colour")  # type: ignore[arg-type]
    assert view.classes == ("blue", "red")
    templates = {"templates": ["a photo of a {} thing.", "{}"]}
    stats = [cls().per_sample(view, templates) for cls in (ZeroShotTop1, ZeroShotTop5, ZeroShotMeanPerClassRecall)]
    assert len(inputs.calls) == 1
    np.testing.assert_array_equal(stats[0][:, 1], zeroshot.suite_ranks(view, tuple(templates["templates"])))
    ZeroShotTop1().per_sample(view, {"templates": ["{}"]})
    assert len(inputs.calls) == 3  # new templates: one more ranking (suite_ranks above made the second call)
