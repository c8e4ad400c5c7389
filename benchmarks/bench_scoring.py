"""Scoring throughput of the gate: load + encode + metrics on a golden suite.

    python benchmarks/bench_scoring.py [--thresholds thresholds.yaml] [--batch-sizes 16,64,256] [--repeat 3]

Prints, per batch size, the best wall time of the scoring stage (model loading
excluded) and samples per second, plus the one-off costs (config and golden
verification, model load). Runs on whatever device ``model.device`` resolves to.
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--thresholds", type=Path, default=Path("thresholds.yaml"))
    parser.add_argument("--batch-sizes", default="16,64,256")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from qa_gate.adapters.load import load_model
    from qa_gate.pipeline import prepare
    from qa_gate.scoring.device import autocast_dtype, resolve_device
    from qa_gate.scoring.families import demands
    from qa_gate.scoring.runner import run

    t0 = time.perf_counter()
    prepared = prepare(args.thresholds)
    t_prepare = time.perf_counter() - t0
    model = prepared.config.model
    device = resolve_device(model.device)
    dtype = autocast_dtype(model.dtype, device)
    t0 = time.perf_counter()
    loaded = load_model(model, device, demands(prepared.config))
    t_load = time.perf_counter() - t0
    n = sum(len(s.samples) for s in prepared.suites)
    import torch

    print(f"device {device} | autocast {dtype} | torch threads {torch.get_num_threads()} | {n} samples")
    print(f"prepare (config + golden sha256): {t_prepare * 1000:.0f} ms; model load: {t_load * 1000:.0f} ms")
    for batch in (int(b) for b in args.batch_sizes.split(",")):
        config = replace(prepared.config, model=replace(model, batch_size=batch))
        times = []
        for _ in range(args.repeat):
            if device.type == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            run(config, prepared.suites, loaded, device, dtype)
            if device.type == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - t0)
        best = min(times)
        print(f"batch {batch:>4}: best {best * 1000:8.1f} ms over {args.repeat} runs, {n / best:8.0f} samples/s")


if __name__ == "__main__":
    main()
