"""The ranks of ``qa_gate.metrics.ranking`` on the CPU with numpy alone, for a run that never imports torch.

The same rule and the same steps as the torch tiles (``ranking.py`` says why they are exact): float32
tiles through BLAS, entries nearer their threshold than the float32 error bound recomputed in float64.
A run whose embeddings all came from the output cache ranks here, so it never pays torch's import.
"""

from __future__ import annotations

from collections import deque
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from qa_gate.threads import blas_threads, usable_cpus

TIE_TOL = 1e-9
HEAVY_ROW = 64
"""A tile row with at least this many undecided entries is recomputed by one float64 product."""
SWEEP_THREADS = 4
"""The most threads one sweep's tiles are shared out among."""
HOST_BLOCK = 2048
"""The largest tile edge on the CPU: 16 MiB of similarities per thread. Ranking the gate's 30k captions against
10k images on 2 cores took 0.40 s in 2048-wide tiles on 2 threads, 0.71 s in 4096-wide ones and 0.87 s in
4096-wide tiles on one thread (medians of 3)."""
PAIR_CHUNK = 1 << 18
"""Float64 elements gathered at a time (``pairs x d``) when undecided entries are recomputed one by one."""


def error_bound(d: int) -> float:
    """Bound on ``|float32 dot - exact dot| / (|q| |t|)`` for ``d``-dimensional inputs rounded to float32."""
    u = 2.0 ** -24
    m = (d + 2) * u
    return m / (1.0 - m) * 1.01 + 1e-12 if m < 0.5 else float("inf")


def outward(values: np.ndarray, up: bool) -> np.ndarray:
    """``values`` (float64) as float32, rounded away from the float64 value in the given direction."""
    rounded = values.astype(np.float32)
    wrong = rounded.astype(np.float64) < values if up else rounded.astype(np.float64) > values
    return np.where(wrong, np.nextafter(rounded, np.float32(np.inf if up else -np.inf)), rounded)


