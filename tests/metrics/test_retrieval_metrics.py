"""Retrieval ranks and metrics against a brute-force reference (full matrix, Python loops)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qa_gate.errors import AdapterError, GoldenError
from qa_gate.metrics import retrieval
from qa_gate.metrics.base import fingerprint
from qa_gate.metrics.retrieval import (
    I2TMeanRank,
    I2TMedianRank,
    I2TRecallAt1,
    I2TRecallAt5,
    I2TRecallAt10,
    Ranks,
    T2IMeanRank,
    T2IMedianRank,
    T2IRecallAt1,
    T2IRecallAt5,
    T2IRecallAt10,
    nan_median,
    rank_all,
    rank_arrays,
)

ALL = (I2TRecallAt1, I2TRecallAt5, I2TRecallAt10, I2TMedianRank, I2TMeanRank,
       T2IRecallAt1, T2IRecallAt5, T2IRecallAt10, T2IMedianRank, T2IMeanRank)


def normalise(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


class FakeInputs:
    """RetrievalInputs over fixed arrays."""

    def __init__(self, images: np.ndarray, captions: np.ndarray, owner: np.ndarray) -> None:
        self.images, self.captions, self.owner = images, captions, owner
        self.sample_ids = tuple(f"s{i}" for i in range(len(images)))
        self.computed = 0

    def image_embeddings(self) -> np.ndarray:
        return self.images

    def caption_embeddings(self) -> tuple[np.ndarray, np.ndarray]:
        return self.captions, self.owner

    def ranks(self) -> Ranks:
        self.computed += 1
        return rank_all(self)


def random_suite(seed: int, n: int = 30, d: int = 6) -> FakeInputs:
    """1-4 captions per image, with exact ties: duplicate images and duplicate captions."""
    rng = np.random.default_rng(seed)
    images = normalise(rng.normal(size=(n, d)))
    images[3] = images[2]  # duplicate images: their captions tie between them
    images[7] = images[2]
    owner = np.repeat(np.arange(n), rng.integers(1, 5, size=n))
    rng.shuffle(owner)
    captions = normalise(images[owner] + rng.normal(scale=1.2, size=(len(owner), d)))
    other = np.flatnonzero(owner != owner[0])
    captions[other[:2]] = captions[0]  # duplicate captions of other images: i2t ties
    first, second = np.flatnonzero(owner == owner[5])[0], np.flatnonzero(owner != owner[5])[0]
    captions[second] = captions[first]
    return FakeInputs(images, captions, owner)


def brute_ranks(images: np.ndarray, captions: np.ndarray, owner: np.ndarray,
                queries: list[int] | None = None, tol: float = 0.0) -> tuple[list[int], list[int]]:
    """Literal definition: full similarity table, ``>= positive - tol`` (exact by default), loops.

    ``queries``: image subset (i2t: those images; t2i: their captions, image by image).
    """
    sims = [[float(np.dot(c, im)) for im in images] for c in captions]
    i2t, t2i = [], []
    for i in (range(len(images)) if queries is None else queries):
        best = max(sims[j][i] for j in range(len(captions)) if owner[j] == i)
        i2t.append(1 + sum(1 for j in range(len(captions)) if owner[j] != i and sims[j][i] >= best - tol))
    for i in (range(len(images)) if queries is None else queries):
        for j in (j for j in range(len(captions)) if owner[j] == i):
            pos = sims[j][owner[j]]
            t2i.append(1 + sum(1 for t in range(len(images)) if t != owner[j] and sims[j][t] >= pos - tol))
    return i2t, t2i


def brute_metric(name: str, i2t: list[int], t2i: list[int]) -> float:
    direction, stat = name.split("_", 1)
    ranks = i2t if direction == "i2t" else t2i
    if stat.startswith("r"):
        k = int(stat[1:])
        return sum(1 for r in ranks if r <= k) / len(ranks)
    if stat == "mean_rank":
        return sum(ranks) / len(ranks)
    ordered, m = sorted(ranks), len(ranks)
    return (ordered[(m - 1) // 2] + ordered[m // 2]) / 2


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ranks_equal_brute_force_with_ties(seed: int) -> None:
    s = random_suite(seed)
    ranks = rank_arrays(s.images, s.captions, s.owner, block=7)
    i2t, t2i = brute_ranks(s.images, s.captions, s.owner)
    assert ranks.i2t.tolist() == i2t
    order = np.argsort(s.owner, kind="stable")  # brute force lists captions image by image
    assert ranks.t2i[order].tolist() == t2i
    assert min(t2i) >= 1 and min(i2t) >= 1
    # The duplicated images tie: none of their captions can rank its own image first.
    assert all(r >= 3 for r in ranks.t2i[np.isin(s.owner, [2, 3, 7])])


@pytest.mark.parametrize("seed", [0, 3])
def test_block_size_never_changes_ranks(seed: int) -> None:
    s = random_suite(seed)
    results = [rank_arrays(s.images, s.captions, s.owner, block=b) for b in (1, 3, 4096)]
    for other in results[1:]:
        assert np.array_equal(other.i2t, results[0].i2t)
        assert np.array_equal(other.t2i, results[0].t2i)


def test_ties_are_pessimistic_and_rounding_proof() -> None:
    def unit(deg: float) -> list[float]:
        return [math.cos(math.radians(deg)), math.sin(math.radians(deg))]

    for turn in (0.0, 45.0, 17.3):  # rotated: equal cosines differ in the last bits
        images = np.array([unit(turn + 30), unit(turn - 30), unit(turn + 150)])
        captions = np.array([unit(turn), unit(turn + 60), unit(turn - 30), unit(turn - 30)])
        owner = np.array([0, 2, 1, 1])
        ranks = rank_arrays(images, captions, owner)
        # Caption 0 is as close to image 1 as to its own image 0: rank 2, not 1. Caption 1
        # (image 2, cosine 0) ties image 1 and trails image 0: rank 3.
        assert ranks.t2i.tolist() == [2, 3, 1, 1]
        # Image 0's caption ties caption 1 (image 2's): rank 2. Image 1's two captions are
        # identical; the second positive is not counted against the first: rank 1.
        assert ranks.i2t.tolist() == [2, 1, 1]


@pytest.mark.parametrize("seed", [0, 1])
def test_metrics_equal_brute_force(seed: int) -> None:
    s = random_suite(seed)
    i2t, t2i = brute_ranks(s.images, s.captions, s.owner)
    for cls in ALL:
        metric = cls()
        stats = metric.per_sample(s, {})
        assert stats.shape[0] == len(s.images)
        assert float(metric.aggregate(stats)) == pytest.approx(brute_metric(metric.name, i2t, t2i), abs=1e-12)
        assert metric.sample_values(stats).shape == (len(s.images),)
        assert metric.higher_is_better == ("_r" in metric.name and "rank" not in metric.name)


def test_resampled_rows_equal_brute_force_on_resampled_queries() -> None:
    """A bootstrap resamples images as queries (with their captions) against the fixed gallery."""
    s = random_suite(4)
    rng = np.random.default_rng(5)
    for _ in range(3):
        idx = rng.integers(0, len(s.images), size=len(s.images))
        i2t, t2i = brute_ranks(s.images, s.captions, s.owner, queries=idx.tolist())
        for cls in ALL:
            metric = cls()
            stats = metric.per_sample(s, {})
            value = float(metric.aggregate(stats[idx]))
            assert value == pytest.approx(brute_metric(metric.name, i2t, t2i), abs=1e-12), metric.name


def test_batched_aggregate_keeps_leading_axes() -> None:
    s = random_suite(6)
    idx = np.random.default_rng(7).integers(0, len(s.images), size=(4, 5, len(s.images)))
    for cls in ALL:
        metric = cls()
        stats = metric.per_sample(s, {})
        batched = metric.aggregate(stats[idx])
        assert batched.shape == (4, 5)
        expected = [[float(metric.aggregate(stats[row])) for row in rows] for rows in idx]
        assert batched == pytest.approx(np.array(expected), abs=1e-12)


def test_t2i_median_rows_are_nan_padded() -> None:
    s = FakeInputs(np.eye(3), np.eye(3)[[0, 1, 1, 1, 2]], np.array([0, 1, 1, 1, 2]))
    stats = T2IMedianRank().per_sample(s, {})
    assert stats.shape == (3, 3)
    assert np.isnan(stats[0, 1:]).all() and np.isnan(stats[2, 1:]).all()
    assert nan_median(np.array([[1.0, np.nan, 3.0, 2.0], [np.nan] * 4])).tolist()[0] == 2.0
    assert np.isnan(nan_median(np.array([np.nan, np.nan])))


def test_metrics_read_the_ranks_of_their_inputs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each metric asks its inputs for the ranks once and computes none itself: the scoring view owns them."""
    s = random_suite(8)
    calls = []
    real = retrieval.rank_arrays
    monkeypatch.setattr(retrieval, "rank_arrays", lambda *a, **k: calls.append(1) or real(*a, **k))
    for cls in ALL:
        cls().per_sample(s, {})
    assert s.computed == len(ALL) and len(calls) == len(ALL)


