"""BLAS pools scoped to the bootstrap: one thread inside, restored after, and numbers the same but for last bits."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from qa_gate.threads import blas_threads
from qa_gate.verdict import resampling
from qa_gate.verdict.resampling import Request, resample

threadpoolctl = pytest.importorskip("threadpoolctl")


def _blas_threads() -> list[int]:
    return [p["num_threads"] for p in threadpoolctl.threadpool_info() if p["user_api"] == "blas"]


def test_the_limit_holds_inside_and_is_restored_after() -> None:
    np.ones((4, 4)) @ np.ones((4, 4))  # numpy's BLAS is loaded
    before = _blas_threads()
    assert before
    with blas_threads(1):
        assert set(_blas_threads()) == {1}
    assert _blas_threads() == before
    with blas_threads(None):
        assert _blas_threads() == before


def test_without_threadpoolctl_nothing_changes(monkeypatch: pytest.MonkeyPatch) -> None:
    before = _blas_threads()
    monkeypatch.setitem(sys.modules, "threadpoolctl", None)  # import fails
    with blas_threads(1):
        assert _blas_threads() == before


def test_the_bootstrap_is_the_same_on_one_thread_and_on_the_pools_as_they_are(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(0)
    n = 3000
    ranks = rng.integers(1, 9, size=(n, 1)).astype(float)
    cand = np.hstack([rng.random((n, 1)), ranks])
    base = np.hstack([rng.random((n, 1)), ranks + 1])
    rows = np.flatnonzero(rng.random(n) < 0.3)
    mean = lambda s: s[..., 0].mean(axis=-1)  # noqa: E731
    ratio = lambda s: s[..., 0].sum(axis=-1) / s[..., 1].sum(axis=-1)  # noqa: E731
    requests = [Request("mean", mean, True, cand[:, :1], base[:, :1]), Request("ratio", ratio, True, cand, base),
                Request("slice", ratio, True, cand[rows], base[rows], rows)]
    seen: list[list[int]] = []
    real = resampling._Table.run

    def spy(self, *args):  # type: ignore[no-untyped-def]
        seen.append(_blas_threads())
        return real(self, *args)

    monkeypatch.setattr(resampling._Table, "run", spy)
    found = {}
    for limit in (1, None):
        monkeypatch.setattr(resampling, "BLAS_THREADS", limit)
        found[limit] = resample(requests, n, resamples=300, seed=4, chunk_elements=n * 64)
    assert set(seen[0]) == {1}
    for one, free in zip(found[1], found[None]):  # a threaded BLAS may split a float64 sum: last bits only
        np.testing.assert_allclose(one.cand, free.cand, rtol=0, atol=1e-12)
        np.testing.assert_allclose(one.base, free.base, rtol=0, atol=1e-12)
