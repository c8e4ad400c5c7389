"""Calibration and speed of the paired bootstrap (``qa_gate.stats``).

    python benchmarks/bench_bootstrap.py [--runs 200] [--sim-resamples 2000] [--noise 0.05]
        [--n 500] [--max-drop 0.01] [--confidences 0.95,0.9] [--big-n 100000] [--repeat 2]

Simulated suites are per-sample CLIPScores on the 2.5 scale: baseline ~ N(0.7, 0.1)
per sample, candidate = baseline - true drop + N(0, noise) per sample (noise 0.05:
two training runs of one model, not GPU jitter). Prints

1. the fail rate of ``significant`` mode with no true change, with a true drop of
   exactly ``max_drop`` (should sit near ``1 - confidence``) and with ``2 * max_drop``
   (the detection rate), per confidence;
2. how often ``strict`` refuses an unchanged model on a tiny noisy suite (20 samples,
   noise 0.15) and how often ``significant`` passes it;
3. the wall time of ``estimate_drop`` with 10,000 resamples over a ``--big-n`` suite for
   a mean metric (k=1) and a corpus ratio metric (k=2), and of ``paired_drops`` per
   chunk size.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from qa_gate.metrics.clip import CLIPScore
from qa_gate.verdict.stats import DropEstimate, estimate_drop, judge_drop, paired_drops

CLIP_MEAN = CLIPScore().aggregate


def ratio(stats: np.ndarray) -> np.ndarray:
    """A corpus-level metric: sum(col 0) / sum(col 1)."""
    return stats[..., 0].sum(axis=-1) / stats[..., 1].sum(axis=-1)


def simulate(*, n: int, noise: float, true_drop: float, runs: int, allowed: float, confidence: float,
             resamples: int, seed: int) -> list[DropEstimate]:
    """One drop estimate per simulated CLIPScore suite."""
    rng = np.random.default_rng(seed)
    out = []
    for run in range(runs):
        base = rng.normal(0.7, 0.1, size=(n, 1))
        cand = base - true_drop + rng.normal(0.0, noise, size=(n, 1))
        out.append(estimate_drop(CLIP_MEAN, cand, base, higher_is_better=True, relative=False,
                                 allowed=allowed, confidence=confidence, resamples=resamples, seed=run))
    return out


def rate(estimates: list[DropEstimate], allowed: float, mode: str, fails: bool = True) -> float:
    """Share of estimates whose rule fails (or holds, with ``fails=False``) in ``mode``."""
    return sum(judge_drop(e, allowed, mode) != fails for e in estimates) / len(estimates)


def best_time(fn, repeat: int) -> tuple[float, float]:
    """Best wall time and best process CPU time of ``fn()`` over ``repeat`` calls, in seconds.

    CPU time is the steadier number on a shared machine; the code is single-threaded.
    """
    walls, cpus = [], []
    for _ in range(repeat):
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
    return min(walls), min(cpus)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=200, help="simulated suites per scenario")
    parser.add_argument("--sim-resamples", type=int, default=2000, help="bootstrap resamples per simulated run")
    parser.add_argument("--n", type=int, default=500, help="samples per simulated suite")
    parser.add_argument("--noise", type=float, default=0.05, help="per-sample sd of candidate - baseline")
    parser.add_argument("--max-drop", type=float, default=0.01)
    parser.add_argument("--confidences", default="0.95,0.9")
    parser.add_argument("--big-n", type=int, default=100_000, help="suite size for the timing")
    parser.add_argument("--resamples", type=int, default=10_000, help="resamples for the timing")
    parser.add_argument("--chunks", default="25000,100000,1000000,20000000", help="chunk_elements to time")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--skip-timing", action="store_true")
    args = parser.parse_args()
    allowed = args.max_drop

    se = args.noise / np.sqrt(args.n)
    print(f"## 1. significant mode: CLIPScore suites, n={args.n}, per-sample noise sd {args.noise} "
          f"(SE of the mean drop {se:.4f}), max_drop {allowed}, {args.runs} runs x {args.sim_resamples} resamples")
    print(f"{'confidence':>10} | {'true drop':>9} | {'fail rate':>9} | {'mean low':>9} | {'mean min_detectable':>19}")
    for confidence in (float(c) for c in args.confidences.split(",")):
        for true_drop, label in ((0.0, "0"), (allowed, "1x max"), (2 * allowed, "2x max")):
            t0 = time.perf_counter()
            ests = simulate(n=args.n, noise=args.noise, true_drop=true_drop, runs=args.runs, allowed=allowed,
                            confidence=confidence, resamples=args.sim_resamples, seed=1)
            took = time.perf_counter() - t0
            print(f"{confidence:>10} | {label:>9} | {rate(ests, allowed, 'significant'):>9.3f} | "
                  f"{np.mean([e.low for e in ests]):>9.4f} | {np.mean([e.min_detectable for e in ests]):>19.4f}"
                  f"   ({took:.1f} s)")

    print(f"\n## 2. strict mode on a tiny noisy suite: n=20, noise sd 0.15, no true change, max_drop {allowed}")
    print(f"{'confidence':>10} | {'strict fails':>12} | {'significant passes':>18} | {'mean high':>9}")
    for confidence in (float(c) for c in args.confidences.split(",")):
        ests = simulate(n=20, noise=0.15, true_drop=0.0, runs=args.runs, allowed=allowed, confidence=confidence,
                        resamples=args.sim_resamples, seed=2)
        print(f"{confidence:>10} | {rate(ests, allowed, 'strict'):>12.3f} | "
              f"{rate(ests, allowed, 'significant', fails=False):>18.3f} | {np.mean([e.high for e in ests]):>9.4f}")
    if args.skip_timing:
        return

    rng = np.random.default_rng(3)
    n = args.big_n
    base1 = rng.normal(0.7, 0.1, size=(n, 1))
    cand1 = base1 + rng.normal(0.0, 0.05, size=(n, 1))
    length = rng.integers(5, 30, size=n).astype(float)
    base2 = np.stack([rng.binomial(length.astype(int), 0.6), length], axis=1).astype(float)
    cand2 = np.stack([rng.binomial(length.astype(int), 0.6), length], axis=1).astype(float)
    cases = (("k=1 mean (CLIPScore)", CLIP_MEAN, cand1, base1), ("k=2 ratio (corpus)", ratio, cand2, base2))
    print(f"\n## 3. wall time, {args.resamples} resamples over {n} samples (best of {args.repeat})")
    print(f"{'metric':>22} | {'call':>36} | {'wall s':>7} | {'CPU s':>6}")
    for label, aggregate, cand, base in cases:
        wall, cpu = best_time(lambda: estimate_drop(aggregate, cand, base, higher_is_better=True, relative=False,
                                                    allowed=allowed, resamples=args.resamples), args.repeat)
        print(f"{label:>22} | {'estimate_drop (default chunks)':>36} | {wall:>7.2f} | {cpu:>6.2f}")
        for chunk in (int(c) for c in args.chunks.split(",")):
            wall, cpu = best_time(lambda: paired_drops(aggregate, cand, base, higher_is_better=True,
                                                       relative=False, resamples=args.resamples,
                                                       chunk_elements=chunk), args.repeat)
            print(f"{label:>22} | {f'paired_drops chunk_elements={chunk}':>36} | {wall:>7.2f} | {cpu:>6.2f}")


if __name__ == "__main__":
    main()
