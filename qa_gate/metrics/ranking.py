"""Pessimistic ranks of positives, computed in float32 blocks with torch on the model's device.

The rule is the float64 one of retrieval and zero-shot (DESIGN.md §4): the rank of query ``j``'s
positive target ``owner[j]`` is ``1 +`` the other targets whose float64 cosine is ``>= pos - TIE_TOL``
(``pos`` the float64 cosine of the positive). The numbers are those of that rule, computed cheaply:

1. Each ``block x block`` tile of similarities is one float32 matrix product on the device
   (TF32 and other reduced-precision products are switched off for it).
2. A float32 similarity differs from the exact one by at most ``gamma * |q| * |t|`` (the
   rounding of the inputs to float32 and of a ``d``-term dot product in any order:
   ``gamma = (d + 2) u / (1 - (d + 2) u)``, ``u = 2^-24``, plus a float64 margin). An entry
   farther than that from its threshold is decided by the float32 value; the few within it
   (exact ties among them: duplicate captions or images) are recomputed in float64 and decided
   by the float64 rule. Rows of a tile with many such entries get one float64 matrix product
   against the tile; the others a float64 dot product per entry.

So no float64 copy of the embeddings and no ``n_queries x n_targets`` matrix is ever held: per
tile, one float32 block of similarities and a few boolean masks of it.

On the CPU the same steps run with numpy alone (``qa_gate.metrics.host_ranking``): the same ranks, as fast
as torch's tiles there (the same BLAS products), without torch's import when every embedding came from the
output cache, and counted against the distinct rows of each side when there are bitwise duplicates (a
caption many images share). ``tiled_positive_ranks`` is the torch path on any device.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from qa_gate.metrics.host_ranking import (
    HEAVY_ROW,
    HOST_BLOCK,
    PAIR_CHUNK,
    TIE_TOL,
    Masks,
    error_bound,
    host_positive_ranks,
)

if TYPE_CHECKING:
    import torch

__all__ = ["DEFAULT_BLOCK", "HEAVY_ROW", "PAIR_CHUNK", "TIE_TOL", "error_bound", "positive_ranks",
           "tiled_positive_ranks"]
DEFAULT_BLOCK = 4096
"""Tile edge: 64 MiB of float32 similarities per tile (``benchmarks/bench_retrieval.py``); on the CPU at most
``HOST_BLOCK``."""


def _on_host(device: Any) -> bool:
    """Whether ``device`` (``None``, a name, a ``torch.device``, a ``HostDevice``) is the CPU."""
    return device is None or str(getattr(device, "type", device)).split(":")[0] == "cpu"


def _device(device: Any) -> torch.device:
    import torch

    found = torch.device("cpu") if device is None else torch.device(str(device))
    return torch.device("cpu") if found.type == "mps" else found  # no float64 on MPS: rank on the CPU


def _counts_on_host(device: torch.device) -> bool:
    """Whether tiles on ``device`` are counted with numpy (the CPU) rather than torch."""
    return device.type == "cpu"


class _Highest:
    """Full float32 precision for the tile products (no TF32), restored afterwards."""

    def __enter__(self) -> None:
        import torch

        self._before = torch.get_float32_matmul_precision()
        torch.set_float32_matmul_precision("highest")

    def __exit__(self, *exc: object) -> None:
        import torch

        torch.set_float32_matmul_precision(self._before)


def _outward(values: torch.Tensor, up: bool) -> torch.Tensor:
    """``values`` (float64) as float32, rounded away from the float64 value in the given direction."""
    import torch

    rounded = values.float()
    target = torch.full_like(rounded, float("inf") if up else float("-inf"))
    wrong = rounded.double() < values if up else rounded.double() > values
    return torch.where(wrong, torch.nextafter(rounded, target), rounded)


class _Tiles:
    """The state of one ranking: inputs on the device, float64 thresholds and their float32 brackets."""

    def __init__(self, queries: np.ndarray, targets: np.ndarray, owner: np.ndarray, device: Any,
                 block: int) -> None:
        import torch

        dev = _device(device)
        self.block = block
        self.q = torch.as_tensor(queries).to(dev)  # the given dtype: the float64 rule reads these
        self.t = torch.as_tensor(targets).to(dev)
        self.q32 = self.q if self.q.dtype == torch.float32 else self.q.float()
        self.t32 = self.t if self.t.dtype == torch.float32 else self.t.float()
        self.owner = torch.as_tensor(owner, dtype=torch.int64).to(dev)
        nq, nt = len(queries), len(targets)
        pos = torch.empty(nq, dtype=torch.float64, device=dev)
        qn = torch.empty(nq, dtype=torch.float64, device=dev)
        for a in range(0, nq, block):
            rows = self.q[a:a + block].double()
            pos[a:a + block] = (rows * self.t[self.owner[a:a + block]].double()).sum(dim=1)
            qn[a:a + block] = rows.norm(dim=1)
        tn = torch.cat([self.t[c:c + block].double().norm(dim=1) for c in range(0, nt, block)]) if nt else \
            torch.zeros(0, dtype=torch.float64, device=dev)
        best = torch.full((nt,), float("-inf"), dtype=torch.float64, device=dev)
        best.scatter_reduce_(0, self.owner, pos, reduce="amax")
        self.has_positive = torch.isfinite(best)
        gamma = error_bound(queries.shape[1] if queries.ndim == 2 else 1)
        tmax = float(tn.max()) if nt else 0.0
        qmax = float(qn.max()) if nq else 0.0
        self.fwd_thr = pos - TIE_TOL
        self.rev_thr = rev_thr = torch.where(self.has_positive, best - TIE_TOL, torch.full_like(best, float("inf")))
        fwd_err, rev_err = gamma * qn * tmax, gamma * tn * qmax
        self.fwd_hi, self.fwd_lo = _outward(self.fwd_thr + fwd_err, True), _outward(self.fwd_thr - fwd_err, False)
        self.rev_hi, self.rev_lo = _outward(rev_thr + rev_err, True), _outward(rev_thr - rev_err, False)
        self.fwd = torch.zeros(nq, dtype=torch.int64, device=dev)
        self.rev = torch.zeros(nt, dtype=torch.int64, device=dev)
        self.host = _counts_on_host(dev)
        self._buffer: torch.Tensor | None = None
        self._masks = Masks()

    def tile(self, a: int, c: int, right: torch.Tensor, reverse: bool) -> None:
        """Count the tile ``queries[a:a+block] x targets[c:c+block]`` (``right``: that target block, transposed and
        contiguous) into ``fwd`` (and ``rev``)."""
        import torch

        b = self.block
        left = self.q32[a:a + b]
        sims = self._sims(len(left), right.shape[1])
        torch.mm(left, right, out=sims)
        own = self.owner[a:a + b]
        rows = torch.nonzero((own >= c) & (own < c + b)).flatten()
        sims[rows, own[rows] - c] = float("-inf")  # positives never count as negatives
        above, pairs = self._counts(sims, self.fwd_hi[a:a + b], self.fwd_lo[a:a + b], 1)
        self.fwd[a:a + b] += above
        if len(pairs):
            self.fwd[a:a + b] += _redone(pairs, sims, a, self.fwd_thr, self.q, self.t[c:c + b])
        if reverse:
            above, pairs = self._counts(sims, self.rev_hi[c:c + b], self.rev_lo[c:c + b], 0)
            self.rev[c:c + b] += above
            if len(pairs):
                self.rev[c:c + b] += _redone(pairs, sims.T, c, self.rev_thr, self.t, self.q[a:a + b])

    def _sims(self, rows: int, cols: int) -> torch.Tensor:
        """The tile's float32 similarity buffer (one allocation per ranking, reused by every tile)."""
        import torch

        if self._buffer is None:
            size = min(self.block, len(self.q32)) * min(self.block, len(self.t32))
            self._buffer = torch.empty(size, dtype=torch.float32, device=self.q32.device)
        return self._buffer[:rows * cols].view(rows, cols)

    def _counts(self, sims: torch.Tensor, hi: torch.Tensor, lo: torch.Tensor, dim: int
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per line of the tile (a row for ``dim=1``, a column for ``dim=0``, each with its thresholds): how many
        entries are decided above (``> hi``), and the undecided entries (``lo <= sim <= hi``) as ``[k, 2]``
        ``(line, index along the line)`` pairs. On the CPU with numpy, on views of the same memory (torch's
        boolean reductions cost several times the comparison there)."""
        import torch

        if not self.host:
            hi, lo = (hi[:, None], lo[:, None]) if dim == 1 else (hi[None, :], lo[None, :])
            above, reach = sims > hi, sims >= lo
            band = torch.nonzero(reach & ~above)
            return above.sum(dim=dim, dtype=torch.int32), band if dim == 1 else band.flip(1)
        count, pairs = self._masks.counts(sims.numpy(), hi.numpy(), lo.numpy(), dim)
        return torch.from_numpy(count), torch.from_numpy(pairs)

    def result(self, reverse: bool) -> tuple[np.ndarray, np.ndarray]:
        """``(forward ranks, reverse ranks)`` as numpy (reverse 0 for a target owning no query)."""
        import torch

        fwd = (self.fwd + 1).cpu().numpy()
        if not reverse:
            return fwd, np.zeros(len(self.rev), dtype=np.int64)
        rev = torch.where(self.has_positive, self.rev + 1, torch.zeros_like(self.rev))
        return fwd, rev.cpu().numpy()


def positive_ranks(queries: np.ndarray, targets: np.ndarray, owner: np.ndarray, *, block: int = DEFAULT_BLOCK,
                   reverse: bool = True, device: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """Pessimistic 1-based ranks of positives, from ``block x block`` tiles of similarities on ``device``.

    Query ``j``'s one positive is target ``owner[j]``. Forward: for each query, ``1 +`` the
    targets other than its positive with similarity ``>= sim(j, owner[j]) - TIE_TOL``.
    Reverse (when ``reverse``): for each target, ``1 +`` the queries it does not own with
    similarity ``>=`` its best positive's ``- TIE_TOL`` (``0`` for a target owning no query).
    ``device`` (a ``torch.device`` or its name; the CPU when ``None``) and ``block`` never change
    the ranks; the inputs are read in their own dtype (float32 or float64), never copied to float64.
    """
    if block < 1:
        raise ValueError(f"block must be >= 1, got {block}")
    if _on_host(device):
        return host_positive_ranks(queries, targets, owner, block=min(block, HOST_BLOCK), reverse=reverse)
    return tiled_positive_ranks(queries, targets, owner, block=block, reverse=reverse, device=device)


def tiled_positive_ranks(queries: np.ndarray, targets: np.ndarray, owner: np.ndarray, *, block: int = DEFAULT_BLOCK,
                         reverse: bool = True, device: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """:func:`positive_ranks` through torch tiles on ``device`` (the CPU when ``None``): the same ranks."""
    if block < 1:
        raise ValueError(f"block must be >= 1, got {block}")
    import torch

    with torch.no_grad(), _Highest():
        tiles = _Tiles(queries, targets, owner, device, block)
        for c in range(0, len(targets), block):
            right = tiles.t32[c:c + block].T.contiguous()  # a contiguous right side is faster
            for a in range(0, len(queries), block):
                tiles.tile(a, c, right, reverse)
        return tiles.result(reverse)


def _redone(pairs: torch.Tensor, sims: torch.Tensor, first: int, thr: torch.Tensor, vectors: torch.Tensor,
            right: torch.Tensor) -> torch.Tensor:
    """Per line of the tile ``sims`` (float32 similarities of ``vectors[first + line]`` with ``right``, lines
    along dim 0), how many of its undecided entries ``pairs`` (``[k, 2]`` (line, index)) reach ``thr`` in float64.

    A line with at least ``HEAVY_ROW`` such entries is recomputed by one float64 product with ``right``;
    the other entries by one float64 dot product each, ``PAIR_CHUNK`` elements at a time.
    """
    import torch

    dev = sims.device
    pairs = pairs.to(dev)
    out = torch.zeros(sims.shape[0], dtype=torch.int64, device=dev)
    per_line = torch.bincount(pairs[:, 0], minlength=sims.shape[0])
    heavy = torch.nonzero(per_line >= HEAVY_ROW).flatten()
    if len(heavy):
        wide = right.double()
        is_heavy = per_line >= HEAVY_ROW
        for h in range(0, len(heavy), 1024):
            lines = heavy[h:h + 1024]
            band = torch.zeros((len(lines), sims.shape[1]), dtype=torch.bool, device=dev)
            where = torch.full((sims.shape[0],), -1, dtype=torch.int64, device=dev)
            where[lines] = torch.arange(len(lines), device=dev)
            mine = pairs[where[pairs[:, 0]] >= 0]
            band[where[mine[:, 0]], mine[:, 1]] = True
            exact = vectors[first + lines].double() @ wide.T
            out[lines] += ((exact >= thr[first + lines, None]) & band).sum(dim=1)
        pairs = pairs[~is_heavy[pairs[:, 0]]]
    step = max(1, PAIR_CHUNK // max(1, vectors.shape[1]))
    for p in range(0, len(pairs), step):
        r, t = pairs[p:p + step, 0], pairs[p:p + step, 1]
        exact = torch.einsum("ij,ij->i", vectors[first + r].double(), right[t].double())
        out.index_add_(0, r, (exact >= thr[first + r]).long())
    return out
