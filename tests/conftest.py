"""Shared test setup: never reach the network; keep the project's own tests out of a gate run."""

from __future__ import annotations

import os

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

pytest_plugins = ["pytester"]


def pytest_ignore_collect(collection_path: object, config: pytest.Config) -> bool | None:
    """`pytest --mm-gate` in this repository gates the demo; it does not rerun our own tests."""
    return True if config.getoption("mm_gate", default=False) else None
