"""Multilabel F1 (micro, macro, samples, weighted) against sklearn.metrics.f1_score."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import f1_score

from qa_gate.metrics.base import fingerprint
from qa_gate.metrics.classification import (
    AVERAGES,
    F1Macro,
    F1Micro,
    F1Samples,
    F1Weighted,
    column_names,
    f1,
    per_label_f1,
)

METRICS = {"micro": F1Micro(), "macro": F1Macro(), "samples": F1Samples(), "weighted": F1Weighted()}


class Inputs:
    def __init__(self, scores, targets, labels=None):
        self._scores, self._targets = scores, targets
        width = len(np.asarray(targets[0])) if len(targets) else 0
        self.labels = tuple(labels or (f"l{j}" for j in range(width)))
        self.sample_ids = tuple(f"s{i}" for i in range(len(scores)))

    def scores(self):
        return self._scores

    def targets(self):
        return self._targets


def params(threshold: float = 0.5, zero_division: float = 0.0) -> dict[str, float]:
    return {"threshold": threshold, "zero_division": zero_division}


Y_TRUE = np.array([[0, 0, 0], [1, 1, 1], [0, 1, 1]])
Y_PRED = np.array([[0, 0, 0], [1, 1, 1], [1, 1, 0]])


def test_known_case_from_the_issue() -> None:
    # micro: TP 4, FP 1, FN 1 -> 8/10.  macro: labels F1 2/3, 1, 2/3 -> 7/9.
    # samples (zero_division 0): rows 0 (no true, no predicted -> 0), 1, 1/2 -> 0.5.
    # weighted: supports 1, 2, 2 -> (2/3 + 2 + 4/3) / 5 = 0.8.
    stats = F1Micro().per_sample(Inputs(Y_PRED.astype(float), Y_TRUE), params())
    assert stats.shape == (3, 10)
    expected = {"micro": 0.8, "macro": 7 / 9, "samples": 0.5, "weighted": 0.8}
    for average, value in expected.items():
        assert float(METRICS[average].aggregate(stats)) == pytest.approx(value, abs=1e-12)
        assert value == pytest.approx(f1_score(Y_TRUE, Y_PRED, average=average, zero_division=0.0))
    # With zero_division 1 the empty first row scores 1: samples = (1 + 1 + 0.5) / 3.
    stats = F1Samples().per_sample(Inputs(Y_PRED.astype(float), Y_TRUE), params(zero_division=1.0))
    assert float(F1Samples().aggregate(stats)) == pytest.approx(2.5 / 3)
    assert float(F1Samples().aggregate(stats)) == pytest.approx(
        f1_score(Y_TRUE, Y_PRED, average="samples", zero_division=1.0))


def test_columns_and_per_label_f1() -> None:
    stats = F1Macro().per_sample(Inputs(Y_PRED.astype(float), Y_TRUE, ["cat", "dog", "sky"]), params())
    assert column_names(["cat", "dog"]) == ("tp:cat", "tp:dog", "fp:cat", "fp:dog", "fn:cat", "fn:dog",
                                           "zero_division")
    assert stats[1].tolist() == [1, 1, 1, 0, 0, 0, 0, 0, 0, 0]
    assert stats[2].tolist() == [0, 1, 0, 1, 0, 0, 0, 0, 1, 0]
    assert per_label_f1(stats, ["cat", "dog", "sky"]) == pytest.approx(
        dict(zip(["cat", "dog", "sky"], f1_score(Y_TRUE, Y_PRED, average=None, zero_division=0.0))))
    assert F1Macro().sample_values(stats).tolist() == pytest.approx([0.0, 1.0, 0.5])


def test_threshold_is_inclusive() -> None:
    scores = np.array([[0.5, 0.49], [0.7, 0.2]])
    targets = np.array([[1, 1], [0, 0]])
    stats = F1Micro().per_sample(Inputs(scores, targets), params())
    # 0.5 >= 0.5 predicts (TP), 0.49 does not (FN), 0.7 predicts (FP): 2/(2+1+1).
    assert float(F1Micro().aggregate(stats)) == pytest.approx(0.5)
    stats = F1Micro().per_sample(Inputs(scores, targets), params(threshold=0.45))
    assert float(F1Micro().aggregate(stats)) == pytest.approx(4 / 5)
    definition = F1Micro().definition(params(threshold=0.45), "candidate")
    assert definition["threshold"] == 0.45 and definition["predicted"] == "score >= threshold"
    assert fingerprint(definition) != fingerprint(F1Micro().definition(params(), "candidate"))


def test_zero_support_weighted_follows_sklearn() -> None:
    targets = np.zeros((3, 3), dtype=int)
    predicted = np.array([[1, 0, 0], [0, 0, 0], [0, 0, 0]])
    for zero in (0.0, 1.0):
        stats = F1Weighted().per_sample(Inputs(predicted.astype(float), targets), params(zero_division=zero))
        assert float(F1Weighted().aggregate(stats)) == pytest.approx(
            f1_score(targets, predicted, average="weighted", zero_division=zero), abs=1e-12)


def test_input_errors_name_the_sample() -> None:
    good = np.zeros((2, 2))
    with pytest.raises(ValueError, match=r"sample 's1': target of label 'l0' is 2.0, expected 0 or 1"):
        F1Micro().per_sample(Inputs(good, np.array([[0, 1], [2, 0]])), params())
    with pytest.raises(ValueError, match=r"sample 's0': scores has 3 columns, expected 2"):
        F1Micro().per_sample(Inputs(np.zeros((2, 3)), np.zeros((2, 2))), params())
    with pytest.raises(ValueError, match=r"sample 's1': targets has 1 columns, expected 2"):
        F1Micro().per_sample(Inputs(good, [[0, 1], [1]]), params())
    with pytest.raises(ValueError, match=r"sample 's0': score of label 'l1' is nan"):
        F1Micro().per_sample(Inputs(np.array([[0.1, np.nan], [0, 0]]), np.zeros((2, 2))), params())
    with pytest.raises(ValueError, match="zero_division must be 0.0 or 1.0"):
        F1Micro().per_sample(Inputs(good, np.zeros((2, 2))), params(zero_division=0.5))
    with pytest.raises(ValueError, match="threshold must be a finite number"):
        F1Micro().per_sample(Inputs(good, np.zeros((2, 2))), params(threshold=float("nan")))
    with pytest.raises(ValueError, match="3 L \\+ 1 columns"):
        f1(np.zeros((2, 5)), "micro")
    with pytest.raises(ValueError, match="average must be one of"):
        f1(np.zeros((2, 4)), "binary")


def random_case(rng: np.random.Generator, n: int, labels: int) -> tuple[np.ndarray, np.ndarray]:
    scores = rng.random((n, labels))
    targets = (rng.random((n, labels)) < rng.uniform(0.1, 0.7)).astype(int)
    targets[:, rng.integers(labels)] = 0  # a label with no positives
    if rng.random() < 0.3:
        targets[rng.integers(n)] = 0  # a sample with no positives
    return scores, targets


@pytest.mark.parametrize("zero", [0.0, 1.0])
@pytest.mark.parametrize("average", AVERAGES)
def test_equals_sklearn_on_random_data(average: str, zero: float) -> None:
    rng = np.random.default_rng(7)
    metric = METRICS[average]
    for _ in range(40):
        n, labels = int(rng.integers(1, 25)), int(rng.integers(2, 7))
        scores, targets = random_case(rng, n, labels)
        threshold = float(rng.choice([0.3, 0.5, 0.8]))
        stats = metric.per_sample(Inputs(scores, targets), params(threshold, zero))
        expected = f1_score(targets, (scores >= threshold).astype(int), average=average, zero_division=zero)
        assert float(metric.aggregate(stats)) == pytest.approx(expected, abs=1e-9)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 12), labels=st.integers(2, 5),
       zero=st.sampled_from([0.0, 1.0]), data=st.data())
def test_resampled_aggregate_equals_sklearn_on_resampled_inputs(seed, n, labels, zero, data) -> None:
    scores, targets = random_case(np.random.default_rng(seed), n, labels)
    stats = F1Micro().per_sample(Inputs(scores, targets), params(zero_division=zero))
    draws = [data.draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=15)) for _ in range(3)]
    size = min(len(d) for d in draws)
    rows = np.array([d[:size] for d in draws])  # [b, size]: a batch of resamples at once
    predicted = (scores >= 0.5).astype(int)
    for average, metric in METRICS.items():
        values = metric.aggregate(stats[rows])
        assert values.shape == (3,)
        for b in range(3):
            expected = f1_score(targets[rows[b]], predicted[rows[b]], average=average, zero_division=zero)
            assert values[b] == pytest.approx(expected, abs=1e-9)
