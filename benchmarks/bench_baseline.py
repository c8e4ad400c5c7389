"""Size and speed of the baseline pair (``baseline.json`` + ``baseline.samples.npz``), and proof that its float32
per-sample scores change no verdict.

    python benchmarks/bench_baseline.py [--n 100000] [--demo]

1. A run of ``--n`` samples with the column kinds of the demo's eleven metrics (each demo suite's rows drawn
   at random, continuous scores jittered so that every value is distinct, ranks spread over 1..n), ids, texts
   and five tags: the pair's size and write/read times, against the single-file (version 1) JSON.
2. ``--demo``: scores the demo's good and regressed checkpoints and judges each against the committed demo
   baseline read as it is and after a round trip through the pair (rounded to float32): every check's status,
   and the largest change of any value, baseline value, bound or slice interval.
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path
from types import MappingProxyType

import numpy as np

from qa_gate.baseline.file import FileBaselineStore, samples_path
from qa_gate.baseline.run_json import dumps
from qa_gate.results import RunResult, SampleInfo, SuiteResult

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "baselines" / "baseline.json"


def scaled_run(demo: RunResult, n: int, seed: int = 0) -> RunResult:
    """One suite of ``n`` samples carrying every metric of the demo baseline, with realistic column entropy."""
    rng = np.random.default_rng(seed)
    colours, shapes = ("red", "green", "blue", "yellow", "purple"), ("circle", "square", "triangle", "cross")
    samples = tuple(SampleInfo(f"sample-{i:06d}", f"a {colours[i % 5]} {shapes[i // 5 % 4]} number {i}",
                               MappingProxyType({"colour": colours[i % 5], "shape": shapes[i // 5 % 4],
                                                 "size": ("small", "large")[i % 3 % 2], "bg": ("light", "dark")[i % 2],
                                                 "group": f"g{i % 10}"})) for i in range(n))
    metrics = {}
    for suite in demo.suites:
        for metric in suite.metrics.values():
            rows = rng.integers(0, len(suite.samples), n)
            stats, per = metric.stats[rows].copy(), np.asarray(metric.per_sample)[rows]
            for j in range(stats.shape[1]):
                if not np.all(stats[:, j] == np.rint(stats[:, j])):
                    noise = rng.normal(0, 0.02, n)
                    if np.array_equal(stats[:, j], per):
                        per = per + noise
                    stats[:, j] += noise
            if "rank" in metric.name:
                stats[:, 0] = rng.geometric(0.01, n)
            metrics[metric.name] = dataclasses.replace(metric, stats=stats, per_sample=tuple(per.tolist()))
    suite = SuiteResult("big", "golden/big", "fp", samples, MappingProxyType(metrics))
    return RunResult(demo.checkpoint, demo.environment, (suite,), demo.created)


def sizes(n: int) -> None:
    demo = FileBaselineStore(DEMO).read()
    assert demo is not None
    run = scaled_run(demo, n)
    folder = Path(tempfile.mkdtemp())
    store = FileBaselineStore(folder / "baseline.json")
    t0 = time.perf_counter()
    store.write(run)
    wrote = time.perf_counter() - t0
    t0 = time.perf_counter()
    store.read()
    read = time.perf_counter() - t0
    json_size = (folder / "baseline.json").stat().st_size
    npz_size = samples_path(folder / "baseline.json").stat().st_size
    t0 = time.perf_counter()
    single = len(dumps(run).encode("utf-8"))
    dumped = time.perf_counter() - t0
    print(f"{n} samples, {len(run.suites[0].metrics)} metrics: pair {json_size / 1e3:.1f} kB JSON + "
          f"{npz_size / 1e6:.2f} MB per-sample file ({(json_size + npz_size) / n:.0f} B/sample), "
          f"write {wrote:.2f} s, read {read:.2f} s; single-file JSON {single / 1e6:.1f} MB "
          f"({single / n:.0f} B/sample), dumps {dumped:.1f} s")


def demo_verdicts() -> None:
    from qa_gate.config.model import Overrides
    from qa_gate.pipeline import prepare, score
    from qa_gate.verdict.gate import evaluate

    as_committed = FileBaselineStore(DEMO).read()
    assert as_committed is not None
    folder = Path(tempfile.mkdtemp())
    FileBaselineStore(folder / "baseline.json").write(as_committed)
    paired = FileBaselineStore(folder / "baseline.json").read()
    for name in ("good", "regressed"):
        prepared = prepare(REPO / "thresholds.yaml",
                           Overrides(checkpoint=str(REPO / "qa_gate" / "demo" / "checkpoints" / name), device="cpu"))
        run = score(prepared)
        one, other = (evaluate(run, base, prepared.config) for base in (as_committed, paired))
        same = [a.status == b.status for a, b in zip(one.checks, other.checks)]
        numbers = [(a.baseline, b.baseline) for a, b in zip(one.checks, other.checks) if a.baseline is not None]
        numbers += [(getattr(a.estimate, f), getattr(b.estimate, f)) for a, b in zip(one.checks, other.checks)
                    if a.estimate is not None for f in ("drop", "low", "high")]
        numbers += [(getattr(a, f), getattr(b, f)) for a, b in zip(one.slices, other.slices)
                    if a.low is not None for f in ("baseline", "low", "high")]
        # Δ intervals go to the worst slices only (``diffs.SHOWN_SLICES``): where Δ is noise, 1e-8 of rounding
        # may pick another one among near-equal slices. Compare the intervals both computed; count the others.
        picked = [(a.slice, a.metric) for a in one.slices if a.low is not None]
        other_picked = [(b.slice, b.metric) for b in other.slices if b.low is not None]
        numbers = [(a, b) for a, b in numbers if a is not None and b is not None]
        worst = max(abs(a - b) for a, b in numbers)
        moved = [(a.slice, a.metric, a.delta, b.delta) for a, b in zip(one.slices, other.slices)
                 if (a.low is None) != (b.low is None)]
        print(f"  slices with an interval: {len(picked)} vs {len(other_picked)}, "
              f"{len(set(picked) ^ set(other_picked))} differ: {moved}")
        failed = sum(c.status.failed for c in one.checks)
        print(f"{name}: {sum(same)}/{len(same)} checks with the same status ({failed} failed), "
              f"{len(numbers)} numbers compared, largest difference {worst:.2e}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--demo", action="store_true", help="also prove the demo's verdicts unchanged (runs the model)")
    args = parser.parse_args()
    sizes(args.n)
    if args.demo:
        demo_verdicts()


if __name__ == "__main__":
    main()
