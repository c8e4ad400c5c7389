"""Image-text retrieval: recall at K, median and mean rank, both directions (DESIGN.md §4).

Definitions (they go into every metric's fingerprint):

- Similarity is the cosine of L2-normalised embeddings, decided in float64: ranks are computed
  in float32 tiles on the model's device and every comparison float32 cannot settle is redone
  in float64 (``qa_gate.metrics.ranking``), so the numbers are those of the float64 rule.
- Ranks are 1-based. **Ties: pessimistic (a tie counts against the model)**: the rank of a
  positive is ``1 + number of negatives whose similarity >= the positive's``. Similarities
  within ``TIE_TOL`` (1e-9) of the positive's count as ties, so floating-point rounding
  (which differs between matrix-product block shapes) never decides a rank.
- text→image: each caption is a query; its rank is that of the image it belongs to among
  all images. image→text: each image is a query; its positives are all of its captions and
  its rank is that of its best-scoring caption, counting only negatives (the image's other
  captions are never counted against it). So "a hit when any positive is in the top K".
- The unit of resampling is the image. An image→text row holds the image's rank; a
  text→image row holds the statistics of the image's captions: ``[hits, captions]`` for
  recall, ``[rank sum, captions]`` for mean rank (aggregate: sum over sum) and, for the
  median rank, the captions' ranks padded with NaN to the largest caption count (aggregate:
  median of the pooled non-NaN ranks).

Ranks are computed once per suite, by the inputs (``RetrievalInputs.ranks``, which the
scoring view computes with ``rank_all`` on the model's device), in tiles of
``block x block`` similarities: one pass over the tiles yields both directions and no
``n_captions x n_images`` matrix is ever held.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import numpy as np

from qa_gate.errors import AdapterError, GoldenError
from qa_gate.metrics.base import Metric
from qa_gate.metrics.counted import Counted, MeanCounted, median_counted
from qa_gate.metrics.ranking import DEFAULT_BLOCK, TIE_TOL, positive_ranks

TIES = "pessimistic (a tie counts against the model)"


class RetrievalEmbeddings(Protocol):
    """Images and several captions per image, embedded: what ranks are computed from."""

    sample_ids: tuple[str, ...]

    def image_embeddings(self) -> np.ndarray:
        """``[n_images, d]`` normalised, one row per sample."""
        ...

    def caption_embeddings(self) -> tuple[np.ndarray, np.ndarray]:
        """``([n_captions, d], owner[n_captions])``: normalised captions and their image index."""
        ...


class RetrievalInputs(RetrievalEmbeddings, Protocol):
    """What the retrieval metrics read: the suite's embeddings and their ranks, computed once."""

    def ranks(self) -> Ranks:
        """Both directions' ranks (``rank_all`` of the embeddings), the same object on every call."""
        ...


@dataclass(frozen=True)
class Ranks:
    """Ranks of one suite, both directions."""

    i2t: np.ndarray
    """``[n_images]`` int: rank of each image's best caption among all captions."""
    t2i: np.ndarray
    """``[n_captions]`` int: rank of each caption's image among all images."""
    owner: np.ndarray
    """``[n_captions]`` int: the image index of each caption."""

    def t2i_padded(self) -> np.ndarray:
        """``[n_images, C]`` float: each image's caption ranks in caption order, NaN padded."""
        n = len(self.i2t)
        counts = np.bincount(self.owner, minlength=n)
        order = np.argsort(self.owner, kind="stable")
        starts = np.cumsum(counts) - counts
        slot = np.arange(len(order)) - starts[self.owner[order]]
        out = np.full((n, int(counts.max(initial=1))), np.nan)
        out[self.owner[order], slot] = self.t2i[order]
        return out


def check_finite(array: np.ndarray, what: str) -> np.ndarray:
    """``array`` as a float array (float32 and float64 as they are: no copy); an ``AdapterError`` if it
    holds NaN or inf (NaN would rank first)."""
    array = np.asarray(array)
    if array.dtype not in (np.float32, np.float64):
        array = array.astype(np.float64)
    if not np.isfinite(array).all():
        raise AdapterError(f"the checkpoint produced non-finite {what} embeddings (NaN or inf)")
    return array