def test_bad_inputs_are_refused() -> None:
    images = np.eye(3)
    with pytest.raises(GoldenError, match="'s2'"):
        rank_all(FakeInputs(images, np.eye(3)[:2], np.array([0, 1])))
    with pytest.raises(AdapterError, match="non-finite"):
        rank_all(FakeInputs(np.full((3, 3), np.nan), np.eye(3), np.array([0, 1, 2])))
    with pytest.raises(ValueError, match="outside"):
        rank_arrays(images, np.eye(3), np.array([0, 1, 3]))


def test_definitions_state_ties_and_differ() -> None:
    defs = [cls().definition({}, "candidate") for cls in ALL]
    assert all("pessimistic (a tie counts against the model)" in d["ties"] for d in defs)
    assert len({fingerprint(d) for d in defs}) == len(ALL)
    assert len({cls.name for cls in ALL}) == len(ALL)


def tied_suite(seed: int, n: int, d: int, grid: bool, dup_images: int, dup_captions: int) -> FakeInputs:
    """1-4 captions per image; ties from copied rows and, with ``grid``, from rounding to a coarse grid
    (exact duplicates, and equal cosines that differ in their last bits)."""
    rng = np.random.default_rng(seed)
    images = rng.normal(size=(n, d))
    owner = np.repeat(np.arange(n), rng.integers(1, 5, size=n))
    rng.shuffle(owner)
    captions = images[owner] + rng.normal(scale=1.2, size=(len(owner), d))
    if grid:
        images, captions = np.round(images * 1.5), np.round(captions * 1.5)
    for rows, copies in ((images, dup_images), (captions, dup_captions)):
        rows[~rows.any(axis=1), 0] = 1.0  # no zero vectors
        for _ in range(copies):
            rows[rng.integers(len(rows))] = rows[rng.integers(len(rows))]
    return FakeInputs(normalise(images), normalise(captions), owner)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 10), d=st.integers(2, 4), grid=st.booleans(),
       dup_images=st.integers(0, 3), dup_captions=st.integers(0, 4), data=st.data())
