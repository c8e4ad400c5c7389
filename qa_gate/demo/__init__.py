"""The embedded demo: a synthetic golden suite of coloured shapes and two tiny CLIP checkpoints.

``python -m qa_gate.demo build`` renders ``golden/shapes/`` and trains
``qa_gate/demo/checkpoints/{good,regressed}/``, deterministically and on CPU.
Training (and so torch) is imported only when it is needed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from qa_gate.demo.shapes import generate_samples, render_suite

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class DemoSettings:
    """The golden suite's seed and size (training has its own settings in ``train.py``)."""

    suite: str = "shapes"
    seed: int = 0
    per_combo: int = 15


def suite_dir(root: Path, settings: DemoSettings = DemoSettings()) -> Path:
    """The golden suite folder under the repository ``root``."""
    return root / "golden" / settings.suite


def build_suite(root: Path, settings: DemoSettings = DemoSettings()) -> Path:
    """Render the golden suite afresh and write its ``SHA256SUMS``; return the suite folder."""
    from qa_gate.golden import write_hashes

    out = render_suite(suite_dir(root, settings), settings.seed, settings.per_combo)
    write_hashes(out)
    return out


def build(root: Path = REPO_ROOT, render: bool = True, train: bool = True,
          settings: DemoSettings = DemoSettings()) -> None:
    """Render the golden suite and/or train both checkpoints under ``root``, printing a summary."""
    start = time.perf_counter()
    if render:
        out = build_suite(root, settings)
        count = len(list((out / "images").iterdir()))
        print(f"golden suite: {count} images in {out} ({time.perf_counter() - start:.1f}s)")
    if train:
        from qa_gate.demo.train import summarise, train_checkpoints

        folders = train_checkpoints(root)
        samples = list(generate_samples(settings.seed, settings.per_combo))
        for folder in folders:
            scores = summarise(folder, samples)
            slices = " ".join(f"{k.split('/')[1]}={v:.3f}" for k, v in scores.items() if "/" in k)
            print(f"{folder.name}: zero-shot top-1 {scores['top1']:.3f}; CLIPScore {slices}")
    print(f"done in {time.perf_counter() - start:.1f}s")
