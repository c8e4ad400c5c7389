"""Shared test setup: never reach the network; keep the project's own tests out of a gate run."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

pytest_plugins = ["pytester"]


def pytest_ignore_collect(collection_path: object, config: pytest.Config) -> bool | None:
    """`pytest --mm-gate` in this repository gates the demo; it does not rerun our own tests."""
    return True if config.getoption("mm_gate", default=False) else None


TINY_CLIP = Path(__file__).resolve().parents[1] / "qa_gate" / "demo" / "tiny_clip.json"
COLOURS = {"red": (220, 30, 30), "green": (30, 200, 30), "blue": (30, 30, 220)}


@pytest.fixture(scope="session")
def tiny_open_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised tiny open_clip checkpoint folder (local-dir layout, safetensors)."""
    import torch
    import open_clip
    from safetensors.torch import save_file

    folder = tmp_path_factory.mktemp("tiny_open_clip")
    config = json.loads(TINY_CLIP.read_text())
    (folder / "open_clip_config.json").write_text(json.dumps(config))
    torch.manual_seed(0)
    model = open_clip.CLIP(**config["model_cfg"])
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(folder / "open_clip_model.safetensors"))
    return folder


def write_tiny_suite(folder: Path, per_colour: int = 2) -> Path:
    """A small golden suite of plain coloured squares, hashed; returns its folder."""
    from PIL import Image

    from qa_gate.golden import write_hashes

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


@pytest.fixture
def gate_project(pytester: pytest.Pytester, tiny_open_clip: Path) -> pytest.Pytester:
    """A pytester folder holding a tiny gate project (the tiny checkpoint, suite and thresholds)."""
    build_tiny_project(pytester.path, tiny_open_clip)
    return pytester
