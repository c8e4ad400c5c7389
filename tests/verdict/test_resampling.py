"""One set of draws per suite: the suite's rules keep their drops, slices equal a plain loop over the draws."""

from __future__ import annotations

import numpy as np
import pytest
from support.runs import build_config, build_run

from qa_gate.config.model import MetricConfig, Rule, SliceConfig
from qa_gate.metrics.registry import get_metric
from qa_gate.results import CheckpointInfo, RunResult
from qa_gate.verdict.diffs import SHOWN_SLICES
from qa_gate.verdict.gate import evaluate
from qa_gate.verdict.resampling import Request, draw_indices, resample
from qa_gate.verdict.stats import paired_drops


def ratio(stats: np.ndarray) -> np.ndarray:
    return stats[..., 0].sum(axis=-1) / stats[..., 1].sum(axis=-1)


def median(stats: np.ndarray) -> np.ndarray:
    return np.median(stats[..., 0], axis=-1)


AGGREGATES = [(get_metric("clipscore").aggregate, True, 1), (ratio, True, 2), (median, False, 1),
              (get_metric("zeroshot_mean_per_class_recall").aggregate, False, 2)]


def stats_for(aggregate: object, k: int, n: int, rng: np.random.Generator) -> np.ndarray:
    if aggregate is AGGREGATES[3][0]:
        return np.stack([rng.integers(0, 2, n), rng.integers(0, 4, n)], axis=1).astype(float)
    out = rng.random((n, k))
    if k == 2:
        out[:, 1] += 1.0
    return out


@pytest.mark.parametrize("aggregate, mean_sufficient, k", AGGREGATES)
def test_suite_requests_keep_the_drops_of_paired_drops(aggregate, mean_sufficient: bool, k: int) -> None:
    rng = np.random.default_rng(0)
    cand, base = stats_for(aggregate, k, 53, rng), stats_for(aggregate, k, 53, rng)
    [found] = resample([Request("m", aggregate, mean_sufficient, cand, base)], 53, resamples=400, seed=7,
                       chunk_elements=900)
    _, drops = paired_drops(aggregate, cand, base, higher_is_better=False, relative=False, resamples=400, seed=7)
    assert found.drawn.all()
    np.testing.assert_allclose(found.cand - found.base, drops, rtol=0, atol=1e-12)


@pytest.mark.parametrize("aggregate, mean_sufficient, k", AGGREGATES)
def test_slice_requests_equal_a_loop_over_the_suite_draws(aggregate, mean_sufficient: bool, k: int) -> None:
    """A slice's resample is the suite's draws that fell in it; a resample drawing none of it is left out."""
    n, resamples, seed = 40, 300, 3
    rng = np.random.default_rng(1)
    cand, base = stats_for(aggregate, k, n, rng), stats_for(aggregate, k, n, rng)
    small, large = np.array([4, 17]), np.flatnonzero(rng.random(n) < 0.5)
    requests = [Request(("m", name), aggregate, mean_sufficient, cand[rows], base[rows], rows)
                for name, rows in (("small", small), ("large", large))]
    found = resample(requests, n, resamples=resamples, seed=seed, chunk_elements=7 * n)
    draws = np.random.default_rng(seed).integers(0, n, size=(resamples, n))
    for rows, result in zip((small, large), found):
        for r in range(resamples):
            picked = draws[r][np.isin(draws[r], rows)]
            assert result.drawn[r] == (len(picked) > 0)
            if len(picked):
                assert result.cand[r] == pytest.approx(float(aggregate(cand[picked])), abs=1e-12)
                assert result.base[r] == pytest.approx(float(aggregate(base[picked])), abs=1e-12)
            else:
                assert np.isnan(result.cand[r])
    assert 0 < (~found[0].drawn).sum() < resamples  # two of forty samples: some resamples miss them


def test_chunk_size_and_other_requests_do_not_change_a_result() -> None:
    rng = np.random.default_rng(2)
    n = 30
    cand, base = rng.random((n, 1)), rng.random((n, 1))
    rows = np.arange(0, n, 3)
    alone = resample([Request("a", median, False, cand[rows], base[rows], rows)], n, resamples=200, seed=1)
    together = resample([Request("b", ratio, True, np.hstack([cand, base + 1]), np.hstack([base, cand + 1])),
                         Request("a", median, False, cand[rows], base[rows], rows)], n, resamples=200, seed=1,
                        chunk_elements=n)
    np.testing.assert_array_equal(alone[0].cand, together[1].cand)
    np.testing.assert_array_equal(alone[0].drawn, together[1].drawn)


def test_bad_requests_are_value_errors() -> None:
    with pytest.raises(ValueError, match="one shape"):
        resample([Request("x", median, False, np.zeros((3, 1)), np.zeros((2, 1)))], 3, resamples=10, seed=0)
    with pytest.raises(ValueError, match="resamples"):
        resample([], 3, resamples=0, seed=0)
    with pytest.raises(ValueError, match="reduce"):
        resample([Request("x", lambda s: s.sum(), True, np.ones((3, 1)), np.ones((3, 1)))], 3, resamples=10, seed=0)


