"""Shared test setup: never reach the network; keep the project's own tests out of a gate run."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pytest
from support.project import TINY_CLIP, build_tiny_project

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# CI=true (as on the CI machine) makes a missing baseline fail; tests that want that set it themselves.
os.environ.pop("CI", None)

pytest_plugins = ["pytester"]
# The gate's caches (model outputs, verified hashes) live under $XDG_CACHE_HOME: never the user's ~/.cache in
# tests, and each test gets a fresh one (below), so no test is served what another computed.
os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="qa-gate-tests-cache-")


@pytest.fixture(autouse=True)
def _fresh_user_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """``XDG_CACHE_HOME`` (also for the programs a test starts) in a folder of this test's own."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache")))


def pytest_ignore_collect(collection_path: object, config: pytest.Config) -> bool | None:
    """`pytest --mm-gate` in this repository gates the demo; it does not rerun our own tests."""
    return True if config.getoption("mm_gate", default=False) else None


@pytest.fixture(scope="session")
def tiny_open_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised tiny open_clip checkpoint folder (local-dir layout, safetensors)."""
    import open_clip
    import torch
    from safetensors.torch import save_file

    folder = tmp_path_factory.mktemp("tiny_open_clip")
    config = json.loads(TINY_CLIP.read_text())
    (folder / "open_clip_config.json").write_text(json.dumps(config))
    torch.manual_seed(0)
    model = open_clip.CLIP(**config["model_cfg"])
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(folder / "open_clip_model.safetensors"))
    return folder


@pytest.fixture
def gate_project(pytester: pytest.Pytester, tiny_open_clip: Path) -> pytest.Pytester:
    """A pytester folder holding a tiny gate project (the tiny checkpoint, suite and thresholds)."""
    build_tiny_project(pytester.path, tiny_open_clip)
    return pytester
