"""Float32 ranks through the torch tiles (``tiled_positive_ranks``, on the CPU here) against the float64
numpy implementation they replace (``positive_ranks`` itself ranks on the CPU with numpy).

``reference_positive_ranks`` (``tests/support/ranking_cases.py``) is the previous implementation
(float64 numpy tiles), kept only as the reference: the new ranks must be the same integers on random
inputs, with exact ties (copied rows, a coarse grid), near ties (cosines a few ulps apart), many
captions per image, both directions and zero-shot class ranks, whatever the block size and input dtype.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from support.ranking_cases import CASES, normalise, reference_positive_ranks, suite

from qa_gate.metrics import ranking
from qa_gate.metrics.ranking import TIE_TOL, error_bound
from qa_gate.metrics.ranking import tiled_positive_ranks as positive_ranks
from qa_gate.metrics.retrieval import rank_arrays
from qa_gate.metrics.zeroshot import true_class_ranks


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(f"{k}{v}" for k, v in c.items()))
def test_both_directions_equal_the_float64_reference(case: dict, dtype: str) -> None:
    images, captions, owner = suite(dtype=dtype, **case)
    want_t2i, want_i2t = reference_positive_ranks(captions, images, owner)
    for block in (4096, 64, 37):
        t2i, i2t = positive_ranks(captions, images, owner, block=block)
        np.testing.assert_array_equal(t2i, want_t2i)
        np.testing.assert_array_equal(i2t, want_i2t)
    ranks = rank_arrays(images, captions, owner, block=50)
    np.testing.assert_array_equal(ranks.t2i, want_t2i)
    np.testing.assert_array_equal(ranks.i2t, want_i2t)


def test_tie_heavy_suite_has_ties_and_uses_both_refinements(monkeypatch: pytest.MonkeyPatch) -> None:
    """The tie-heavy case reaches both float64 paths (whole rows and single entries), and ranks tie."""
    images, captions, owner = suite(seed=5, n=300, d=8, dtype="float32", texts=3)
    heavy_rows, single = [], []
    real = ranking._redone

    def spy(pairs, sims, first, thr, vectors, right):  # type: ignore[no-untyped-def]
        per_line = torch.bincount(pairs[:, 0], minlength=sims.shape[0])
        per_line = per_line[per_line > 0]
        heavy_rows.append(int((per_line >= ranking.HEAVY_ROW).sum()))
        single.append(int(per_line[per_line < ranking.HEAVY_ROW].sum()))
        return real(pairs, sims, first, thr, vectors, right)

    monkeypatch.setattr(ranking, "_redone", spy)
    t2i, i2t = positive_ranks(captions, images, owner, block=256)
    want_t2i, want_i2t = reference_positive_ranks(captions, images, owner)
    np.testing.assert_array_equal(t2i, want_t2i)
    np.testing.assert_array_equal(i2t, want_i2t)
    assert sum(heavy_rows) > 0 and sum(single) > 0
    assert (i2t > 50).mean() > 0.5  # three distinct texts: most images tie with dozens of captions


def test_a_tie_counts_against_the_model_even_when_float32_rounds_it_away() -> None:
    """Two targets whose float64 cosines with the query differ by 2e-10 (a tie within TIE_TOL) and by
    far less than float32 can see: the rank counts the other target, as the float64 rule does."""
    query = np.array([[1.0, 0.0, 0.0]])
    base = np.array([0.6, 0.8, 0.0])
    other = normalise((base + np.array([0.0, 0.0, 1e-5]))[None])[0]  # cosine with the query: 0.6 (1 - 5e-11)
    targets = np.stack([base, other])
    assert abs(float(query[0] @ other) - 0.6) < TIE_TOL
    fwd, _ = positive_ranks(query, targets, np.array([0]), reverse=False)
    assert fwd.tolist() == [2]
    fwd, _ = positive_ranks(query, targets[::-1].copy(), np.array([0]), reverse=False)
    assert fwd.tolist() == [2]


@pytest.mark.parametrize("seed", [0, 1])
def test_zero_shot_class_ranks_equal_the_reference(seed: int) -> None:
    rng = np.random.default_rng(seed)
    images = normalise(rng.normal(size=(500, 12))).astype(np.float32)
    classes = normalise(rng.normal(size=(30, 12)))
    classes[7] = classes[3]  # a duplicate class: exact ties
    labels = rng.integers(0, 30, size=500)
    want, _ = reference_positive_ranks(images, classes, labels, reverse=False)
    np.testing.assert_array_equal(true_class_ranks(images, classes, labels, block=64), want)
    np.testing.assert_array_equal(true_class_ranks(images, classes, labels, device="cpu"), want)


def test_error_bound_covers_float32_products() -> None:
    """The bound the filter relies on holds with room on adversarial-ish inputs (large d, same signs)."""
    rng = np.random.default_rng(0)
    d = 2048
    q = normalise(np.abs(rng.normal(size=(64, d))))
    t = normalise(np.abs(rng.normal(size=(64, d))))
    exact = q @ t.T
    approx = (torch.from_numpy(q).float() @ torch.from_numpy(t).float().T).double().numpy()
    assert np.abs(approx - exact).max() < error_bound(d)
    assert error_bound(512) < 5e-5


def test_reduced_precision_setting_is_restored() -> None:
    before = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("medium")
    try:
        images, captions, owner = suite(seed=6, n=50, d=8, dtype="float32")
        positive_ranks(captions, images, owner)
        assert torch.get_float32_matmul_precision() == "medium"
    finally:
        torch.set_float32_matmul_precision(before)


@pytest.mark.parametrize("case", CASES[1:3], ids=["grid", "texts"])
def test_torch_counting_path_equals_the_reference(case: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    """The path devices other than the CPU count with (torch reductions) gives the same ranks, run on the CPU."""
    monkeypatch.setattr(ranking, "_counts_on_host", lambda device: False)
    images, captions, owner = suite(dtype="float32", **case)
    want_t2i, want_i2t = reference_positive_ranks(captions, images, owner)
    for block in (4096, 37):
        t2i, i2t = positive_ranks(captions, images, owner, block=block)
        np.testing.assert_array_equal(t2i, want_t2i)
        np.testing.assert_array_equal(i2t, want_i2t)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_ranks_equal_the_reference() -> None:
    images, captions, owner = suite(seed=7, n=2000, d=64, dtype="float32", grid=True)
    want_t2i, want_i2t = reference_positive_ranks(captions, images, owner)
    t2i, i2t = positive_ranks(captions, images, owner, device="cuda", block=512)
    np.testing.assert_array_equal(t2i, want_t2i)
    np.testing.assert_array_equal(i2t, want_i2t)