def test_resampled_aggregate_equals_brute_force_on_resampled_queries(
        seed, n, d, grid, dup_images, dup_captions, data) -> None:
    """The row is the image: i2t queries are the resampled images, t2i queries their captions
    (each image's captions as a group, repeated with it); the gallery is always the full suite."""
    s = tied_suite(seed, n, d, grid, dup_images, dup_captions)
    rows = data.draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=15), label="rows")
    batch = data.draw(st.lists(st.lists(st.integers(0, n - 1), min_size=3, max_size=3),
                               min_size=1, max_size=3), label="batch")
    expected = {tuple(q): brute_ranks(s.images, s.captions, s.owner, queries=q, tol=retrieval.TIE_TOL)
                for q in [rows, *batch]}
    for cls in ALL:
        metric = cls()
        stats = metric.per_sample(s, {})
        i2t, t2i = expected[tuple(rows)]
        assert float(metric.aggregate(stats[rows])) == pytest.approx(
            brute_metric(metric.name, i2t, t2i), abs=1e-12), metric.name
        values = metric.aggregate(stats[np.array(batch)])  # [b, m, k] at once
        assert values.shape == (len(batch),)
        for b, q in enumerate(batch):
            assert values[b] == pytest.approx(brute_metric(metric.name, *expected[tuple(q)]), abs=1e-12), metric.name
