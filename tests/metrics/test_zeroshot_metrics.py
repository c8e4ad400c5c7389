"""Zero-shot classification against brute-force references, a hand computation and scikit-learn."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qa_gate.errors import ConfigError, GoldenError
from qa_gate.metrics import zeroshot
from qa_gate.metrics.base import fingerprint
from qa_gate.metrics.zeroshot import (
    DEFAULT_TEMPLATES,
    ZeroShotMeanPerClassRecall,
    ZeroShotTop1,
    ZeroShotTop5,
    class_embeddings,
    suite_ranks,
)

ALL = (ZeroShotTop1, ZeroShotTop5, ZeroShotMeanPerClassRecall)
TEMPLATES = ("a photo of a {}.", "a drawing of a {}.", "{}")


class FakeInputs:
    """ZeroShotInputs whose text encoder looks texts up (random vector per new text)."""

    def __init__(self, images: np.ndarray, classes: tuple[str, ...], labels: np.ndarray,
                 table: dict[str, np.ndarray] | None = None, seed: int = 0) -> None:
        self.images, self.classes, self._labels = images, classes, labels
        self.sample_ids = tuple(f"s{i}" for i in range(len(images)))
        self.table = {} if table is None else table
        self.rng = np.random.default_rng(seed)
        self.encoded: list[list[str]] = []

    def image_embeddings(self) -> np.ndarray:
        return self.images

    def encode_texts(self, texts: list[str]) -> np.ndarray:
        self.encoded.append(list(texts))
        for t in texts:
            if t not in self.table:
                v = self.rng.normal(size=self.images.shape[1])
                self.table[t] = v / np.linalg.norm(v)
        return np.stack([self.table[t] for t in texts])

    def labels(self) -> np.ndarray:
        return self._labels

    def class_ranks(self, templates: tuple[str, ...]) -> np.ndarray:
        return suite_ranks(self, templates)


def random_inputs(seed: int, n: int = 60, d: int = 5, ties: bool = True) -> FakeInputs:
    rng = np.random.default_rng(seed)
    classes = tuple(f"class{c}" for c in range(8))
    if ties:  # a duplicate class name: identical class embeddings, so exact ties
        classes = (*classes, "class3")
    images = rng.normal(size=(n, d))
    images /= np.linalg.norm(images, axis=1, keepdims=True)
    return FakeInputs(images, classes, rng.integers(0, len(classes), size=n), seed=seed)


def brute_class_embeddings(inputs: FakeInputs, templates: tuple[str, ...]) -> list[np.ndarray]:
    out = []
    for c in inputs.classes:
        total = np.zeros(inputs.images.shape[1])
        for t in templates:
            v = inputs.table[t.replace("{}", c)]
            total += v / np.linalg.norm(v)
        out.append(total / len(templates) / np.linalg.norm(total / len(templates)))
    return out


def brute_ranks(inputs: FakeInputs, templates: tuple[str, ...]) -> list[int]:
    """Literal definition with exact ``>=``: 1 + other classes scoring at least the true one."""
    classes = brute_class_embeddings(inputs, templates)
    ranks = []
    for image, label in zip(inputs.images, inputs.labels()):
        scores = [float(np.dot(image, c)) for c in classes]
        ranks.append(1 + sum(1 for j, s in enumerate(scores) if j != label and s >= scores[label]))
    return ranks


def brute_value(name: str, ranks: list[int], labels: list[int]) -> float:
    if name == "zeroshot_top1":
        return sum(r <= 1 for r in ranks) / len(ranks)
    if name == "zeroshot_top5":
        return sum(r <= 5 for r in ranks) / len(ranks)
    recalls = []
    for c in sorted(set(labels)):
        mine = [r for r, y in zip(ranks, labels) if y == c]
        recalls.append(sum(r <= 1 for r in mine) / len(mine))
    return sum(recalls) / len(recalls)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_metrics_equal_brute_force_with_ties(seed: int) -> None:
    inputs = random_inputs(seed)
    params = {"templates": TEMPLATES}
    for cls in ALL:
        metric = cls()
        stats = metric.per_sample(inputs, params)
        ranks = brute_ranks(inputs, TEMPLATES)
        if cls is not ZeroShotMeanPerClassRecall:
            assert stats[:, 1].tolist() == ranks
        expected = brute_value(metric.name, ranks, inputs.labels().tolist())
        assert float(metric.aggregate(stats)) == pytest.approx(expected, abs=1e-12)
    # Samples of the duplicated class never score top-1: the tie counts against the model.
    tied = np.isin(inputs.labels(), [3, 8])
    assert tied.any() and not ZeroShotTop1().per_sample(inputs, params)[tied, 0].any()


def test_template_averaging_by_hand() -> None:
    # Template embeddings (1, 0) and (0, 2)/2 = (0, 1): class "cat" = (1, 1)/sqrt2.
    # The raw mean (1, 1) would also give that, so use an unnormalised second vector (0, 3):
    # normalising first gives (0.5, 0.5) -> (1, 1)/sqrt2; the raw mean (0.5, 1.5) would not.
    table = {"a cat": np.array([1.0, 0.0]), "the cat": np.array([0.0, 3.0]),
             "a dog": np.array([1.0, 0.0]), "the dog": np.array([-1.0, 0.0])}
    emb = class_embeddings(lambda texts: np.stack([table[t] for t in texts]), ("cat", "dog"), ("a {}", "the {}"))
    r = 1 / math.sqrt(2)
    assert emb[0] == pytest.approx([r, r], abs=1e-15)
    # dog: (1, 0) and (-1, 0) cancel: a zero vector stays zero (scores 0 against every image).
    assert emb[1] == pytest.approx([0.0, 0.0], abs=1e-15)
    # An image at 45 degrees is a cat; one at 200 degrees scores cos(155) < 0 for cat, 0 for dog.
    images = np.array([[r, r], [math.cos(math.radians(200)), math.sin(math.radians(200))]])
    inputs = FakeInputs(images, ("cat", "dog"), np.array([0, 1]), table=table)
    stats = ZeroShotTop1().per_sample(inputs, {"templates": ("a {}", "the {}")})
    assert stats.tolist() == [[1.0, 1.0], [1.0, 1.0]]
    assert inputs.encoded == [["a cat", "a dog", "the cat", "the dog"]]


def test_mean_per_class_recall_is_balanced_accuracy() -> None:
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    for seed in range(4):
        inputs = random_inputs(seed, n=80, ties=False)
        metric = ZeroShotMeanPerClassRecall()
        stats = metric.per_sample(inputs, {"templates": TEMPLATES})
        classes = np.stack(brute_class_embeddings(inputs, TEMPLATES))
        predicted = np.argmax(inputs.images @ classes.T, axis=1)
        assert stats[:, 0].tolist() == (predicted == inputs.labels()).tolist()
        expected = sklearn_metrics.balanced_accuracy_score(inputs.labels(), predicted)
        assert float(metric.aggregate(stats)) == pytest.approx(expected, abs=1e-12)


def test_resampled_aggregate_equals_recomputation() -> None:
    inputs = random_inputs(5, n=40)
    params = {"templates": TEMPLATES}
    rng = np.random.default_rng(9)
    draws = [rng.integers(0, 40, size=40) for _ in range(3)]
    draws.append(np.flatnonzero(inputs.labels() != inputs.labels()[0]))  # a class dropped
    for idx in draws:
        resampled = FakeInputs(inputs.images[idx], inputs.classes, inputs.labels()[idx], table=inputs.table)
        for cls in ALL:
            metric = cls()
            full = metric.per_sample(inputs, params)
            again = metric.per_sample(resampled, params)
            assert float(metric.aggregate(full[idx])) == pytest.approx(float(metric.aggregate(again)), abs=1e-12)
            ranks = brute_ranks(resampled, TEMPLATES)
            expected = brute_value(metric.name, ranks, resampled.labels().tolist())
            assert float(metric.aggregate(full[idx])) == pytest.approx(expected, abs=1e-12)


def test_batched_aggregate_keeps_leading_axes() -> None:
    inputs = random_inputs(6)
    idx = np.random.default_rng(1).integers(0, 60, size=(3, 4, 60))
    for cls in ALL:
        metric = cls()
        stats = metric.per_sample(inputs, {"templates": TEMPLATES})
        batched = metric.aggregate(stats[idx])
        assert batched.shape == (3, 4)
        expected = [[float(metric.aggregate(stats[row])) for row in rows] for rows in idx]
        assert batched == pytest.approx(np.array(expected), abs=1e-12)


def test_top5_with_fewer_classes_is_one() -> None:
    # Why such a suite is refused before scoring (suite_problem): the value says nothing about the model.
    inputs = random_inputs(7)
    inputs.classes, inputs._labels = inputs.classes[:3], inputs.labels() % 3
    stats = ZeroShotTop5().per_sample(inputs, {"templates": TEMPLATES})
    assert float(ZeroShotTop5().aggregate(stats)) == 1.0


class _Tagged:
    def __init__(self, **tags: str) -> None:
        self.tags = tags


@pytest.mark.parametrize(("cls", "classes", "refused"), [
    (ZeroShotTop5, 3, True), (ZeroShotTop5, 5, True), (ZeroShotTop5, 6, False),
    (ZeroShotTop1, 1, True), (ZeroShotTop1, 2, False),
    (ZeroShotMeanPerClassRecall, 1, True), (ZeroShotMeanPerClassRecall, 2, False),
])
def test_top_k_needs_more_than_k_classes(cls: type, classes: int, refused: bool) -> None:
    samples = [_Tagged(shape=f"c{i % classes}", colour="red") for i in range(12)] + [_Tagged(colour="red")]
    problem = cls().suite_problem(samples, {"label_tag": "shape"})
    assert (problem is not None) is refused
    if refused:
        k = 5 if cls is ZeroShotTop5 else 1
        assert problem.startswith(f"has {classes} class")
        assert f"(values of tag 'shape': {', '.join(repr(f'c{i}') for i in range(classes))})" in problem
        assert f"within the top {k} whatever the model" in problem and f"expected at least {k + 1} classes" in problem


def test_class_embeddings_are_encoded_in_one_call_per_ranking() -> None:
    inputs = random_inputs(8)
    ZeroShotTop1().per_sample(inputs, {"templates": TEMPLATES})
    assert len(inputs.encoded) == 1
    assert len(inputs.encoded[0]) == len(TEMPLATES) * len(inputs.classes)


def test_bad_params_and_labels_are_refused() -> None:
    inputs = random_inputs(0)
    for bad in ((), "a {}", ("no placeholder",), (3,)):
        with pytest.raises(ConfigError, match="templates"):
            ZeroShotTop1().per_sample(inputs, {"templates": bad})
    inputs._labels = np.array([0] * 59 + [9])
    with pytest.raises(GoldenError, match="'s59'"):
        ZeroShotTop1().per_sample(inputs, {"templates": TEMPLATES})


def test_definition_records_templates_and_ties() -> None:
    metric = ZeroShotTop1()
    default = metric.definition(metric.params, "candidate")
    assert default["templates"] == list(DEFAULT_TEMPLATES)
    assert "pessimistic" in default["ties"]
    assert zeroshot.CLASS_EMBEDDING in default.values()
    listed = metric.definition({"templates": list(DEFAULT_TEMPLATES)}, "candidate")
    assert fingerprint(listed) == fingerprint(default)  # a YAML list equals the tuple default
    other = metric.definition({"templates": TEMPLATES}, "candidate")
    assert fingerprint(other) != fingerprint(default)
    assert len({fingerprint(cls().definition({}, "candidate")) for cls in ALL}) == len(ALL)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(2, 30), n_classes=st.integers(2, 9), d=st.integers(3, 6),
       data=st.data())
def test_resampled_aggregate_equals_brute_force_and_sklearn(seed, n, n_classes, d, data) -> None:
    """Continuous random embeddings (no ties): resampled rows aggregate to brute-force top-k and to
    ``balanced_accuracy_score`` on the resampled samples, also when the resample drops a class."""
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(seed)
    images = rng.normal(size=(n, d))
    images /= np.linalg.norm(images, axis=1, keepdims=True)
    labels = rng.integers(0, n_classes, size=n)
    labels[:2] = [0, 1]  # at least two classes present, so one can be dropped
    inputs = FakeInputs(images, tuple(f"class{c}" for c in range(n_classes)), labels, seed=seed)
    params = {"templates": TEMPLATES}
    stats = {cls: cls().per_sample(inputs, params) for cls in ALL}
    ranks = brute_ranks(inputs, TEMPLATES)
    predicted = np.argmax(images @ np.stack(brute_class_embeddings(inputs, TEMPLATES)).T, axis=1)
    assert [r == 1 for r in ranks] == (predicted == labels).tolist()  # no ties: rank 1 is the argmax

    drawn = data.draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=25), label="rows")
    drop = data.draw(st.sampled_from(sorted(set(labels.tolist()))), label="dropped class")
    keep = np.flatnonzero(labels != drop)
    without = [int(keep[i % len(keep)]) for i in drawn]  # the same draw with one class gone
    assert drop in labels and drop not in labels[without]
    batch = np.array(data.draw(st.lists(st.lists(st.integers(0, n - 1), min_size=5, max_size=5),
                                        min_size=1, max_size=3), label="batch"))
    for cls in ALL:
        metric = cls()
        values = metric.aggregate(stats[cls][batch])  # [b, m, k] at once
        assert values.shape == (len(batch),)
        for rows, value in [(drawn, float(metric.aggregate(stats[cls][drawn]))),
                            (without, float(metric.aggregate(stats[cls][without]))), *zip(batch.tolist(), values)]:
            expected = brute_value(metric.name, [ranks[i] for i in rows], labels[rows].tolist())
            assert value == pytest.approx(expected, abs=1e-12), (metric.name, rows)
            if cls is ZeroShotMeanPerClassRecall:
                with warnings.catch_warnings():  # "y_pred contains classes not in y_true"
                    warnings.simplefilter("ignore")
                    balanced = sklearn_metrics.balanced_accuracy_score(labels[rows], predicted[rows])
                assert value == pytest.approx(balanced, abs=1e-12), rows
