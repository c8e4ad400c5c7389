"""Retrieval ranks: the float32 torch tiles (``qa_gate.metrics.ranking``) against the float64 numpy tiles
they replaced, in one run.

    python benchmarks/bench_retrieval.py [--images 1000,2000,4000,10000] [--captions 5] [--dim 512]
                                         [--device cpu] [--block 4096] [--old-max 10000] [--repeat 1]

Random L2-normalised float32 embeddings (each caption = its image plus noise, renormalised; a few
duplicated captions and images for exact ties). For each size prints the wall time of the old and
the new ranking, their ratio, how many entries the new one had to redo in float64, and checks the
ranks are identical. Sizes above ``--old-max`` time the new ranking only and extrapolate the old
one quadratically from the largest size measured.
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np

from qa_gate.metrics import ranking
from qa_gate.metrics.ranking import TIE_TOL, positive_ranks


def old_positive_ranks(queries: np.ndarray, targets: np.ndarray, owner: np.ndarray, block: int = 2048
                       ) -> tuple[np.ndarray, np.ndarray]:
    """The previous implementation: float64 copies, numpy tiles of float64 similarities."""
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
            rev[c:c + block] += np.count_nonzero(sims >= rev_thr[None, c:c + block], axis=0)
            del sims
    return fwd + 1, np.where(np.isfinite(best), rev + 1, 0)


def suite(n_images: int, per_image: int, dim: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Random normalised float32 images, ``per_image`` noisy captions each (a few duplicated), the owners."""
    rng = np.random.default_rng(seed)
    images = rng.standard_normal((n_images, dim), dtype=np.float32)
    images[1:4] = images[0]
    images /= np.linalg.norm(images, axis=1, keepdims=True)
    owner = np.repeat(np.arange(n_images), per_image)
    captions = images[owner] + rng.standard_normal((len(owner), dim), dtype=np.float32) * 1.2
    captions[10:20] = captions[5]
    captions /= np.linalg.norm(captions, axis=1, keepdims=True)
    return images, captions, owner


def redone_entries(captions: np.ndarray, images: np.ndarray, owner: np.ndarray, block: int, device: str) -> int:
    """How many entries the float32 brackets left to float64 (an extra, untimed run)."""
    redone = [0]
    real = ranking._redone

    def counting(pairs, sims, first, thr, vectors, right):  # type: ignore[no-untyped-def]
        redone[0] += len(pairs)
        return real(pairs, sims, first, thr, vectors, right)

    ranking._redone = counting
    try:
        positive_ranks(captions, images, owner, block=block, device=device)
    finally:
        ranking._redone = real
    return redone[0]


def timed(fn: object, repeat: int) -> tuple[float, object]:
    """Best wall seconds over ``repeat`` runs and the result."""
    best, result = float("inf"), None
    for _ in range(repeat):
        began = time.perf_counter()
        result = fn()  # type: ignore[operator]
        best = min(best, time.perf_counter() - began)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", default="1000,2000,4000,10000")
    parser.add_argument("--captions", type=int, default=5, help="captions per image")
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--block", type=int, default=ranking.DEFAULT_BLOCK)
    parser.add_argument("--old-max", type=int, default=10_000, help="largest size the old ranking is timed at")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()

    import torch

    print(f"{args.captions} captions per image, d={args.dim}, device {args.device}, block {args.block}, "
          f"torch threads {torch.get_num_threads()}")
    print(f"{'images':>7} {'captions':>8} {'old s':>8} {'new s':>8} {'old/new':>8} {'float64 redo':>12}  "
          "i2t_r1  t2i_r1")
    last: tuple[int, float] | None = None
    for n in (int(x) for x in args.images.split(",")):
        images, captions, owner = suite(n, args.captions, args.dim)
        new_s, new = timed(lambda: positive_ranks(captions, images, owner, block=args.block, device=args.device),
                           args.repeat)
        redo = redone_entries(captions, images, owner, args.block, args.device) if n <= 4000 else -1
        t2i, i2t = new  # type: ignore[misc]
        if n <= args.old_max:
            old_s, old = timed(lambda: old_positive_ranks(captions, images, owner), args.repeat)
            assert np.array_equal(old[0], t2i) and np.array_equal(old[1], i2t), "ranks differ"  # type: ignore[index]
            last = (n, old_s)
            old_text = f"{old_s:>8.2f}"
        else:
            assert last is not None
            old_s = last[1] * (n / last[0]) ** 2
            old_text = f"~{old_s:>7.0f}"
        print(f"{n:>7} {len(captions):>8} {old_text} {new_s:>8.2f} {old_s / new_s:>7.1f}x {redo:>12}  "
              f"{np.mean(i2t <= 1):.4f}  {np.mean(t2i <= 1):.4f}")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\nprocess max RSS: {rss:.0f} MiB")


if __name__ == "__main__":
    main()