def rank_arrays(images: np.ndarray, captions: np.ndarray, owner: np.ndarray,
                sample_ids: Sequence[str] | None = None, block: int = DEFAULT_BLOCK, device: Any = None) -> Ranks:
    """Both directions' ranks of a suite, from its arrays (see the module docstring), on ``device``
    (a torch device or its name; the CPU when ``None``)."""
    images, captions = check_finite(images, "image"), check_finite(captions, "caption")
    owner = np.asarray(owner)
    if owner.shape != (len(captions),) or not np.issubdtype(owner.dtype, np.integer):
        raise ValueError(f"owner must be {len(captions)} integer image indices, got {owner.dtype} {owner.shape}")
    owner = owner.astype(np.int64)
    if len(owner) and (owner.min() < 0 or owner.max() >= len(images)):
        raise ValueError(f"owner holds image indices outside [0, {len(images)})")
    lonely = np.flatnonzero(np.bincount(owner, minlength=len(images)) == 0)
    if len(lonely):
        ids = sample_ids or [str(i) for i in range(len(images))]
        named = ", ".join(f"'{ids[i]}'" for i in lonely[:5]) + (" ..." if len(lonely) > 5 else "")
        raise GoldenError(f"{len(lonely)} sample(s) without captions ({named}); "
                          "retrieval needs at least one caption per image")
    t2i, i2t = positive_ranks(captions, images, owner, block=block, reverse=True, device=device)
    return Ranks(i2t=i2t, t2i=t2i, owner=owner)


def rank_all(inputs: RetrievalEmbeddings, block: int = DEFAULT_BLOCK, device: Any = None) -> Ranks:
    """The ranks of the embeddings of ``inputs`` on ``device`` (neither ``block`` nor ``device`` changes them)."""
    captions, owner = inputs.caption_embeddings()
    return rank_arrays(inputs.image_embeddings(), captions, owner, inputs.sample_ids, block, device)