def _tagged_run(values: list[float], tags: list[dict[str, str]]) -> RunResult:
    return build_run({"clipscore": values}, [f"caption {i}" for i in range(len(values))], tags,
                     checkpoint=CheckpointInfo("open_clip", "ckpt", "abc", "tiny"), environment={},
                     created="2026-01-01T00:00:00", suite_fp="suite-fp", metric_fp="m-fp")


def test_the_verdict_draws_intervals_for_the_shown_and_ruled_slices_only() -> None:
    n = 60
    rng = np.random.default_rng(4)
    tags = [{"k": f"v{i % 30:02d}"} for i in range(n)]  # 30 slices of 2 samples
    base = _tagged_run(list(rng.random(n) + 1.0), tags)
    cand = _tagged_run(list(rng.random(n) + 1.0), tags)
    names = [f"k=v{i:02d}" for i in range(30)]
    ruled = names[0]
    rule = MetricConfig("clipscore", rules=(Rule("max_drop", 0.5),))
    config = build_config({"clipscore": [Rule("max_drop", 0.5)]}, [SliceConfig(ruled, "k", ruled[2:], (rule,))])
    verdict = evaluate(cand, base, config)
    assert sorted(s.slice for s in verdict.slices) == names
    with_interval = {s.slice for s in verdict.slices if s.low is not None}
    worst = {s.slice for s in sorted(verdict.slices, key=lambda s: s.delta or 0.0)[:SHOWN_SLICES]}
    assert with_interval == worst  # the ruled slice's rule has its estimate; its interval only if shown
    slice_check = next(c for c in verdict.checks if c.slice == ruled)
    assert slice_check.estimate is not None and slice_check.estimate.n == 2
    again = evaluate(cand, base, config)
    assert again.slices == verdict.slices and [c.estimate for c in again.checks] == [c.estimate for c in verdict.checks]


@pytest.mark.parametrize("name", ["t2i_median_rank", "i2t_median_rank", "zeroshot_mean_per_class_recall", "i2t_r1"])
def test_counted_requests_equal_a_loop_over_the_suite_draws(name: str) -> None:
    """Metrics with a counted form (medians, class recall, one summed column) on the suite and on slices, in one
    table with each other: each resample equals the aggregate of the rows it drew."""
    n, resamples, seed = 45, 120, 5
    rng = np.random.default_rng(6)
    impl = get_metric(name)
    if name == "t2i_median_rank":
        cand, base = rng.integers(1, 9, (n, 3)).astype(float), rng.integers(1, 9, (n, 3)).astype(float)
        cand[rng.random((n, 3)) < 0.3] = np.nan
        cand[:, 0] = base[:, 0] = 2.0
    elif name == "zeroshot_mean_per_class_recall":
        cand, base = (np.stack([rng.integers(0, 2, n), np.arange(n) % 5], axis=1).astype(float) for _ in range(2))
    else:
        cand, base = (np.stack([rng.integers(0, 2, n), rng.integers(1, 30, n)], axis=1).astype(float)
                      for _ in range(2))
    slices = [None, np.array([2, 9, 30]), np.flatnonzero(rng.random(n) < 0.5)]
    requests = [Request((name, i), impl.aggregate, impl.mean_sufficient, cand if rows is None else cand[rows],
                        base if rows is None else base[rows], rows, impl.counted) for i, rows in enumerate(slices)]
    requests.append(Request("ratio", ratio, True, np.abs(cand[:, :2]) + 1, np.abs(base[:, :2]) + 1))
    assert all(r.counted_sides() is not None for r in requests)
    found = resample(requests, n, resamples=resamples, seed=seed, chunk_elements=11 * n)
    draws = np.random.default_rng(seed).integers(0, n, size=(resamples, n))
    for rows, result in zip(slices, found):
        for r in range(resamples):
            picked = draws[r] if rows is None else draws[r][np.isin(draws[r], rows)]
            assert result.drawn[r] == (len(picked) > 0)
            if len(picked):
                assert result.cand[r] == pytest.approx(float(impl.aggregate(cand[np.sort(picked)])), abs=1e-12)
                assert result.base[r] == pytest.approx(float(impl.aggregate(base[np.sort(picked)])), abs=1e-12)


@pytest.mark.parametrize("n", [1, 7, 1000, 10_007, 2**20 + 3])
def test_int32_draws_are_the_int64_draws_and_leave_the_same_state(n: int) -> None:
    b = 3 if n > 2**16 else 40
    ours, theirs = np.random.default_rng(2026), np.random.default_rng(2026)
    for _ in range(2):  # a second chunk starts where the first left the generator
        drawn = draw_indices(ours, b, n)
        assert drawn.dtype == np.int32
        assert np.array_equal(drawn, theirs.integers(0, n, size=(b, n)))
    assert ours.bit_generator.state == theirs.bit_generator.state
