"""The paired bootstrap: exactness against a plain loop, orientation, and calibration by simulation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from qa_gate.metrics.clip import CLIPScore
from qa_gate.metrics.registry import get_metric, metric_names
from qa_gate.verdict.stats import DropEstimate, estimate_drop, judge_drop, paired_drops

CLIP_MEAN = CLIPScore().aggregate


def ratio(stats: np.ndarray) -> np.ndarray:
    """A corpus-level metric: sum(col 0) / sum(col 1), e.g. matches over reference length."""
    return stats[..., 0].sum(axis=-1) / stats[..., 1].sum(axis=-1)


def clip_pair(n: int, noise: float, true_drop: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Per-sample CLIPScores: baseline ~ N(0.7, 0.1); candidate = baseline - true_drop + N(0, noise)."""
    base = rng.normal(0.7, 0.1, size=(n, 1))
    return base - true_drop + rng.normal(0.0, noise, size=(n, 1)), base


def counts_pair(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Per-sample (matches, length) counts for a ratio metric, candidate slightly worse."""
    length = rng.integers(5, 20, size=n).astype(float)
    base = np.stack([rng.binomial(length.astype(int), 0.6), length], axis=1).astype(float)
    cand = np.stack([rng.binomial(length.astype(int), 0.55), length], axis=1).astype(float)
    return cand, base


def simulate(*, n: int, noise: float, true_drop: float, runs: int = 200, allowed: float = 0.01,
             confidence: float = 0.95, resamples: int = 1000, seed: int = 0) -> list[DropEstimate]:
    """One estimate per simulated CLIPScore run (see ``clip_pair``)."""
    rng = np.random.default_rng(seed)
    return [estimate_drop(CLIP_MEAN, *clip_pair(n, noise, true_drop, rng), higher_is_better=True,
                          relative=False, allowed=allowed, confidence=confidence, resamples=resamples,
                          seed=run) for run in range(runs)]


def fail_rate(estimates: list[DropEstimate], mode: str, allowed: float = 0.01) -> float:
    """Share of runs whose regression rule fails in ``mode``."""
    return sum(not judge_drop(est, allowed, mode) for est in estimates) / len(estimates)


# --- exactness -------------------------------------------------------------------------------------

def test_same_seed_same_result_and_other_seed_differs() -> None:
    cand, base = clip_pair(300, 0.05, 0.0, np.random.default_rng(1))
    kwargs = dict(higher_is_better=True, relative=False, resamples=500)
    p1, d1 = paired_drops(CLIP_MEAN, cand, base, seed=3, **kwargs)
    p2, d2 = paired_drops(CLIP_MEAN, cand, base, seed=3, **kwargs)
    _, d3 = paired_drops(CLIP_MEAN, cand, base, seed=4, **kwargs)
    assert p1 == p2 and np.array_equal(d1, d2)
    assert not np.array_equal(d1, d3)
    assert np.std(d1) > 0


@pytest.mark.parametrize("relative", [False, True])
def test_identical_sides_give_exactly_zero_drop(relative: bool) -> None:
    """Pairing: the same indices on both sides, so an unchanged model never moves."""
    cand, base = counts_pair(200, np.random.default_rng(2))
    for aggregate, stats in ((CLIP_MEAN, base[:, :1] / 20), (ratio, base)):
        point, drops = paired_drops(aggregate, stats, stats.copy(), higher_is_better=True,
                                    relative=relative, resamples=300)
        assert point == 0.0 and np.all(drops == 0.0)
        est = estimate_drop(aggregate, stats, stats.copy(), higher_is_better=True, relative=relative,
                            allowed=0.0, resamples=300)
        assert est.low == est.high == est.drop == 0.0
        assert judge_drop(est, 0.0, "strict") and judge_drop(est, 0.0, "significant")


@pytest.mark.parametrize(("aggregate", "k"), [(CLIP_MEAN, 1), (ratio, 2)])
def test_matches_a_plain_loop_with_the_same_draws(aggregate, k: int) -> None:
    rng = np.random.default_rng(5)
    n, resamples, seed = 37, 60, 11
    base = rng.uniform(1.0, 2.0, size=(n, k))
    cand = base + rng.normal(0.0, 0.3, size=(n, k))
    point, drops = paired_drops(aggregate, cand, base, higher_is_better=True, relative=False,
                                resamples=resamples, seed=seed, chunk_elements=5 * n + 3)
    loop_rng = np.random.default_rng(seed)
    expected = []
    for _ in range(resamples):
        idx = loop_rng.integers(0, n, size=n)
        expected.append(float(aggregate(base[idx])) - float(aggregate(cand[idx])))
    assert point == pytest.approx(float(aggregate(base)) - float(aggregate(cand)), rel=1e-12)
    np.testing.assert_allclose(drops, expected, rtol=1e-12, atol=1e-15)


def test_chunk_size_does_not_change_the_result() -> None:
    cand, base = counts_pair(101, np.random.default_rng(6))
    results = [paired_drops(ratio, cand, base, higher_is_better=True, relative=True, resamples=257, seed=9,
                            chunk_elements=chunk)[1] for chunk in (1, 101, 3 * 101 + 7, 50 * 101, 10**9)]
    for other in results[1:]:
        assert np.array_equal(results[0], other)


# --- orientation and units -------------------------------------------------------------------------

def test_lower_is_better_counts_an_increase_as_a_drop() -> None:
    """An error-rate metric (edits / reference length): more errors is a positive drop."""
    rng = np.random.default_rng(7)
    length = rng.integers(5, 30, size=400).astype(float)
    base = np.stack([rng.binomial(length.astype(int), 0.10), length], axis=1).astype(float)
    cand = np.stack([rng.binomial(length.astype(int), 0.15), length], axis=1).astype(float)
    lower = estimate_drop(ratio, cand, base, higher_is_better=False, relative=False, allowed=0.01,
                          resamples=1000)
    assert lower.drop == pytest.approx(ratio(cand) - ratio(base))
    assert lower.drop > 0.03 and lower.low > 0.01
    assert not judge_drop(lower, 0.01, "significant")
    _, d_low = paired_drops(ratio, cand, base, higher_is_better=False, relative=False, resamples=200)
    _, d_high = paired_drops(ratio, cand, base, higher_is_better=True, relative=False, resamples=200)
    assert np.array_equal(d_low, -d_high)


def test_relative_mode_is_percent_of_the_baseline_per_resample() -> None:
    rng = np.random.default_rng(8)
    base = rng.uniform(0.5, 1.0, size=(250, 1))
    est = estimate_drop(CLIP_MEAN, 0.9 * base, base, higher_is_better=True, relative=True, allowed=5.0,
                        resamples=500)
    # mean(0.9 b) / mean(b) is 0.9 on every resample: a 10 % drop with no spread.
    assert est.drop == pytest.approx(10.0, abs=1e-9)
    assert est.low == pytest.approx(10.0, abs=1e-9) and est.high == pytest.approx(10.0, abs=1e-9)
    assert not judge_drop(est, 5.0, "significant") and judge_drop(est, 10.5, "strict")
    cand, base = counts_pair(300, rng)
    p_abs, d_abs = paired_drops(ratio, cand, base, higher_is_better=True, relative=False, resamples=300)
    p_rel, d_rel = paired_drops(ratio, cand, base, higher_is_better=True, relative=True, resamples=300)
    assert p_rel == pytest.approx(100 * p_abs / abs(ratio(base)), rel=1e-12)
    assert np.all(np.sign(d_rel) == np.sign(d_abs)) and not np.allclose(d_rel, 100 * d_abs / ratio(base))


def test_relative_mode_with_a_zero_baseline() -> None:
    zeros = np.zeros((50, 1))
    worse = estimate_drop(CLIP_MEAN, zeros + 0.1, zeros, higher_is_better=False, relative=True, allowed=5.0,
                          resamples=200)
    assert worse.drop == worse.low == worse.high == math.inf
    assert not judge_drop(worse, 5.0, "significant") and not judge_drop(worse, 5.0, "strict")
    better = estimate_drop(CLIP_MEAN, zeros + 0.1, zeros, higher_is_better=True, relative=True, allowed=5.0,
                           resamples=200)
    assert better.drop == better.low == better.high == 0.0
    assert judge_drop(better, 5.0, "strict")


def test_an_undefined_aggregate_fails_in_both_modes() -> None:
    stats = np.zeros((30, 2))  # 0 / 0 everywhere
    with np.errstate(invalid="ignore"):
        est = estimate_drop(ratio, stats, stats, higher_is_better=True, relative=False, allowed=0.01,
                            resamples=50)
    assert math.isnan(est.drop)
    assert not judge_drop(est, 0.01, "significant") and not judge_drop(est, 0.01, "strict")


def test_estimate_fields_and_judge_boundaries() -> None:
    cand, base = clip_pair(400, 0.05, 0.005, np.random.default_rng(10))
    est = estimate_drop(CLIP_MEAN, cand, base, higher_is_better=True, relative=False, allowed=0.01,
                        confidence=0.9, resamples=800)
    assert (est.n, est.resamples, est.confidence) == (400, 800, 0.9)
    assert est.low < est.drop < est.high
    assert est.min_detectable == pytest.approx(0.01 + est.drop - est.low)
    at = DropEstimate(drop=0.02, low=0.01, high=0.03, confidence=0.95, resamples=1, min_detectable=0.02, n=1)
    assert judge_drop(at, 0.01, "significant") and not judge_drop(at, 0.00999, "significant")
    assert judge_drop(at, 0.03, "strict") and not judge_drop(at, 0.02999, "strict")


def test_bad_inputs_are_value_errors() -> None:
    a = np.ones((5, 1))
    kw = dict(higher_is_better=True, relative=False, resamples=10)
    with pytest.raises(ValueError, match="differ in shape"):
        paired_drops(CLIP_MEAN, a, np.ones((6, 1)), **kw)
    with pytest.raises(ValueError, match="n == 0"):
        paired_drops(CLIP_MEAN, np.ones((0, 1)), np.ones((0, 1)), **kw)
    with pytest.raises(ValueError, match=r"\[n, k\]"):
        paired_drops(CLIP_MEAN, np.ones(5), np.ones(5), **kw)
    with pytest.raises(ValueError, match="keeping leading axes"):
        paired_drops(lambda s: np.float64(s.mean()), a, a, **kw)
    for confidence in (0.5, 1.0, 0.3):
        with pytest.raises(ValueError, match="confidence"):
            estimate_drop(CLIP_MEAN, a, a, allowed=0.0, confidence=confidence, **kw)
    est = estimate_drop(CLIP_MEAN, a, a, allowed=0.0, **kw)
    with pytest.raises(ValueError, match="unknown mode"):
        judge_drop(est, 0.0, "lenient")


@settings(max_examples=60, deadline=None)
@given(data=st.data(), n=st.integers(1, 40), higher=st.booleans(), relative=st.booleans(),
       use_ratio=st.booleans())
def test_point_drop_is_the_oriented_aggregate_difference(data, n: int, higher: bool, relative: bool,
                                                         use_ratio: bool) -> None:
    values = st.floats(0.01, 100.0, allow_nan=False, allow_infinity=False)
    cand = data.draw(arrays(np.float64, (n, 2), elements=values))
    base = data.draw(arrays(np.float64, (n, 2), elements=values))
    aggregate = ratio if use_ratio else CLIP_MEAN
    b, c = float(aggregate(base)), float(aggregate(cand))
    expected = (b - c) if higher else (c - b)
    if relative:
        expected = 100.0 * expected / abs(b)
    est = estimate_drop(aggregate, cand, base, higher_is_better=higher, relative=relative, allowed=0.0,
                        resamples=20)
    assert est.drop == pytest.approx(expected, rel=1e-12, abs=1e-12)
    assert est.low <= est.high


# --- statistical behaviour by simulation -------------------------------------------------------------
# Per-sample CLIPScore (2.5 scale) ~ N(0.7, 0.1); two checkpoints differ per sample by N(0, 0.05):
# a retrained or fine-tuned model, not mere GPU jitter. 500 samples, max_drop = 0.01.

def test_significant_rarely_fails_an_unchanged_model() -> None:
    assert fail_rate(simulate(n=500, noise=0.05, true_drop=0.0), "significant") <= 0.08


def test_significant_is_calibrated_at_the_allowed_drop() -> None:
    """A true drop of exactly max_drop fails about 1 - confidence of the time, not 0 and not half."""
    rate = fail_rate(simulate(n=500, noise=0.05, true_drop=0.01), "significant")
    assert 0.01 <= rate <= 0.10


def test_significant_detects_twice_the_allowed_drop() -> None:
    assert fail_rate(simulate(n=500, noise=0.05, true_drop=0.02), "significant") >= 0.95


def test_strict_refuses_a_drop_a_tiny_noisy_suite_cannot_bound() -> None:
    """20 samples, per-sample noise 0.15, no true change: the bound is ~0.055 wide, far above max_drop.

    Strict only passes when the candidate happens to look clearly better (~9 % of runs here).
    """
    estimates = simulate(n=20, noise=0.15, true_drop=0.0)
    assert fail_rate(estimates, "strict") >= 0.85
    assert fail_rate(estimates, "significant") <= 0.10
    split = sum(not judge_drop(e, 0.01, "strict") and judge_drop(e, 0.01, "significant") for e in estimates)
    assert split / len(estimates) >= 0.8


def test_strict_holds_when_the_suite_can_bound_the_drop() -> None:
    assert fail_rate(simulate(n=2000, noise=0.01, true_drop=0.0, runs=50), "strict") == 0.0


def _valid_stats(name: str, rng: np.random.Generator, n: int) -> np.ndarray:
    """Plausible per-sample statistics of a mean-sufficient metric."""
    if name.startswith("f1_"):
        labels = 4
        counts = rng.integers(0, 2, size=(n, 3 * labels)).astype(float)
        return np.concatenate([counts, np.full((n, 1), float(rng.integers(0, 2)))], axis=1)
    if name in ("cer", "wer", "text_agreement", "label_agreement_micro") or name.startswith(("t2i_", "chair_")) \
            or name == "object_recall":  # a count over a larger count
        return np.stack([rng.integers(0, 5, n), rng.integers(5, 9, n)], axis=1).astype(float)
    if name.startswith("pope_"):  # one-hot TP/FP/TN/FN rows
        return np.eye(4)[rng.integers(0, 4, n)]
    if name == "label_agreement":
        union = rng.integers(1, 6, n)
        inter = rng.integers(0, union + 1)
        return np.stack([inter / union, inter, union], axis=1).astype(float)
    if name == "caption_agreement_clipscore":
        cand, prod = rng.random(n), rng.random(n)
        return np.stack([cand - prod, cand, prod], axis=1)
    if name.startswith(("i2t_r", "zeroshot_")):
        rank = rng.integers(1, 20, n).astype(float)
        return np.stack([(rank <= 5).astype(float), rank], axis=1)
    return rng.random((n, 1))


MEAN_SUFFICIENT = [name for name in metric_names() if get_metric(name).mean_sufficient]


def test_the_mean_sufficient_metrics_are_the_ratio_and_mean_ones() -> None:
    assert set(MEAN_SUFFICIENT) == {
        "f1_micro", "f1_macro", "f1_weighted", "cer", "wer", "vqa_accuracy", "clipscore", "refclipscore", "cosine",
        "i2t_r1", "i2t_r5", "i2t_r10", "i2t_mean_rank", "t2i_r1", "t2i_r5", "t2i_r10", "t2i_mean_rank",
        "zeroshot_top1", "zeroshot_top5", "pope_accuracy", "pope_precision", "pope_recall", "pope_f1",
        "pope_yes_ratio", "chair_i", "chair_s", "object_recall", "answer_agreement", "label_agreement",
        "label_agreement_micro", "caption_agreement_clipscore", "text_agreement", "embedding_agreement"}


@pytest.mark.parametrize("name", MEAN_SUFFICIENT)
def test_a_mean_sufficient_aggregate_only_reads_the_mean_row(name: str) -> None:
    metric, rng = get_metric(name), np.random.default_rng(3)
    for n in (1, 7, 40):
        stats = _valid_stats(name, rng, n)
        assert metric.aggregate(stats) == pytest.approx(metric.aggregate(stats.mean(axis=0, keepdims=True)), abs=1e-12)


@pytest.mark.parametrize("name", MEAN_SUFFICIENT)
def test_counted_resamples_equal_gathered_ones(name: str) -> None:
    metric, rng = get_metric(name), np.random.default_rng(4)
    base = _valid_stats(name, rng, 30)
    cand = _valid_stats(name, rng, 30)
    if name.startswith("f1_"):
        cand[:, -1] = base[0, -1]  # one zero_division per suite
    for relative in (False, True):
        kwargs = dict(higher_is_better=metric.higher_is_better, relative=relative, resamples=300, seed=5,
                      chunk_elements=1000)
        point, gathered = paired_drops(metric.aggregate, cand, base, **kwargs)
        counted_point, counted = paired_drops(metric.aggregate, cand, base, mean_sufficient=True, **kwargs)
        assert counted_point == point
        np.testing.assert_allclose(counted, gathered, rtol=1e-12, atol=1e-12)
