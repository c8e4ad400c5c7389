"""Helpers that build tiny gate projects for tests: a golden suite, thresholds, a checkpoint copy."""

from __future__ import annotations

import shutil
from pathlib import Path

TINY_CLIP = Path(__file__).resolve().parents[1] / "qa_gate" / "demo" / "tiny_clip.json"
COLOURS = {"red": (220, 30, 30), "green": (30, 200, 30), "blue": (30, 30, 220)}


def write_tiny_suite(folder: Path, per_colour: int = 2) -> Path:
    """A small golden suite of plain coloured squares, hashed; returns its folder."""
    from PIL import Image

    from qa_gate.golden.suite import write_hashes

    (folder / "images").mkdir(parents=True, exist_ok=True)
    lines = ["version: 1", "samples:"]
    for colour, rgb in COLOURS.items():
        for i in range(per_colour):
            name = f"{colour}-{i}"
            Image.new("RGB", (32, 32), tuple(max(0, c - 10 * i) for c in rgb)).save(folder / "images" / f"{name}.png")
            lines += [f"  - id: {name}", f"    image: images/{name}.png", f"    caption: a {colour} square",
                      f"    references: [a square that is {colour}, {colour} square]",
                      f"    tags: {{colour: {colour}}}"]
    (folder / "manifest.yaml").write_text("\n".join(lines) + "\n")
    write_hashes(folder)
    return folder


TINY_THRESHOLDS = """\
version: 1
model:
  adapter: open_clip
  checkpoint: {checkpoint}
  batch_size: 4
baseline:
  path: baselines/baseline.json
report:
  path: report.md
suites:
  tiny:
    path: golden/tiny
    metrics:
      clipscore: {{min: {floor}, max_drop: 0.01}}
      refclipscore: {{min: 0.0}}
      cosine: {{max_drop_pct: 5}}
"""


def build_tiny_project(root: Path, checkpoint: Path, floor: float = 0.0) -> Path:
    """thresholds.yaml, a golden suite and a copy of ``checkpoint`` under ``root``."""
    shutil.copytree(checkpoint, root / "ckpt")
    write_tiny_suite(root / "golden" / "tiny")
    (root / "thresholds.yaml").write_text(TINY_THRESHOLDS.format(checkpoint="ckpt", floor=floor))
    return root
