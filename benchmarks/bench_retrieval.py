"""Time and peak memory of blocked retrieval ranking (``qa_gate.metrics.retrieval.rank_arrays``).

    python benchmarks/bench_retrieval.py [--images 10000] [--captions 5] [--dim 512]
                                         [--blocks 1024,2048,4096] [--dtypes float32,float64] [--full]

Random L2-normalised embeddings (each caption = its image plus noise, renormalised).
For each input dtype and block size, prints the best wall time over ``--repeat`` runs and
the peak memory ``rank_arrays`` allocated beyond its inputs (tracemalloc, which numpy
reports to), next to the size of the full ``n_captions x n_images`` float64 matrix that
blocking avoids. ``--full`` also times the naive full-matrix computation for comparison.
"""

from __future__ import annotations

import argparse
import resource
import time
import tracemalloc

import numpy as np

from qa_gate.metrics.retrieval import rank_arrays


def suite(n_images: int, per_image: int, dim: int, dtype: str, seed: int = 0
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Random normalised images, ``per_image`` noisy captions each, and the owner index."""
    rng = np.random.default_rng(seed)
    images = rng.standard_normal((n_images, dim)).astype(dtype)
    images /= np.linalg.norm(images, axis=1, keepdims=True)
    owner = np.repeat(np.arange(n_images), per_image)
    captions = (images[owner] + rng.standard_normal((len(owner), dim)).astype(dtype) * 0.3).astype(dtype)
    captions /= np.linalg.norm(captions, axis=1, keepdims=True)
    return images, captions, owner


def full_matrix_ranks(images: np.ndarray, captions: np.ndarray, owner: np.ndarray) -> np.ndarray:
    """Text->image ranks from the whole similarity matrix at once (the unblocked baseline)."""
    sims = captions.astype(np.float64) @ images.astype(np.float64).T
    pos = sims[np.arange(len(owner)), owner]
    return np.count_nonzero(sims >= pos[:, None] - 1e-9, axis=1)


def measure(fn: object, repeat: int) -> tuple[float, float, object]:
    """Best wall seconds over ``repeat`` runs, peak traced MiB of one run, the result."""
    best, result = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()  # type: ignore[operator]
        best = min(best, time.perf_counter() - t0)
    tracemalloc.start()
    fn()  # type: ignore[operator]
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return best, peak / 2**20, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--captions", type=int, default=5, help="captions per image")
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--blocks", default="1024,2048,4096")
    parser.add_argument("--dtypes", default="float32,float64", help="dtype of the input embeddings")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--full", action="store_true", help="also time the full-matrix baseline")
    args = parser.parse_args()

    n_captions = args.images * args.captions
    full_bytes = n_captions * args.images * 8
    print(f"{args.images} images x {args.captions} captions = {n_captions} captions, d={args.dim}")
    print(f"full similarity matrix (float64): {full_bytes / 2**30:.2f} GiB "
          f"({n_captions} x {args.images} x 8 bytes)")
    for dtype in args.dtypes.split(","):
        images, captions, owner = suite(args.images, args.captions, args.dim, dtype)
        inputs_mib = (images.nbytes + captions.nbytes + owner.nbytes) / 2**20
        print(f"\ninputs {dtype}: {inputs_mib:.0f} MiB")
        print(f"{'block':>6} {'time s':>8} {'peak MiB':>9} {'of full':>8}  i2t_r1  t2i_r1")
        reference = None
        for block in (int(b) for b in args.blocks.split(",")):
            seconds, peak, ranks = measure(lambda: rank_arrays(images, captions, owner, block=block), args.repeat)
            assert ranks is not None
            if reference is None:
                reference = ranks
            assert np.array_equal(ranks.t2i, reference.t2i) and np.array_equal(ranks.i2t, reference.i2t)
            print(f"{block:>6} {seconds:>8.2f} {peak:>9.0f} {peak * 2**20 / full_bytes:>7.1%}  "
                  f"{np.mean(ranks.i2t <= 1):.4f}  {np.mean(ranks.t2i <= 1):.4f}")
        if args.full:
            seconds, peak, t2i = measure(lambda: full_matrix_ranks(images, captions, owner), 1)
            assert reference is not None and np.array_equal(np.asarray(t2i), reference.t2i)
            print(f"{'full':>6} {seconds:>8.2f} {peak:>9.0f} {peak * 2**20 / full_bytes:>7.1%}  "
                  f"(text->image only)")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\nprocess max RSS: {rss:.0f} MiB")


if __name__ == "__main__":
    main()
