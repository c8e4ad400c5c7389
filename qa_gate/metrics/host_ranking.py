"""The ranks of ``qa_gate.metrics.ranking`` on the CPU with numpy alone, for a run that never imports torch.

The same rule and the same steps as the torch tiles (``ranking.py`` says why they are exact): float32
tiles through BLAS, entries nearer their threshold than the float32 error bound recomputed in float64.
A run whose embeddings all came from the output cache ranks here, so it never pays torch's import.
"""

from __future__ import annotations

import numpy as np

TIE_TOL = 1e-9
HEAVY_ROW = 64
"""A tile row with at least this many undecided entries is recomputed by one float64 product."""
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

    def counts(self, values: np.ndarray, hi: np.ndarray, lo: np.ndarray, dim: int) -> tuple[np.ndarray, np.ndarray]:
        """Per line of the float32 tile ``values`` (a row for ``dim=1``, a column for ``dim=0``): how many entries
        are above ``hi``, and the undecided ones (``lo <= value <= hi``) as ``[k, 2]`` ``(line, index)`` pairs."""
        size = -(-values.size // 8) * 8  # whole 64-bit words
        if self._buffer is None or self._buffer.shape[1] < size:
            self._buffer = np.zeros((2, size), dtype=np.bool_)
        above, reach = (m[:values.size].reshape(values.shape) for m in self._buffer)
        shape = (-1, 1) if dim == 1 else (1, -1)
        np.greater(values, hi.reshape(shape), out=above)
        np.greater_equal(values, lo.reshape(shape), out=reach)
        count = above.view(np.uint8).sum(axis=dim, dtype=np.int32)
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
           right: np.ndarray) -> np.ndarray:
    """Per line of a tile (``vectors[first + line]`` against the rows of ``right``), how many of its undecided
    entries ``pairs`` (``[k, 2]`` (line, index)) reach ``thr`` in float64; a line with ``HEAVY_ROW`` or more
    by one float64 product with ``right``, the others by one float64 dot product each."""
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
            out[chosen] += ((exact >= thr[first + chosen, None]) & band).sum(axis=1)
        pairs = pairs[~is_heavy[pairs[:, 0]]]
    step = max(1, PAIR_CHUNK // max(1, vectors.shape[1]))
    for p in range(0, len(pairs), step):
        r, t = pairs[p:p + step, 0], pairs[p:p + step, 1]
        np.add.at(out, r, _dots(vectors[first + r], right[t]) >= thr[first + r])
    return out


def host_positive_ranks(queries: np.ndarray, targets: np.ndarray, owner: np.ndarray, *, block: int,
                        reverse: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """``ranking.positive_ranks`` on the CPU with numpy: the same ranks, the same arguments."""
    q, t = np.asarray(queries), np.asarray(targets)  # the given dtype: the float64 rule reads these
    q32, t32 = q.astype(np.float32, copy=False), t.astype(np.float32, copy=False)
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
    fwd_thr = pos - TIE_TOL
    rev_thr = np.where(has_positive, best - TIE_TOL, np.inf)
    fwd_err, rev_err = gamma * qn * tmax, gamma * tn * qmax
    fwd_hi, fwd_lo = outward(fwd_thr + fwd_err, True), outward(fwd_thr - fwd_err, False)
    rev_hi, rev_lo = outward(rev_thr + rev_err, True), outward(rev_thr - rev_err, False)
    fwd, rev = np.zeros(nq, dtype=np.int64), np.zeros(nt, dtype=np.int64)
    masks = Masks()
    buffer = np.empty(min(block, nq) * min(block, nt), dtype=np.float32)
    for c in range(0, nt, block):
        right = t32[c:c + block]
        for a in range(0, nq, block):
            left = q32[a:a + block]
            sims = buffer[:len(left) * len(right)].reshape(len(left), len(right))
            np.matmul(left, right.T, out=sims)
            own = owner[a:a + block]
            rows = np.flatnonzero((own >= c) & (own < c + block))
            sims[rows, own[rows] - c] = -np.inf  # positives never count as negatives
            above, pairs = masks.counts(sims, fwd_hi[a:a + block], fwd_lo[a:a + block], 1)
            fwd[a:a + block] += above
            if len(pairs):
                fwd[a:a + block] += redone(pairs, len(left), a, fwd_thr, q, t[c:c + block])
            if reverse:
                above, pairs = masks.counts(sims, rev_hi[c:c + block], rev_lo[c:c + block], 0)
                rev[c:c + block] += above
                if len(pairs):
                    rev[c:c + block] += redone(pairs, len(right), c, rev_thr, t, q[a:a + block])
    if not reverse:
        return fwd + 1, np.zeros(nt, dtype=np.int64)
    return fwd + 1, np.where(has_positive, rev + 1, 0)
