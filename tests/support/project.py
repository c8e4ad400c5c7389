"""Tiny gate projects for tests: a golden suite, a thresholds file written from Python data, a checkpoint copy."""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

TINY_CLIP = Path(__file__).resolve().parents[2] / "qa_gate" / "demo" / "tiny_clip.json"
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


def write_thresholds(root: Path, model: Mapping[str, Any], suites: Mapping[str, Any],
                     scorer: Mapping[str, Any] | None = None, *, name: str = "thresholds.yaml", version: int = 1,
                     **sections: Any) -> Path:
    """Write ``root/name`` from Python data (``yaml.safe_dump``, keys in the order given) and return its path.

    The file holds ``version``, ``model``, ``scorer`` (when given), the other ``sections``
    (``baseline={"path": ...}``, ``report=...``, ``gate=...``) in keyword order, then ``suites``.
    ``Path`` values are written as text.
    """
    data: dict[str, Any] = {"version": version, "model": dict(model)}
    if scorer is not None:
        data["scorer"] = dict(scorer)
    data.update(sections)
    data["suites"] = dict(suites)
    path = Path(root) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(_plain(data), sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def _plain(value: Any) -> Any:
    """``value`` with mappings as dicts, tuples as lists and paths as text, for ``yaml.safe_dump``."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value
