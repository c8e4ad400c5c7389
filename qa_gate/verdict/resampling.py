"""One set of bootstrap draws per suite, shared by every rule and slice interval (DESIGN.md §5).

A suite of ``n`` samples is resampled ``resamples`` times: resample ``r`` draws ``n`` sample indices
with replacement, from ``np.random.default_rng(seed)`` in resample order (so a result depends on the
inputs and the seed, never on the chunk size). Baseline and candidate always use the same draws
(paired), and so does every metric and every slice of the suite:

- the suite itself is aggregated over the drawn rows (a resample of ``n`` rows, the draws of
  ``stats.paired_drops``: a suite-level rule's drops are those it always had);
- a slice (the samples with one tag value) is aggregated over the draws that fell in it: a
  resample of the slice whose size varies around the slice's size, as it does when the suite
  is sampled again. A resample that drew none of the slice's samples says nothing about it and
  is left out (``Resampled.drawn``; a slice of ``m`` samples misses about ``e^-m`` of them).

Work is vectorised over metrics, slices and resamples, in chunks of resamples (at most
``chunk_elements`` drawn indices each). Each chunk's draws become counts (how often each sample was
drawn); a metric whose aggregate has a counted form (``qa_gate.metrics.counted``: any mean-sufficient
metric, medians of ranks, per-class recall) is aggregated from ``counts @ columns``, one matrix
product for all such metrics on the same rows, and never gathers a row. Another gathers the drawn
rows (the suite: in draw order; a slice: grouped by the number of its draws, one ``aggregate`` call
per group, in sample order, which no aggregate depends on).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass

import numpy as np

from qa_gate.metrics.counted import Counted, MeanCounted
from qa_gate.threads import blas_threads

Aggregate = Callable[[np.ndarray], np.ndarray]
CHUNK_ELEMENTS = 1 << 22
"""Drawn indices per chunk of resamples (``resamples_in_chunk * n``): 32 MiB of indices, 32 MiB of counts."""
GATHER_ELEMENTS = 1 << 22
"""Gathered statistics per ``aggregate`` call for metrics that are not mean-sufficient."""
BLAS_THREADS: int | None = 1
"""BLAS threads for the products of counts (``qa_gate.threads``: memory-bound, stalled by oversubscription);
``None`` leaves the pools as they are."""


@dataclass(frozen=True, eq=False)
class Request:
    """Resampled aggregates wanted for one metric on one set of the suite's rows, both sides."""

    key: Hashable
    aggregate: Aggregate
    mean_sufficient: bool
    cand: np.ndarray
    """``[m, k]`` the candidate's rows."""
    base: np.ndarray
    """``[m, k]`` the baseline's rows of the same samples, in the same order."""
    rows: np.ndarray | None = None
    """``[m]`` the suite indices of those rows (a slice); ``None``: all ``n``, in suite order."""
    counted: Callable[[np.ndarray], Counted | None] | None = None
    """The metric's counted form of ``aggregate`` for given rows (``Metric.counted``), if it has one."""

    def counted_sides(self) -> tuple[Counted, Counted] | None:
        """Both sides' counted forms, ``None`` when the rows must be gathered."""
        if self.counted is not None:
            cand, base = self.counted(self.cand), self.counted(self.base)
            if cand is not None and base is not None:
                return cand, base
        if self.mean_sufficient:
            return MeanCounted(self.cand, self.aggregate), MeanCounted(self.base, self.aggregate)
        return None


@dataclass(frozen=True)
class Resampled:
    """One request's aggregate per resample."""

    cand: np.ndarray
    """``[resamples]`` the candidate's aggregate (NaN where not ``drawn``)."""
    base: np.ndarray
    drawn: np.ndarray
    """``[resamples]`` bool: the resample drew at least one of the request's rows."""


