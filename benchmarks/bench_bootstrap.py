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

``--scale 1000,10000,100000 --threads`` instead times ``evaluate`` with the bootstrap's BLAS pool scoped
to one thread (``resampling.BLAS_THREADS = 1``, the default) against the pools as they are (``None``),
alternating ``--repeat`` rounds, and compares the verdicts (statuses; how far the bounds moved).

``--scale 1000,10000,100000`` instead times a whole suite's bootstrap in one run, old against new:
10 regression rules (clipscore, refclipscore, cosine, zeroshot_top1, zeroshot_mean_per_class_recall,
i2t_r1, t2i_r1, t2i_median_rank, vqa_accuracy, f1_micro-like ratio) and 5 slice keys of 4 values each.
Old: one ``estimate_drop`` per rule and one ``delta_interval`` per (metric, slice), each with its own
draws, as the gate did; new: ``verdict.gate.evaluate`` (one set of draws, intervals for the shown
slices). Old above ``--old-max`` samples is extrapolated linearly from the largest size timed.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

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


SCALE_METRICS = ("clipscore", "refclipscore", "cosine", "zeroshot_top1", "zeroshot_mean_per_class_recall",
                 "i2t_r1", "t2i_r1", "t2i_median_rank", "vqa_accuracy", "cer")


