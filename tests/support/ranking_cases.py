"""Random embeddings with exact and near ties, and the float64 numpy ranks every faster ranking must equal.

``reference_positive_ranks`` is the implementation ranks were computed with before the float32 tiles
(float64 numpy tiles), kept only as the reference.
"""

from __future__ import annotations

import numpy as np

from qa_gate.metrics.host_ranking import TIE_TOL


def reference_positive_ranks(queries: np.ndarray, targets: np.ndarray, owner: np.ndarray, *,
                             block: int = 2048, reverse: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """The float64 numpy implementation ranks were computed with before (verbatim but for its checks)."""
    queries, targets = np.asarray(queries, dtype=np.float64), np.asarray(targets, dtype=np.float64)
    nq, nt = len(queries), len(targets)
    pos = np.empty(nq)
    for a in range(0, nq, block):
        pos[a:a + block] = np.einsum("ij,ij->i", queries[a:a + block], targets[owner[a:a + block]])
    best = np.full(nt, -np.inf)
    np.maximum.at(best, owner, pos)
    fwd_thr, rev_thr = pos - TIE_TOL, best - TIE_TOL
    fwd, rev = np.zeros(nq, dtype=np.int64), np.zeros(nt, dtype=np.int64)
    for a in range(0, nq, block):
        own = owner[a:a + block]
        for c in range(0, nt, block):
            sims = queries[a:a + block] @ targets[c:c + block].T
            rows = np.flatnonzero((own >= c) & (own < c + block))
            sims[rows, own[rows] - c] = np.nan
            fwd[a:a + block] += np.count_nonzero(sims >= fwd_thr[a:a + block, None], axis=1)
            if reverse:
                rev[c:c + block] += np.count_nonzero(sims >= rev_thr[None, c:c + block], axis=0)
    return fwd + 1, np.where(np.isfinite(best), rev + 1, 0)


def normalise(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def suite(seed: int, n: int, d: int, dtype: str, *, grid: bool = False, texts: int | None = None,
          near: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Images, 1-5 captions each and their owners. ``grid``: coordinates on a coarse grid (many exact and
    last-bit ties); ``texts``: captions drawn from that many distinct texts (heavy tie rows); ``near``:
    captions nudged by a few ulps of each other (near ties float32 cannot tell apart)."""
    rng = np.random.default_rng(seed)
    images = rng.normal(size=(n, d))
    owner = np.repeat(np.arange(n), rng.integers(1, 6, size=n))
    rng.shuffle(owner)
    captions = images[owner] + rng.normal(scale=1.0, size=(len(owner), d))
    if grid:
        images, captions = np.round(images), np.round(captions)
        images[~images.any(axis=1), 0] = 1.0
        captions[~captions.any(axis=1), 0] = 1.0
    if texts is not None:
        captions = captions[rng.integers(0, texts, size=len(captions))]
    images[5:9] = images[4]  # duplicate images
    captions[10:14] = captions[3]  # duplicate captions of other images
    images, captions = normalise(images), normalise(captions)
    if near:
        captions[20:40] = captions[19] + rng.normal(scale=1e-9, size=(20, d))
    return images.astype(dtype), captions.astype(dtype), owner


CASES = [
    dict(seed=0, n=300, d=16),
    dict(seed=1, n=300, d=16, grid=True),
    dict(seed=2, n=200, d=8, texts=12),
    dict(seed=3, n=250, d=32, near=True),
    dict(seed=4, n=120, d=3, grid=True, texts=30),
]
