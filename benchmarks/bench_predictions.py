"""Gating a predictions file (``adapter: predictions``) on a large synthetic suite: read + coverage + metrics.

    python benchmarks/bench_predictions.py [--samples 100000] [--dim 64] [--captions 100] [--repeat 1]

Builds (untimed) a JSON Lines suite of ``--samples`` samples sharing one small image (``manifest.jsonl``,
each with a question, ten human answers and a caption from ``--captions`` distinct ones), and a predictions
file with one line per sample (``answer``, ``image_embedding`` and ``text_embedding`` of ``--dim`` values)
plus one text row per prefixed caption. Then it times, best of ``--repeat``: reading the file alone
(``read_predictions``), the suite's preparation (manifest, hashes: not the adapter's cost), and
``pipeline.score`` (the file read again, coverage, vqa_accuracy, clipscore and cosine).
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

COLOURS = ("red", "green", "blue", "yellow", "purple")
SHAPES = ("circle", "square", "triangle", "cross")


def build(root: Path, samples: int, dim: int, captions: int) -> Path:
    """The suite, the predictions file and the thresholds file under ``root``; returns the thresholds path."""
    from PIL import Image

    from qa_gate.golden.suite import write_hashes

    rng = random.Random(0)
    suite = root / "golden" / "big"
    (suite / "images").mkdir(parents=True)
    Image.new("RGB", (8, 8), (200, 30, 30)).save(suite / "images" / "one.png")
    texts = [f"a {COLOURS[i % 5]} {SHAPES[(i // 5) % 4]} number {i}" for i in range(captions)]
    with (suite / "manifest.jsonl").open("w") as manifest, (root / "preds.jsonl").open("w") as preds:
        manifest.write(json.dumps({"qa_gate_manifest": 1}) + "\n")
        for i in range(samples):
            colour = COLOURS[i % 5]
            manifest.write(json.dumps({"id": f"s{i:07d}", "image": "images/one.png", "caption": texts[i % captions],
                                       "question": "what color is it?", "answers": [colour] * 7 + ["red"] * 3})
                           + "\n")
            preds.write(json.dumps({"id": f"s{i:07d}", "answer": COLOURS[rng.randrange(5)],
                                    "image_embedding": [round(rng.gauss(0, 1), 6) for _ in range(dim)],
                                    "text_embedding": [round(rng.gauss(0, 1), 6) for _ in range(dim)]}) + "\n")
        for text in texts:
            preds.write(json.dumps({"input_text": "A photo depicts " + text,
                                    "text_embedding": [round(rng.gauss(0, 1), 6) for _ in range(dim)]}) + "\n")
    write_hashes(suite)
    thresholds = root / "thresholds.yaml"
    thresholds.write_text(
        "version: 1\nmodel:\n  adapter: predictions\n  checkpoint: preds.jsonl\n  options: {model_id: bench}\n"
        "baseline: {path: baseline.json}\nsuites:\n  big:\n    path: golden/big\n    metrics:\n"
        "      vqa_accuracy: {min: 0.0}\n      clipscore: {min: 0.0}\n      cosine: {min: -1.0}\n")
    return thresholds


def main() -> None:
    """Build, then print the timings."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--captions", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    from qa_gate.adapters.predictions.table import read_predictions
    from qa_gate.config.model import Overrides
    from qa_gate.pipeline import prepare, score

    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        began = time.perf_counter()
        thresholds = build(root, args.samples, args.dim, args.captions)
        size = (root / "preds.jsonl").stat().st_size / 2**20
        print(f"built {args.samples} samples, preds.jsonl {size:.0f} MiB, in {time.perf_counter() - began:.1f} s")
        best: dict[str, float] = {}
        for _ in range(args.repeat):
            for name, step in (("read_predictions", lambda: read_predictions(root / "preds.jsonl")),
                               ("prepare (suite)", lambda: prepare(thresholds, Overrides(quiet=True))),):
                began = time.perf_counter()
                step()
                best[name] = min(best.get(name, float("inf")), time.perf_counter() - began)
            prepared = prepare(thresholds, Overrides(quiet=True))
            began = time.perf_counter()
            run = score(prepared)
            best["score (read + coverage + metrics)"] = min(best.get("score (read + coverage + metrics)",
                                                                     float("inf")), time.perf_counter() - began)
        for name, seconds in best.items():
            print(f"{name:>36}: {seconds:7.2f} s")
        values = {n: round(m.value, 4) for n, m in run.suites[0].metrics.items()}
        print(f"metrics: {values}")


if __name__ == "__main__":
    main()