def _scale_stats(name: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """Plausible per-sample statistics of ``name`` for ``n`` samples."""
    if name == "refclipscore":
        return rng.random((n, 3))
    if name in ("zeroshot_top1", "i2t_r1"):
        rank = rng.integers(1, 6, n).astype(float)
        return np.stack([(rank <= 1).astype(float), rank], axis=1)
    if name == "zeroshot_mean_per_class_recall":
        return np.stack([rng.integers(0, 2, n), rng.integers(0, 10, n)], axis=1).astype(float)
    if name in ("t2i_r1", "cer"):
        return np.stack([rng.integers(0, 3, n), rng.integers(3, 6, n)], axis=1).astype(float)
    if name == "t2i_median_rank":
        out = rng.integers(1, 50, (n, 5)).astype(float)
        out[rng.random((n, 5)) < 0.3] = np.nan
        out[:, 0] = rng.integers(1, 50, n)
        return out
    return rng.random((n, 1))


def _scale_runs(n: int, resamples: int) -> tuple[Any, Any, Any]:
    """A baseline and a candidate run of ``n`` samples (5 slice keys x 4 values) and a config ruling every metric."""
    from types import MappingProxyType

    from qa_gate.config.model import Rule
    from qa_gate.metrics.registry import get_metric
    from qa_gate.results import CheckpointInfo, MetricResult, RunResult, SampleInfo, SuiteResult

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from support.runs import build_config

    rng = np.random.default_rng(n)
    tags = [MappingProxyType({f"key{k}": f"v{int(v)}" for k, v in enumerate(row)})
            for row in rng.integers(0, 4, size=(n, 5))]
    samples = tuple(SampleInfo(f"s{i}", "", tags[i]) for i in range(n))

    def run(shift: float) -> RunResult:
        metrics = {}
        for name in SCALE_METRICS:
            stats = _scale_stats(name, n, rng)
            value = float(get_metric(name).aggregate(stats))
            metrics[name] = MetricResult(name, value, get_metric(name).higher_is_better, "fp", {}, stats,
                                         tuple(get_metric(name).sample_values(stats).tolist()))
        suite = SuiteResult("shapes", "golden/shapes", "sfp", samples, MappingProxyType(metrics))
        return RunResult(CheckpointInfo("a", "c", "h", "m"), {}, (suite,), "t")

    base, cand = run(0.0), run(0.01)
    return cand, base, build_config({name: [Rule("max_drop", 0.05)] for name in SCALE_METRICS}, resamples=resamples)


def threads(sizes: list[int], resamples: int, repeat: int) -> None:
    """``evaluate`` with the bootstrap on one BLAS thread against the BLAS pools as they are, alternating."""
    from threadpoolctl import threadpool_info

    from qa_gate.verdict import resampling
    from qa_gate.verdict.gate import evaluate

    pools = ", ".join(f"{p['internal_api']} {p['num_threads']}" for p in threadpool_info() if p["user_api"] == "blas")
    print(f"## whole-suite bootstrap, {resamples} resamples, BLAS pools as loaded: {pools}; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"{'n':>7} | {'1 thread s':>22} | {'as they are s':>22} | ratio | verdicts")
    for n in sizes:
        cand, base, config = _scale_runs(n, resamples)
        times: dict[Any, list[float]] = {1: [], None: []}
        verdicts = {}
        for _ in range(repeat):
            for limit in (1, None):
                resampling.BLAS_THREADS = limit
                began = time.perf_counter()
                verdicts[limit] = evaluate(cand, base, config)
                times[limit].append(time.perf_counter() - began)
        resampling.BLAS_THREADS = 1
        one_v, free_v = verdicts[1], verdicts[None]
        same = [a.status for a in one_v.checks] == [b.status for b in free_v.checks]
        bounds = [(x.low, y.low) for x, y in zip(one_v.slices, free_v.slices) if x.low is not None]
        bounds += [(x.estimate.low, y.estimate.low) for x, y in zip(one_v.checks, free_v.checks) if x.estimate]
        moved = max((abs(a - b) for a, b in bounds if a is not None and b is not None), default=0.0)
        one, free = min(times[1]), min(times[None])
        print(f"{n:>7} | {', '.join(f'{t:.1f}' for t in times[1]):>22} | "
              f"{', '.join(f'{t:.1f}' for t in times[None]):>22} | {free / one:4.1f}x | statuses {same}, "
              f"bounds differ by <= {moved:.1e}")


def scale(sizes: list[int], resamples: int, old_max: int) -> None:
    """Old (per rule, per slice draws) against new (one set of draws per suite) on whole suites."""
    from qa_gate.metrics.registry import get_metric
    from qa_gate.verdict.diffs import delta_interval, paired_rows, slice_rows
    from qa_gate.verdict.gate import evaluate

    print(f"## whole-suite bootstrap, {resamples} resamples, {len(SCALE_METRICS)} regression rules, 5 slice keys x 4")
    print(f"{'n':>7} | {'old s':>8} | {'new s':>7} | {'old/new':>7} | slices with intervals (new / old)")
    last = None
    for n in sizes:
        cand, base, config = _scale_runs(n, resamples)
        began = time.perf_counter()
        verdict = evaluate(cand, base, config)
        new_s = time.perf_counter() - began
        shown = sum(1 for s in verdict.slices if s.low is not None)
        if n <= old_max:
            began = time.perf_counter()
            suite, base_suite = cand.suites[0], base.suites[0]
            for name in SCALE_METRICS:
                impl, metric, base_metric = get_metric(name), suite.metrics[name], base_suite.metrics[name]
                estimate_drop(impl.aggregate, metric.stats, base_metric.stats, higher_is_better=impl.higher_is_better,
                              relative=False, allowed=0.05, resamples=resamples, mean_sufficient=impl.mean_sufficient)
                for rows in slice_rows(suite).values():
                    delta_interval(metric, base_metric, rows, paired_rows(suite, base_suite, rows) or [], 0.95,
                                   resamples, 0)
            old_s = time.perf_counter() - began
            last = (n, old_s)
            old_text = f"{old_s:>8.1f}"
        elif last is not None:
            old_s = last[1] * n / last[0]
            old_text = f"~{old_s:>7.0f}"
        else:
            old_s, old_text = float("nan"), f"{'-':>8}"
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"{n:>7} | {old_text} | {new_s:>7.1f} | {old_s / new_s:>6.1f}x | {shown} / "
              f"{len(verdict.slices)} | max RSS so far {rss:.0f} MiB")


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
    parser.add_argument("--scale", default="", help="time whole suites of these sizes, old against new")
    parser.add_argument("--old-max", type=int, default=10_000, help="--scale: largest size the old way is timed at")
    parser.add_argument("--threads", action="store_true", help="--scale: one BLAS thread against the pools as they are")
    args = parser.parse_args()
    if args.scale and args.threads:
        threads([int(x) for x in args.scale.split(",")], args.resamples, args.repeat)
        return
    elif args.scale:
        scale([int(x) for x in args.scale.split(",")], args.resamples, args.old_max)
        return
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
