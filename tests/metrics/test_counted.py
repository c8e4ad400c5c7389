"""Counted forms of aggregates equal the aggregate of the drawn rows, gathered (``qa_gate.metrics.counted``)."""

from __future__ import annotations

import numpy as np
import pytest

from qa_gate.metrics.counted import class_recall_counted, median_counted
from qa_gate.metrics.registry import get_metric


def draws(rng: np.random.Generator, m: int, b: int, n_draws: int | None = None) -> np.ndarray:
    """``[b, m]`` float64 draw counts of ``b`` resamples of ``n_draws`` (default ``m``) rows with replacement."""
    picks = rng.integers(0, m, size=(b, n_draws or m))
    return np.stack([np.bincount(p, minlength=m) for p in picks]).astype(np.float64)


def finish(counted, counts: np.ndarray) -> np.ndarray:  # type: ignore[no-untyped-def]
    total = counts.sum(axis=1)
    return counted.finish(counts @ counted.columns, lambda which, rows: counts[which][:, rows], total)


def gathered(aggregate, stats: np.ndarray, counts: np.ndarray) -> np.ndarray:  # type: ignore[no-untyped-def]
    return np.array([float(aggregate(np.repeat(stats, c.astype(np.int64), axis=0))) for c in counts])


@pytest.mark.parametrize("values", ["spread", "ties", "atoms", "small"])
def test_pooled_median_equals_the_median_of_the_drawn_captions(values: str) -> None:
    """t2i_median_rank: NaN-padded caption ranks; spread ranks, many ties, a few huge atoms, a tiny suite."""
    rng = np.random.default_rng(len(values))
    m = 7 if values == "small" else 400
    stats = {"spread": rng.integers(1, 5000, (m, 5)), "ties": rng.integers(1, 8, (m, 5)),
             "atoms": np.where(rng.random((m, 5)) < 0.45, 1, rng.integers(2, 6, (m, 5))),
             "small": rng.integers(1, 4, (m, 5))}[values].astype(np.float64)
    stats[rng.random((m, 5)) < 0.4] = np.nan
    stats[:, 0] = rng.integers(1, 9, m)
    counts = draws(rng, m, 300)
    counts[0] = 0.0
    counts[0, 3] = 2.0  # one resample of a single row drawn twice
    metric = get_metric("t2i_median_rank")
    counted = metric.counted(stats)
    assert counted is not None
    np.testing.assert_array_equal(finish(counted, counts), gathered(metric.aggregate, stats, counts))


def test_median_far_from_the_full_median_and_of_no_items() -> None:
    """Resamples whose median lies beyond every cut (drawn only from one tail), and one drawing no item."""
    rng = np.random.default_rng(9)
    m = 2000
    stats = rng.integers(1, 100_000, (m, 1)).astype(np.float64)
    counted = median_counted(stats)
    assert counted is not None and len(counted.cuts) == 4
    low_rows = np.argsort(stats[:, 0])[:50]
    counts = draws(rng, m, 40)
    counts[:20] = 0.0
    counts[:20, low_rows] = draws(rng, 50, 20)
    agg = get_metric("i2t_median_rank").aggregate
    np.testing.assert_array_equal(finish(counted, counts), gathered(agg, stats, counts))
    nan_rows = np.full((3, 2), np.nan)
    nan_rows[0, 0] = 4.0
    empty = median_counted(nan_rows)
    assert empty is not None
    no_item = np.zeros((1, 3))
    no_item[0, 2] = 1.0  # drew the row without ranks only
    assert np.isnan(finish(empty, no_item)).all()


def test_i2t_median_keeps_nan_ranks_to_the_gathered_path() -> None:
    stats = np.array([[1.0], [np.nan], [3.0]])
    assert get_metric("i2t_median_rank").counted(stats) is None
    assert median_counted(np.array([[1.0], [np.inf]])) is None


@pytest.mark.parametrize("classes", [4, 40])
def test_class_recall_equals_the_aggregate_of_the_drawn_rows(classes: int) -> None:
    """Few classes through the shared product's columns, many through ``reduceat``; classes a resample misses
    are not averaged."""
    rng = np.random.default_rng(classes)
    m = 300
    stats = np.stack([rng.integers(0, 2, m), rng.integers(0, classes, m) * 2], axis=1).astype(np.float64)
    metric = get_metric("zeroshot_mean_per_class_recall")
    counted = metric.counted(stats)
    assert counted is not None
    counts = draws(rng, m, 200, n_draws=30)  # small resamples: classes go missing
    np.testing.assert_allclose(finish(counted, counts), gathered(metric.aggregate, stats, counts), rtol=0,
                               atol=1e-14)


def test_class_recall_refuses_labels_that_are_not_class_indices() -> None:
    assert class_recall_counted(np.array([[1.0, 0.5], [0.0, 1.0]])) is None
    assert class_recall_counted(np.array([[1.0, -1.0]])) is None
    assert class_recall_counted(np.array([[1.0, np.nan]])) is None


@pytest.mark.parametrize("name", ["i2t_r1", "i2t_mean_rank", "zeroshot_top5"])
def test_first_column_means_sum_one_column(name: str) -> None:
    rng = np.random.default_rng(3)
    rank = rng.integers(1, 20, 100).astype(np.float64)
    stats = np.stack([(rank <= 5).astype(float), rank], axis=1) if name != "i2t_mean_rank" else rank[:, None]
    metric = get_metric(name)
    counted = metric.counted(stats)
    assert counted is not None and counted.columns.shape == (100, 1)
    counts = draws(rng, 100, 50)
    np.testing.assert_allclose(finish(counted, counts), gathered(metric.aggregate, stats, counts), atol=1e-12)
