"""Aggregates of bootstrap resamples computed from draw counts, without gathering the drawn rows.

A resample of ``m`` rows is given by its draw counts (how often each row was drawn). For an aggregate
with a ``Counted`` form the bootstrap computes ``counts @ columns`` for many resamples at once (one
matrix product shared by every metric on the same rows) and ``finish`` turns those sums, and the
counts where needed, into each resample's aggregate: the value ``aggregate`` gives on the drawn rows.

- ``MeanCounted``: an aggregate of the mean row (``Metric.mean_sufficient``): the sums over the count.
- ``WeightedMedian``: the median of pooled items (ranks), each item weighted by its row's count.
  Items are sorted once; the sums count the items below two cuts placed around the median, so the
  median of a resample falls between two known cuts and only the items between them are read (none
  when they all hold one value): no sort per resample.
- ``ClassRecall``: the mean over the classes present of each class's hit rate.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

import numpy as np

GATHER_ELEMENTS = 1 << 22
"""Counts read at a time when a median is resolved between two cuts."""
SPREAD = 3.0
"""Cuts at the median position +- this multiple of its bootstrap standard deviation (in items): a resample's
median falls between them but for about 3 in 1000, whose buckets are read whole."""
CLASS_COLUMNS = 16
"""Up to this many classes a class recall is summed by the shared matrix product, beyond by ``reduceat``."""


Counts = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""``counts(which, rows)``: the draw counts ``[len(which), len(rows)]`` of resamples ``which`` (indices into the
sums given to ``finish``) and rows ``rows`` (indices into the ``m`` rows), read only when the sums are not enough."""


class Counted(Protocol):
    """An aggregate of resampled rows from their draw counts (module docstring)."""

    columns: np.ndarray
    """``[m, j]`` float64: what ``finish`` reads summed per resample, ``counts @ columns``."""

    def finish(self, sums: np.ndarray, counts: Counts, total: np.ndarray) -> np.ndarray:
        """``[b]`` aggregates from ``sums`` ``[b, j]``, ``total`` ``[b]`` (drawn rows, > 0) and ``counts``."""
        ...


@runtime_checkable
class CountedMetric(Protocol):
    """A metric whose aggregate of resampled rows has a ``Counted`` form."""

    def counted(self, stats: np.ndarray) -> Counted | None:
        """The ``Counted`` form of the aggregate over these ``[m, k]`` rows (``None``: gather them instead)."""
        ...


class MeanCounted:
    """An aggregate that reads only the mean row: ``aggregate`` of ``sums / total``."""

    def __init__(self, stats: np.ndarray, aggregate: Callable[[np.ndarray], np.ndarray]) -> None:
        self.columns = np.asarray(stats, dtype=np.float64)
        self.aggregate = aggregate

    def finish(self, sums: np.ndarray, counts: Counts, total: np.ndarray) -> np.ndarray:
        """The aggregate of each resample's mean row."""
        return np.asarray(self.aggregate((sums / total[:, None])[:, None, :]), dtype=np.float64)