def _chunk_sizes(resamples: int, n: int, chunk_elements: int) -> list[int]:
    rows = max(1, chunk_elements // max(n, 1))
    return [min(rows, resamples - start) for start in range(0, resamples, rows)]


def draw_indices(rng: np.random.Generator, b: int, n: int) -> np.ndarray:
    """``[b, n]`` indices in ``[0, n)``: ``rng.integers(0, n, size=(b, n))``, the same values and the same state after,
    drawn as int32 where ``n`` fits (numpy draws a range below 2^32 from the same 32-bit words either way; half
    the memory to fill, ~12 % less time for the draws and their counts)."""
    if n <= np.iinfo(np.int32).max:
        return rng.integers(0, n, size=(b, n), dtype=np.int32)
    return rng.integers(0, n, size=(b, n))


def _checked(values: np.ndarray, b: int) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    if values.shape != (b,):
        raise ValueError(f"aggregate must reduce [b, n, k] statistics to [b] (keeping leading axes); "
                         f"got shape {values.shape} for b={b}")
    return values


EXACT32 = float(2 ** 24)
"""A column of whole numbers whose resampled sums stay below this is summed in float32, exactly (twice as fast)."""


class _Table:
    """Every counted request of the suite in one matrix product with the suite's counts: each side's columns (a
    slice's scattered into the suite's rows, zero elsewhere), one indicator column per set of rows (how many of
    them a resample drew), and each distinct column once. Columns of small whole numbers (ranks, hits, counts)
    are summed in float32, whose sums of them are exact; the others in float64."""

    def __init__(self, members: list[tuple[int, np.ndarray | None, Counted, Counted]], n: int) -> None:
        self.n = n
        self._unique: list[np.ndarray] = []
        self._seen: dict[tuple[float, float], list[int]] = {}
        self._probe = np.random.default_rng(0).random(n)
        self.members = []
        for i, rows, cand, base in members:
            mask = self._place(self._scatter(np.ones(len(cand.columns)), rows))
            sides = [(c, np.array([self._place(self._scatter(column, rows)) for column in c.columns.T],
                                  dtype=np.int64)) for c in (cand, base)]
            self.members.append((i, rows, mask, sides))
        exact = np.array([bool(np.all(c == np.round(c))) and float(np.abs(c).max(initial=0.0)) * n < EXACT32
                          for c in self._unique])
        self.small, self.wide = np.flatnonzero(exact), np.flatnonzero(~exact)
        self.columns32 = np.stack([self._unique[j] for j in self.small], axis=1).astype(np.float32) \
            if len(self.small) else None
        self.columns64 = np.stack([self._unique[j] for j in self.wide], axis=1) if len(self.wide) else None
        self.width = len(self._unique)
        del self._unique, self._seen

    def _scatter(self, column: np.ndarray, rows: np.ndarray | None) -> np.ndarray:
        if rows is None:
            return np.asarray(column, dtype=np.float64)
        full = np.zeros(self.n)
        full[rows] = column
        return full

    def _place(self, column: np.ndarray) -> int:
        """The index of ``column`` among the distinct columns (added when new)."""
        key = (float(column.sum()), float(column @ self._probe))
        for j in self._seen.get(key, []):
            if np.array_equal(self._unique[j], column):
                return j
        self._seen.setdefault(key, []).append(len(self._unique))
        self._unique.append(column)
        return len(self._unique) - 1

    def run(self, counts: np.ndarray, counts32: np.ndarray, out: list[Resampled], at: slice) -> None:
        sums = np.empty((len(counts), self.width))
        if self.columns32 is not None:
            sums[:, self.small] = counts32 @ self.columns32
        if self.columns64 is not None:
            sums[:, self.wide] = counts @ self.columns64
        for i, rows, mask, sides in self.members:
            total = sums[:, mask]
            drawn = total > 0
            pick = np.flatnonzero(drawn)

            def drawn_counts(which: np.ndarray, local: np.ndarray, rows: np.ndarray | None = rows,
                             pick: np.ndarray = pick) -> np.ndarray:
                return counts[pick[which][:, None], (local if rows is None else rows[local])[None, :]]

            for side, (counted, columns) in zip((out[i].cand, out[i].base), sides):
                values = np.full(len(drawn), np.nan)
                if len(pick):
                    found = counted.finish(sums[pick][:, columns], drawn_counts, total[pick])
                    values[pick] = _checked(found, len(pick))
                side[at] = values
            out[i].drawn[at] = drawn


def _gathered_suite(request: Request, indices: np.ndarray, out: Resampled, at: slice) -> None:
    """A suite-level request that is not mean-sufficient: the drawn rows in draw order."""
    b, n = indices.shape
    k = request.cand.shape[1]
    step = max(1, GATHER_ELEMENTS // max(1, n * k))
    for s in range(0, b, step):
        idx = indices[s:s + step]
        part = slice(at.start + s, at.start + s + len(idx))
        out.cand[part] = _checked(request.aggregate(request.cand[idx]), len(idx))
        out.base[part] = _checked(request.aggregate(request.base[idx]), len(idx))
    out.drawn[at] = True


def _gathered_slice(request: Request, counts: np.ndarray, out: Resampled, at: slice) -> None:
    """A slice request that is not mean-sufficient: each resample's drawn rows, grouped by how many."""
    assert request.rows is not None
    sub = np.take(counts, request.rows, axis=1).astype(np.int64)
    sizes = sub.sum(axis=1)
    out.drawn[at] = sizes > 0
    cand, base = out.cand[at], out.base[at]
    cand[sizes == 0] = base[sizes == 0] = np.nan
    local = np.arange(sub.shape[1])
    k = request.cand.shape[1]
    for size in np.unique(sizes[sizes > 0]):
        which = np.flatnonzero(sizes == size)
        step = max(1, GATHER_ELEMENTS // max(1, int(size) * k))
        for s in range(0, len(which), step):
            group = which[s:s + step]
            picked = np.repeat(np.tile(local, len(group)), sub[group].ravel()).reshape(len(group), int(size))
            cand[group] = _checked(request.aggregate(request.cand[picked]), len(group))
            base[group] = _checked(request.aggregate(request.base[picked]), len(group))


def resample(requests: Sequence[Request], n: int, *, resamples: int, seed: int,
             chunk_elements: int = CHUNK_ELEMENTS) -> list[Resampled]:
    """Every request's aggregates on the same ``resamples`` draws of ``n`` indices (module docstring)."""
    if resamples < 1:
        raise ValueError(f"resamples must be >= 1, got {resamples}")
    if n < 1:
        raise ValueError("no samples (n == 0): a resample needs at least one row")
    out = [Resampled(np.empty(resamples), np.empty(resamples), np.zeros(resamples, dtype=bool)) for _ in requests]
    members: list[tuple[int, np.ndarray | None, Counted, Counted]] = []
    gathered: list[tuple[int, Request]] = []
    for i, request in enumerate(requests):
        if request.cand.shape != request.base.shape or request.cand.ndim != 2:
            raise ValueError(f"request {request.key!r}: candidate {request.cand.shape} and baseline "
                             f"{request.base.shape} must be [m, k] arrays of one shape")
        sides = request.counted_sides()
        if sides is None:
            gathered.append((i, request))
        else:
            members.append((i, request.rows, *sides))
    table = _Table(members, n) if members else None
    with blas_threads(BLAS_THREADS):
        _draw_all(out, table, gathered, n, resamples, seed, chunk_elements)
    return out


def _draw_all(out: list[Resampled], table: _Table | None, gathered: list[tuple[int, Request]], n: int,
              resamples: int, seed: int, chunk_elements: int) -> None:
    """Draw every chunk of resamples and aggregate each request on it, into ``out``."""
    need_counts = table is not None or any(r.rows is not None for _, r in gathered)
    rng = np.random.default_rng(seed)
    start = 0
    for b in _chunk_sizes(resamples, n, chunk_elements):
        indices = draw_indices(rng, b, n)
        at = slice(start, start + b)
        if need_counts:
            counts32 = np.empty((b, n), dtype=np.float32)
            for r in range(b):  # one row at a time: its counts stay in cache
                counts32[r] = np.bincount(indices[r], minlength=n)
            wide = (table is not None and table.columns64 is not None) or any(r.rows is not None for _, r in gathered)
            counts = counts32.astype(np.float64) if wide else counts32
            if table is not None:
                table.run(counts, counts32, out, at)
        for i, request in gathered:
            if request.rows is None:
                _gathered_suite(request, indices, out[i], at)
            else:
                _gathered_slice(request, counts, out[i], at)
        start += b
