"""A warm re-run with nothing changed never imports torch (or a model library), and judges as a cold run does.

A first run (in this process) fills the output cache; an uncached run gives the verdict to equal; the
warm one runs in a child process, where
``sys.modules`` shows what it imported. The suite ranks (retrieval, zero-shot), so the numpy ranks run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from support.project import build_tiny_project, write_thresholds

from qa_gate.cli import EXIT_OK, main

METRICS = {"clipscore": {"min": 0.0, "max_drop": 0.01}, "i2t_r1": {"max_drop": 0.05},
           "t2i_r1": {"max_drop": 0.05}, "zeroshot_top1": {"label_tag": "colour", "max_drop": 0.05}}
CHILD = ("import sys\nfrom qa_gate.cli import main\nrc = main(sys.argv[1:])\n"
         "print('loaded:', sorted(m for m in ('torch', 'open_clip', 'transformers') if m in sys.modules))\n"
         "raise SystemExit(rc)\n")


def _verdict(path: Path) -> dict:
    data = json.loads(path.read_text())
    data.pop("created", None)
    return data


def test_a_warm_run_imports_no_torch(tmp_path: Path, tiny_open_clip: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from qa_gate.scoring.device import cuda_ruled_out

    device = "auto" if cuda_ruled_out() else "cpu"  # where torch may see a GPU, 'auto' asks torch
    project = build_tiny_project(tmp_path, tiny_open_clip)
    write_thresholds(project, {"adapter": "open_clip", "checkpoint": "ckpt", "batch_size": 4, "device": device},
                     {"tiny": {"path": "golden/tiny", "metrics": METRICS}}, baseline={"path": "baselines/b.json"})
    monkeypatch.chdir(project)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    args = ["run", "--cache-dir", "outputs", "-q"]
    assert main([*args, "--update-baseline"]) == EXIT_OK  # fills the cache
    assert main(["run", "--no-cache", "-q", "--verdict", "cold.json"]) == EXIT_OK  # the model, uncached
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-c", CHILD, *args, "--verdict", "warm.json"], cwd=project, env=env,
                          capture_output=True, text=True, check=False)
    assert done.returncode == EXIT_OK, done.stdout + done.stderr
    assert "loaded: []" in done.stdout
    cold, warm = _verdict(project / "cold.json"), _verdict(project / "warm.json")
    assert warm == cold and len(cold["checks"]) == 5
