"""Cost of the task-family metrics at dataset scale, without a model: per-sample statistics and a bootstrap.

    python benchmarks/bench_task_metrics.py [--vqa 214354] [--ocr 20000] [--labels 80] [--multilabel 50000]
                                            [--resamples 10000]

Synthetic inputs sized like public sets (VQA v2 val has 214,354 questions; COCO has 80
labels): VQA accuracy (official normalisation, pure Python per sample), CER and WER (one
jiwer alignment call), multilabel F1 statistics, then a paired bootstrap
(``qa_gate.stats.paired_drops``) of each aggregate, as the gate runs it on a regression rule.
Prints wall seconds per step.
"""

from __future__ import annotations

import argparse
import random
import time
from types import SimpleNamespace

import numpy as np

from qa_gate.metrics.base import Metric
from qa_gate.metrics.classification import F1Macro, F1Micro
from qa_gate.metrics.ocr import CER, WER
from qa_gate.metrics.vqa import VQAAccuracy
from qa_gate.verdict.stats import paired_drops

WORDS = ["red", "blue", "two", "2", "yes", "no", "a dog", "the cat", "dont", "black and white", "3.5", "it's"]


def _timed(label: str, call: object) -> object:
    began = time.perf_counter()
    out = call()  # type: ignore[operator]
    print(f"{label:<56} {time.perf_counter() - began:8.2f} s")
    return out


def _bootstrap(label: str, metric: Metric, stats: np.ndarray, resamples: int) -> None:
    """Time the paired bootstrap as the gate runs it, and the row-gathering path when the metric
    is mean-sufficient (both draw the same indices); say how far apart their drops are."""
    noisy = stats[np.random.default_rng(1).permutation(len(stats))]  # a candidate that differs per sample
    paths = [metric.mean_sufficient, False] if metric.mean_sufficient else [False]
    drops = []
    for counted in paths:
        way = "counts" if counted else "gather"
        drops.append(_timed(f"  bootstrap {resamples} x {len(stats):,} ({label}, {way})",
                            lambda c=counted: paired_drops(metric.aggregate, noisy, stats,
                                                           higher_is_better=metric.higher_is_better,
                                                           relative=False, resamples=resamples, seed=0,
                                                           mean_sufficient=c)[1]))
    if len(drops) == 2:
        print(f"  largest difference between the two paths: {np.max(np.abs(drops[0] - drops[1])):.2e}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vqa", type=int, default=214_354)
    parser.add_argument("--ocr", type=int, default=20_000)
    parser.add_argument("--multilabel", type=int, default=50_000)
    parser.add_argument("--labels", type=int, default=80)
    parser.add_argument("--resamples", type=int, default=10_000)
    args = parser.parse_args()
    rng = random.Random(0)

    answers = [[rng.choice(WORDS) for _ in range(10)] for _ in range(args.vqa)]
    predictions = [rng.choice(WORDS) + rng.choice(["", ".", "!", " "]) for _ in range(args.vqa)]
    vqa = SimpleNamespace(sample_ids=tuple(map(str, range(args.vqa))), predictions=lambda: predictions,
                          answers=lambda: answers)
    stats = _timed(f"vqa_accuracy per-sample, {args.vqa:,} questions",
                   lambda: VQAAccuracy().per_sample(vqa, {"normalisation": "official"}))
    _bootstrap("vqa_accuracy", VQAAccuracy(), stats, args.resamples)

    texts = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 6))) for _ in range(args.ocr)]
    noisy = [t[: max(1, len(t) - rng.randint(0, 3))] for t in texts]
    ocr = SimpleNamespace(sample_ids=tuple(map(str, range(args.ocr))), predictions=lambda: noisy,
                          references=lambda: texts)
    for metric in (CER(), WER()):
        stats = _timed(f"{metric.name} per-sample, {args.ocr:,} transcriptions",
                       lambda m=metric: m.per_sample(ocr, {"lowercase": False}))
        _bootstrap(metric.name, metric, stats, args.resamples)

    generator = np.random.default_rng(0)
    labels = tuple(f"label{i}" for i in range(args.labels))
    targets = (generator.random((args.multilabel, args.labels)) < 0.05).astype(float)
    scores = np.clip(targets * 0.6 + generator.random(targets.shape) * 0.5, 0, 1)
    multilabel = SimpleNamespace(sample_ids=tuple(map(str, range(args.multilabel))), labels=labels,
                                 scores=lambda: scores, targets=lambda: targets)
    stats = _timed(f"f1 per-sample, {args.multilabel:,} x {args.labels} labels",
                   lambda: F1Micro().per_sample(multilabel, {"threshold": 0.5, "zero_division": 0.0}))
    for metric in (F1Micro(), F1Macro()):
        _bootstrap(metric.name, metric, stats, args.resamples // 10)


if __name__ == "__main__":
    main()