class WeightedMedian:
    """Median of the items (``values``, one row ``owner`` each) of the drawn rows, counted with multiplicity;
    NaN for a resample that drew no item. The same value as sorting the drawn rows' items."""

    def __init__(self, values: np.ndarray, owner: np.ndarray, rows: int) -> None:
        order = np.argsort(values, kind="stable")
        self.values, self.owner = values[order], owner[order]
        size = len(self.values)
        middle = size // 2
        below = np.bincount(self.owner[:middle], minlength=rows)
        items = np.bincount(self.owner, minlength=rows)
        spread = SPREAD * max(1.0, float(np.sqrt(np.sum((below - items * (middle / max(size, 1))) ** 2))))
        cuts = {0, size, int(min(max(middle - spread, 0), size)), int(min(max(middle + spread, 0), size))}
        self.cuts = np.array(sorted(cuts), dtype=np.int64)
        segments = [np.bincount(self.owner[a:z], minlength=rows) for a, z in zip(self.cuts[:-1], self.cuts[1:])]
        self.columns = np.cumsum(np.stack(segments, axis=1), axis=1).astype(np.float64) if segments else \
            np.zeros((rows, 1))
        """Column ``j``: each row's items before cut ``j + 1``; the last column, all its items."""

    def finish(self, sums: np.ndarray, counts: Counts, total: np.ndarray) -> np.ndarray:
        """Each resample's weighted median: the two middle items' mean."""
        drawn = np.rint(sums[:, -1]).astype(np.int64)
        out = np.full(len(sums), np.nan)
        some = np.flatnonzero(drawn > 0)
        if len(some):
            low = self._at(sums[some], counts, some, (drawn[some] - 1) // 2)
            high = self._at(sums[some], counts, some, drawn[some] // 2)
            out[some] = (low + high) / 2
        return out

    def _at(self, sums: np.ndarray, counts: Counts, which: np.ndarray, position: np.ndarray
            ) -> np.ndarray:
        """The value of the item at 0-based weighted ``position`` of each resample ``which``."""
        bucket = (sums <= position[:, None]).sum(axis=1)  # items [cuts[k], cuts[k + 1]) hold the position
        before = np.where(bucket > 0, np.take_along_axis(sums, np.maximum(bucket - 1, 0)[:, None], axis=1)[:, 0], 0)
        start, stop = self.cuts[bucket], self.cuts[bucket + 1]
        out = self.values[start].astype(np.float64)
        mixed = self.values[stop - 1] != self.values[start]  # a bucket of one value is answered by its cuts
        for k in np.unique(bucket[mixed]):
            group = np.flatnonzero(mixed & (bucket == k))
            owners = self.owner[self.cuts[k]:self.cuts[k + 1]]
            step = max(1, GATHER_ELEMENTS // len(owners))
            for s in range(0, len(group), step):
                part = group[s:s + step]
                reached = np.cumsum(counts(which[part], owners), axis=1)
                inside = (reached <= (position[part] - before[part])[:, None]).sum(axis=1)
                out[part] = self.values[self.cuts[k] + inside]
        return out


def median_counted(stats: np.ndarray) -> WeightedMedian | None:
    """The weighted median of all non-NaN entries of ``[m, k]`` rows (``None`` for an infinite entry)."""
    stats = np.asarray(stats, dtype=np.float64)
    if stats.ndim != 2 or np.isinf(stats).any():
        return None
    row, _ = np.nonzero(~np.isnan(stats))
    return WeightedMedian(stats[~np.isnan(stats)], row, len(stats))


class ClassRecall:
    """Mean over the classes present of each class's hit rate, from ``[hit, class index]`` rows."""

    def __init__(self, hit: np.ndarray, label: np.ndarray) -> None:
        classes, index = np.unique(label, return_inverse=True)
        self.wide = len(classes) > CLASS_COLUMNS
        if self.wide:
            self.order = np.argsort(index, kind="stable")
            self.starts = np.flatnonzero(np.r_[True, np.diff(index[self.order]) != 0])
            self.hit = hit[self.order]
            self.columns = np.zeros((len(hit), 0))
        else:
            onehot = (index[:, None] == np.arange(len(classes))[None, :]).astype(np.float64)
            self.columns = np.concatenate([onehot * hit[:, None], onehot], axis=1)

    def finish(self, sums: np.ndarray, counts: Counts, total: np.ndarray) -> np.ndarray:
        """Per resample: hits over draws per class, averaged over the classes drawn."""
        if self.wide:
            grouped = counts(np.arange(len(sums)), self.order)
            hits = np.add.reduceat(grouped * self.hit, self.starts, axis=1)
            drawn = np.add.reduceat(grouped, self.starts, axis=1)
        else:
            half = sums.shape[1] // 2
            hits, drawn = sums[:, :half], sums[:, half:]
        present = drawn > 0
        recall = np.divide(hits, drawn, out=np.zeros(drawn.shape), where=present)
        n_present = present.sum(axis=1)
        return np.divide(recall.sum(axis=1), n_present, out=np.full(len(sums), np.nan), where=n_present > 0)


def class_recall_counted(stats: np.ndarray) -> ClassRecall | None:
    """``ClassRecall`` of ``[hit, class index]`` rows (``None`` unless the indices are whole numbers >= 0)."""
    stats = np.asarray(stats, dtype=np.float64)
    if stats.ndim != 2 or stats.shape[1] < 2 or not np.isfinite(stats[:, :2]).all():
        return None
    label = stats[:, 1]
    if (label < 0).any() or (label != np.round(label)).any():
        return None
    return ClassRecall(stats[:, 0], label.astype(np.int64))
