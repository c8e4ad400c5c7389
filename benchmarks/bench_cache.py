"""The output cache on the demo gate: cold vs warm ``mm-gate run``, alternating in one run, and one changed sample.

    python benchmarks/bench_cache.py [--rounds 3]

Copies the demo project (thresholds, golden suites, baseline) to a temporary folder, then per round
runs ``mm-gate run`` once **cold** (a fresh, empty cache folder: the model loads, every output is
computed and stored) and once **warm** (the cache the first cold run filled: nothing changed). It
also times ``python -c pass`` and ``python -c "import torch"`` (what a warm run no longer pays: with every
output cached it never imports torch, ``tests/faces/test_torch_free_warm_run.py``), and a warm run after
one image of ``golden/shapes`` changed (re-hashed), whose cache line shows how many outputs were
recomputed (that image's, one per operation reading it).
Wall times include interpreter start-up; each is the median of the rounds.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHECKPOINT = ROOT / "qa_gate" / "demo" / "checkpoints" / "good"


def _timed(command: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, str]:
    began = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - began
    if done.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(command)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    cache_line = next((line for line in (done.stdout + done.stderr).splitlines() if "output cache:" in line), "")
    return seconds, cache_line


def _project(base: Path) -> Path:
    project = base / "demo"
    project.mkdir()
    shutil.copytree(ROOT / "golden", project / "golden")
    shutil.copytree(ROOT / "baselines", project / "baselines")
    shutil.copy(ROOT / "thresholds.yaml", project / "thresholds.yaml")
    return project


def _gate(cache: Path) -> list[str]:
    return [sys.executable, "-m", "qa_gate.cli", "run", "--checkpoint", str(CHECKPOINT), "--cache-dir", str(cache),
            "--report", "report.md", "--verdict", "verdict.json", "--device", "cpu"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    with tempfile.TemporaryDirectory(prefix="bench-cache-") as tmp:
        base = Path(tmp)
        project = _project(base)
        warm_cache = base / "warm-cache"
        _timed(_gate(warm_cache), project, env)  # fills the warm cache
        times: dict[str, list[float]] = {"python -c pass": [], "python -c 'import torch'": [], "cold": [], "warm": []}
        lines: dict[str, str] = {}
        for round_ in range(args.rounds):
            times["python -c pass"].append(_timed([sys.executable, "-c", "pass"], project, env)[0])
            times["python -c 'import torch'"].append(_timed([sys.executable, "-c", "import torch"], project, env)[0])
            seconds, lines["cold"] = _timed(_gate(base / f"cold-{round_}"), project, env)
            times["cold"].append(seconds)
            seconds, lines["warm"] = _timed(_gate(warm_cache), project, env)
            times["warm"].append(seconds)
        from PIL import Image

        from qa_gate.golden.suite import write_hashes

        shapes = project / "golden" / "shapes"
        first = sorted((shapes / "images").iterdir())[0]
        with Image.open(first) as image:
            image.rotate(90).save(first)
        write_hashes(shapes)
        changed, lines["one changed image"] = _timed(_gate(warm_cache), project, env)
    print(f"demo gate, {args.rounds} rounds alternating, median wall seconds (interpreter start-up included):")
    for name, values in times.items():
        print(f"  {name:28s} {statistics.median(values):6.2f}   ({', '.join(f'{v:.2f}' for v in values)})")
    print(f"  {'one changed image (warm)':28s} {changed:6.2f}")
    cold, warm = statistics.median(times["cold"]), statistics.median(times["warm"])
    print(f"  warm / cold = {warm / cold:.2f}; warm beyond interpreter start-up: "
          f"{warm - statistics.median(times['python -c pass']):.2f} s")
    for name, line in lines.items():
        print(f"  {name}: {line.strip() or '(no cache line)'}")


if __name__ == "__main__":
    main()