def nan_median(values: np.ndarray) -> np.ndarray:
    """Median over the last axis ignoring NaN (NaN where all are NaN); vectorised, no warnings."""
    ordered = np.sort(values, axis=-1)  # NaN sorts last
    m = np.count_nonzero(~np.isnan(ordered), axis=-1)
    lo = np.take_along_axis(ordered, np.maximum((m - 1) // 2, 0)[..., None], axis=-1)[..., 0]
    hi = np.take_along_axis(ordered, (m // 2)[..., None], axis=-1)[..., 0]
    return np.where(m > 0, (lo + hi) / 2, np.nan)


def ratio_of_sums(stats: np.ndarray) -> np.ndarray:
    """``sum(column 0) / sum(column 1)`` over the sample axis (NaN where the denominator is 0)."""
    stats = np.asarray(stats, dtype=np.float64)
    num, den = stats[..., 0].sum(axis=-1), stats[..., 1].sum(axis=-1)
    return np.divide(num, den, out=np.full(np.shape(num), np.nan), where=den != 0)


class _Retrieval(Metric[RetrievalInputs]):
    """Shared definition; subclasses set ``direction`` and ``statistic``."""

    direction: ClassVar[str]
    statistic: ClassVar[str]
    needs: ClassVar[tuple[str, ...]] = ("caption",)
    family: ClassVar[str] = "retrieval"

    def definition(self, params: Mapping[str, Any], scorer: str) -> dict[str, Any]:
        """The retrieval definition: direction, statistic, similarity, ties, positives."""
        return {**super().definition(params, scorer), "direction": self.direction,
                "statistic": self.statistic, "similarity": "cosine, float64", "rank": "1-based",
                "ties": TIES, "tie_tolerance": TIE_TOL,
                "positives": "all captions of the image; image->text ranks the best one, "
                             "other positives not counted against it",
                "unit": "image"}


class _I2T(_Retrieval):
    direction: ClassVar[str] = "image->text"
    mean_sufficient: ClassVar[bool] = True  # the mean of the first column (the median rank overrides it)

    def per_sample(self, inputs: RetrievalInputs, params: Mapping[str, Any]) -> np.ndarray:
        """One column, the image's rank (recall subclasses add a hit column first)."""
        return inputs.ranks().i2t.astype(np.float64)[:, None]

    def counted(self, stats: np.ndarray) -> Counted | None:
        """The mean of the first column from draw counts: the one column the bootstrap sums."""
        return MeanCounted(np.asarray(stats, dtype=np.float64)[:, :1], self.aggregate)


class _I2TRecall(_I2T):
    higher_is_better: ClassVar[bool] = True
    columns: ClassVar[tuple[str, ...]] = ("hit", "rank")
    k: ClassVar[int]

    def per_sample(self, inputs: RetrievalInputs, params: Mapping[str, Any]) -> np.ndarray:
        """Columns: 1 when the image's best caption ranks within K, its rank."""
        rank = super().per_sample(inputs, params)
        return np.concatenate([(rank <= self.k).astype(np.float64), rank], axis=1)


class I2TRecallAt1(_I2TRecall):
    """Image→text recall at 1."""
    name, k, statistic = "i2t_r1", 1, "recall@1, mean over images"


class I2TRecallAt5(_I2TRecall):
    """Image→text recall at 5."""
    name, k, statistic = "i2t_r5", 5, "recall@5, mean over images"


class I2TRecallAt10(_I2TRecall):
    """Image→text recall at 10."""
    name, k, statistic = "i2t_r10", 10, "recall@10, mean over images"


class I2TMedianRank(_I2T):
    """Image→text median rank over images (lower is better)."""
    name, higher_is_better, columns = "i2t_median_rank", False, ("rank",)
    statistic = "median rank over images"
    mean_sufficient: ClassVar[bool] = False

    def aggregate(self, stats: np.ndarray) -> np.ndarray:
        """Median of the rank column over the sample axis."""
        return np.median(np.asarray(stats, dtype=np.float64)[..., 0], axis=-1)

    def counted(self, stats: np.ndarray) -> Counted | None:
        """The median from draw counts (``qa_gate.metrics.counted``); ``None`` when a rank is NaN."""
        column = np.asarray(stats, dtype=np.float64)[:, :1]
        return None if np.isnan(column).any() else median_counted(column)


class I2TMeanRank(_I2T):
    """Image→text mean rank over images (lower is better)."""
    name, higher_is_better, columns = "i2t_mean_rank", False, ("rank",)
    statistic = "mean rank over images"


class _T2I(_Retrieval):
    direction: ClassVar[str] = "text->image"
    mean_sufficient: ClassVar[bool] = True  # a ratio of sums (the median rank overrides it)

    def aggregate(self, stats: np.ndarray) -> np.ndarray:
        """Pooled over captions: ``sum(column 0) / sum(captions)``."""
        return ratio_of_sums(stats)

    def sample_values(self, stats: np.ndarray) -> np.ndarray:
        """The image's own ratio (its captions' recall or mean rank)."""
        return ratio_of_sums(np.asarray(stats, dtype=np.float64)[:, None, :])


class _T2IRecall(_T2I):
    higher_is_better: ClassVar[bool] = True
    columns: ClassVar[tuple[str, ...]] = ("hits", "captions")
    k: ClassVar[int]

    def per_sample(self, inputs: RetrievalInputs, params: Mapping[str, Any]) -> np.ndarray:
        """Columns: the image's captions whose image ranks within K, its caption count."""
        ranks = inputs.ranks()
        n = len(ranks.i2t)
        hits = np.bincount(ranks.owner, weights=(ranks.t2i <= self.k).astype(np.float64), minlength=n)
        return np.stack([hits, np.bincount(ranks.owner, minlength=n).astype(np.float64)], axis=1)


class T2IRecallAt1(_T2IRecall):
    """Text→image recall at 1, pooled over captions."""
    name, k, statistic = "t2i_r1", 1, "recall@1, pooled over captions"


class T2IRecallAt5(_T2IRecall):
    """Text→image recall at 5, pooled over captions."""
    name, k, statistic = "t2i_r5", 5, "recall@5, pooled over captions"


class T2IRecallAt10(_T2IRecall):
    """Text→image recall at 10, pooled over captions."""
    name, k, statistic = "t2i_r10", 10, "recall@10, pooled over captions"


class T2IMeanRank(_T2I):
    """Text→image mean rank over all captions (lower is better)."""
    name, higher_is_better, columns = "t2i_mean_rank", False, ("rank_sum", "captions")
    statistic = "mean rank, pooled over captions"

    def per_sample(self, inputs: RetrievalInputs, params: Mapping[str, Any]) -> np.ndarray:
        """Columns: the sum of the image's caption ranks, its caption count."""
        ranks = inputs.ranks()
        n = len(ranks.i2t)
        total = np.bincount(ranks.owner, weights=ranks.t2i.astype(np.float64), minlength=n)
        return np.stack([total, np.bincount(ranks.owner, minlength=n).astype(np.float64)], axis=1)


class T2IMedianRank(_T2I):
    """Text→image median rank over all captions (lower is better)."""
    name, higher_is_better = "t2i_median_rank", False
    mean_sufficient: ClassVar[bool] = False
    columns: ClassVar[tuple[str, ...]] = ("caption_rank",)
    """Repeated once per caption slot: ``C`` columns, NaN padded (``C`` = most captions of an image)."""
    statistic = "median rank, pooled over captions"

    def per_sample(self, inputs: RetrievalInputs, params: Mapping[str, Any]) -> np.ndarray:
        """``[n, C]``: the ranks of the image's captions, NaN padded."""
        return inputs.ranks().t2i_padded()

    def aggregate(self, stats: np.ndarray) -> np.ndarray:
        """Median of all non-NaN ranks of the rows, per leading index."""
        stats = np.asarray(stats, dtype=np.float64)
        return nan_median(stats.reshape(*stats.shape[:-2], -1))

    def counted(self, stats: np.ndarray) -> Counted | None:
        """The pooled median from draw counts (``qa_gate.metrics.counted``)."""
        return median_counted(stats)

    def sample_values(self, stats: np.ndarray) -> np.ndarray:
        """The median rank of the image's captions."""
        return nan_median(np.asarray(stats, dtype=np.float64))