class Masks:
    """Two reusable boolean buffers, for counting a tile's entries against two thresholds per line."""

    def __init__(self) -> None:
        self._buffer: np.ndarray | None = None

    def counts(self, values: np.ndarray, hi: np.ndarray, lo: np.ndarray, dim: int,
               weight: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Per line of the float32 tile ``values`` (a row for ``dim=1``, a column for ``dim=0``): how many entries
        are above ``hi`` (each counting ``weight`` of its index along the line, 1 when ``None``), and the
        undecided ones (``lo <= value <= hi``) as ``[k, 2]`` ``(line, index)`` pairs."""
        size = -(-values.size // 8) * 8  # whole 64-bit words
        if self._buffer is None or self._buffer.shape[1] < size:
            self._buffer = np.zeros((2, size), dtype=np.bool_)
        above, reach = (m[:values.size].reshape(values.shape) for m in self._buffer)
        shape = (-1, 1) if dim == 1 else (1, -1)
        np.greater(values, hi.reshape(shape), out=above)
        np.greater_equal(values, lo.reshape(shape), out=reach)
        if weight is None:
            count = above.view(np.uint8).sum(axis=dim, dtype=np.int32)
        else:  # products of 0/1 and counts through BLAS: exact while the sums stay below 2^24 (float32)
            kind = np.float32 if int(weight.sum()) < 2 ** 24 else np.float64
            as_float, w = above.astype(kind), weight.astype(kind)
            count = np.rint(as_float @ w if dim == 1 else w @ as_float).astype(np.int64)
        words = [m[:size].view(np.uint64) for m in self._buffer]
        found = np.flatnonzero(words[0] != words[1])  # words holding an undecided entry (reach and not above)
        if not len(found):
            return count, np.zeros((0, 2), dtype=np.int64)
        flat = (found[:, None] * 8 + np.arange(8)).ravel()
        flat = flat[flat < values.size]
        flat = flat[reach.ravel()[flat] & ~above.ravel()[flat]]
        row, col = np.divmod(flat, values.shape[1])
        return count, np.stack([row, col] if dim == 1 else [col, row], axis=1).astype(np.int64, copy=False)


def _dots(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Row-wise float64 dot products of two equally shaped blocks."""
    return np.einsum("ij,ij->i", left.astype(np.float64, copy=False), right.astype(np.float64, copy=False))


def _norms(x: np.ndarray, block: int) -> np.ndarray:
    if not len(x):
        return np.zeros(0)
    return np.concatenate([np.sqrt(_dots(x[a:a + block], x[a:a + block])) for a in range(0, len(x), block)])


def redone(pairs: np.ndarray, lines: int, first: int, thr: np.ndarray, vectors: np.ndarray,
           right: np.ndarray, weight: np.ndarray | None = None) -> np.ndarray:
    """Per line of a tile (``vectors[first + line]`` against the rows of ``right``), how many of its undecided
    entries ``pairs`` (``[k, 2]`` (line, index)) reach ``thr`` in float64, each counting ``weight[index]``
    (1 when ``None``); a line with ``HEAVY_ROW`` or more by one float64 product with ``right``, the others by
    one float64 dot product each."""
    out = np.zeros(lines, dtype=np.int64)
    per_line = np.bincount(pairs[:, 0], minlength=lines)
    is_heavy = per_line >= HEAVY_ROW
    heavy = np.flatnonzero(is_heavy)
    if len(heavy):
        wide = right.astype(np.float64)
        for h in range(0, len(heavy), 1024):
            chosen = heavy[h:h + 1024]
            where = np.full(lines, -1, dtype=np.int64)
            where[chosen] = np.arange(len(chosen))
            mine = pairs[where[pairs[:, 0]] >= 0]
            band = np.zeros((len(chosen), len(right)), dtype=np.bool_)
            band[where[mine[:, 0]], mine[:, 1]] = True
            exact = vectors[first + chosen].astype(np.float64) @ wide.T
            hits = (exact >= thr[first + chosen, None]) & band
            out[chosen] += hits.sum(axis=1) if weight is None else hits.astype(np.int64) @ weight
        pairs = pairs[~is_heavy[pairs[:, 0]]]
    step = max(1, PAIR_CHUNK // max(1, vectors.shape[1]))
    for p in range(0, len(pairs), step):
        r, t = pairs[p:p + step, 0], pairs[p:p + step, 1]
        ok = _dots(vectors[first + r], right[t]) >= thr[first + r]
        np.add.at(out, r, ok if weight is None else ok * weight[t])
    return out


def distinct_rows(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """For rows of ``x`` with bitwise duplicates: the first row of each distinct value, each row's distinct
    index, and each distinct value's count; ``None`` when every row is distinct."""
    if len(x) < 2:
        return None
    view = np.ascontiguousarray(x).view(np.dtype((np.void, x.dtype.itemsize * x.shape[1])))[:, 0]
    _, first, inverse, counts = np.unique(view, return_index=True, return_inverse=True, return_counts=True)
    if len(first) == len(x):
        return None
    return first, inverse.reshape(-1), counts


class _Lines:
    """One direction's counts: per line, the float64 threshold, its float32 brackets, and the count so far."""

    def __init__(self, thr: np.ndarray, err: np.ndarray) -> None:
        self.thr, self.hi, self.lo = thr, outward(thr + err, True), outward(thr - err, False)
        self.count = np.zeros(len(thr), dtype=np.int64)

    def tile(self, masks: Masks, sims: np.ndarray, dim: int, lines: tuple[int, np.ndarray],
             others: tuple[int, np.ndarray, np.ndarray | None], block: int, count: np.ndarray) -> None:
        """Count one tile into ``count`` (one per line, as ``self.count``): ``sims`` has the lines (``lines``: the
        first, and every line's vectors) along dim 0; the other side (its first, vectors and weights) along dim 1;
        ``dim`` says which axis of the tile as computed the lines are (1: rows)."""
        first, vectors = lines
        start, right, weights = others
        weight = None if weights is None else weights[start:start + block]
        above, pairs = masks.counts(sims if dim == 1 else sims.T, self.hi[first:first + block],
                                    self.lo[first:first + block], dim, weight)
        count[first:first + block] += above
        if len(pairs):
            count[first:first + block] += redone(pairs, sims.shape[0], first, self.thr, vectors,
                                                 right[start:start + block], weight)


def sweep_threads(tiles: int) -> int:
    """Threads a sweep of ``tiles`` tiles runs on: one per CPU, at most ``SWEEP_THREADS`` (each holds a tile)."""
    return max(1, min(tiles, SWEEP_THREADS, usable_cpus()))


def _sweep(q: np.ndarray, t: np.ndarray, masked: tuple[np.ndarray, np.ndarray], block: int,
           fwd: _Lines | None, rev: _Lines | None, weights: tuple[np.ndarray | None, np.ndarray | None]) -> None:
    """Every ``block x block`` tile of ``q x t`` (float32 products; the ``masked`` (row, column) pairs, sorted by
    row, never count): per row of ``q`` into ``fwd``, per row of ``t`` into ``rev``, each entry counting the
    weight of the other side's row (``weights``: of ``q``'s rows, of ``t``'s; ``None``: 1).

    The tiles are shared out among ``sweep_threads`` threads, each with its own tile buffer, masks and counts,
    added up at the end (numpy's comparisons and sums release the GIL; BLAS runs one thread per tile then,
    so the threads are the cores). Counts are integers: the result does not depend on the split."""
    q32, t32 = q.astype(np.float32, copy=False), t.astype(np.float32, copy=False)
    q_weight, t_weight = weights
    pending = deque((a, c) for c in range(0, len(t), block) for a in range(0, len(q), block))
    size = min(block, len(q)) * min(block, len(t))

    def run() -> tuple[np.ndarray, np.ndarray]:
        masks, buffer = Masks(), np.empty(size, dtype=np.float32)
        counts = (np.zeros(0 if fwd is None else len(fwd.count), dtype=np.int64),
                  np.zeros(0 if rev is None else len(rev.count), dtype=np.int64))

        def tile(a: int, c: int) -> None:
            left, right = q32[a:a + block], t32[c:c + block]
            sims = buffer[:len(left) * len(right)].reshape(len(left), len(right))
            np.matmul(left, right.T, out=sims)
            lo, hi = np.searchsorted(masked[0], [a, a + block])
            rows, cols = masked[0][lo:hi], masked[1][lo:hi]
            inside = (cols >= c) & (cols < c + block)
            sims[rows[inside] - a, cols[inside] - c] = -np.inf  # positives never count as negatives
            if fwd is not None:
                fwd.tile(masks, sims, 1, (a, q), (c, t, t_weight), block, counts[0])
            if rev is not None:
                rev.tile(masks, sims.T, 0, (c, t), (a, q, q_weight), block, counts[1])

        while True:
            try:
                a, c = pending.popleft()
            except IndexError:
                return counts
            try:
                tile(a, c)
            except BaseException:  # the other threads take no further tile
                pending.clear()
                raise

    threads = sweep_threads(len(pending))
    if threads == 1:
        found = [run()]
    else:
        with blas_threads(1), ThreadPoolExecutor(max_workers=threads) as pool:
            try:
                found = [f.result() for f in [pool.submit(run) for _ in range(threads)]]
            except BaseException:  # an interrupt here: the threads take no further tile
                pending.clear()
                raise
    for lines, index in ((fwd, 0), (rev, 1)):
        if lines is not None:
            for counts in found:
                lines.count += counts[index]


def host_positive_ranks(queries: np.ndarray, targets: np.ndarray, owner: np.ndarray, *, block: int,
                        reverse: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """``ranking.positive_ranks`` on the CPU with numpy: the same ranks, the same arguments.

    Rows that are bitwise duplicates (a caption shared by many images, the same image twice) give equal
    similarities, so each direction is counted against the *distinct* rows of the other side, each counting
    as many times as it occurs: a tie-heavy suite costs what its distinct rows cost, not a float64 recount of
    every tied entry. A duplicate of a line's own positive has the positive's float64 cosine, so it is
    decided from ``pos`` without a product.
    """
    q, t = np.asarray(queries), np.asarray(targets)  # the given dtype: the float64 rule reads these
    owner = np.asarray(owner, dtype=np.int64)
    nq, nt = len(q), len(t)
    pos = np.concatenate([_dots(q[a:a + block], t[owner[a:a + block]]) for a in range(0, nq, block)]) if nq \
        else np.zeros(0)
    qn, tn = _norms(q, block), _norms(t, block)
    best = np.full(nt, -np.inf)
    np.maximum.at(best, owner, pos)
    has_positive = np.isfinite(best)
    gamma = error_bound(q.shape[1] if q.ndim == 2 else 1)
    tmax, qmax = (float(tn.max()) if nt else 0.0), (float(qn.max()) if nq else 0.0)
    fwd = _Lines(pos - TIE_TOL, gamma * qn * tmax)
    rev = _Lines(np.where(has_positive, best - TIE_TOL, np.inf), gamma * tn * qmax)
    rows = np.arange(nq, dtype=np.int64)
    t_dups = distinct_rows(t) if nq and nt else None
    q_dups = distinct_rows(q) if nq and nt and reverse else None
    if t_dups is None and q_dups is None:
        _sweep(q, t, (rows, owner), block, fwd, rev if reverse else None, (None, None))
    else:
        _forward(q, t, owner, t_dups, block, fwd)
        if reverse:
            _reverse(q, t, owner, pos, q_dups, block, rev)
    if not reverse:
        return fwd.count + 1, np.zeros(nt, dtype=np.int64)
    return fwd.count + 1, np.where(has_positive, rev.count + 1, 0)


def _forward(q: np.ndarray, t: np.ndarray, owner: np.ndarray,
             dups: tuple[np.ndarray, np.ndarray, np.ndarray] | None, block: int, fwd: _Lines) -> None:
    """Forward counts alone, against the distinct targets: a copy of a query's positive target ties with it."""
    rows = np.arange(len(q), dtype=np.int64)
    if dups is None:
        _sweep(q, t, (rows, owner), block, fwd, None, (None, None))
        return
    first, inverse, counts = dups
    _sweep(q, t[first], (rows, inverse[owner]), block, fwd, None, (None, counts))
    fwd.count += counts[inverse[owner]] - 1  # the other copies: the positive's own cosine, >= pos - TIE_TOL


def _reverse(q: np.ndarray, t: np.ndarray, owner: np.ndarray, pos: np.ndarray,
             dups: tuple[np.ndarray, np.ndarray, np.ndarray] | None, block: int, rev: _Lines) -> None:
    """Reverse counts alone, against the distinct queries: a copy of one of a target's positives that another
    target owns has that positive's cosine."""
    rows = np.arange(len(q), dtype=np.int64)
    if dups is None:
        _sweep(q, t, (rows, owner), block, None, rev, (None, None))
        return
    first, inverse, counts = dups
    pair = inverse * len(t) + owner  # (distinct query, target) of every positive
    keys, owned = np.unique(pair, return_counts=True)
    value = np.full(len(keys), -np.inf)
    np.maximum.at(value, np.searchsorted(keys, pair), pos)
    _sweep(q[first], t, (keys // len(t), keys % len(t)), block, None, rev, (counts, None))
    target = keys % len(t)
    others = counts[keys // len(t)] - owned  # copies of that query owned by other targets
    np.add.at(rev.count, target, np.where(value >= rev.thr[target], others, 0))
