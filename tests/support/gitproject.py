"""The tiny gate project in a real throwaway git repository: main holds the project and its baseline."""

from __future__ import annotations

import os
import subprocess
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType

import pytest

from qa_gate.baseline.file import FileBaselineStore

GATE = ("--mm-gate", "-p", "no:cacheprovider")
BASELINE = Path("baselines") / "baseline.json"


def git(root: Path, *args: str) -> str:
    """Run git in ``root``; its stdout."""
    return subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, text=True).stdout


def init_repository(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``git init`` on ``main`` in ``root`` with a test identity, no user or system git config, no CI variables."""
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for key in ("GITHUB_BASE_REF", "GITHUB_STEP_SUMMARY", "PYTEST_ADDOPTS", "CI"):
        monkeypatch.delenv(key, raising=False)
    (root / ".gitignore").write_text("report.md\n__pycache__/\n")
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.name", "Test"), git(root, "config", "user.email", "test@example.com")


def commit_gate_project(project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """Commit the tiny project on ``main`` with its baseline recorded there (no user or system git config)."""
    root = project.path
    init_repository(root, monkeypatch)
    project.runpytest_subprocess(*GATE, "--mm-update-baseline").assert_outcomes(passed=4)
    git(root, "add", "-A")
    git(root, "commit", "-qm", "project and baseline")
    return project


def shift_baseline(path: Path, by: float, metric: str = "clipscore", suite: str = "tiny") -> None:
    """Move one metric of the stored baseline by ``by`` on every sample, through the store (any format)."""
    store = FileBaselineStore(path)
    run = store.read()
    assert run is not None
    old = run.suite(suite)
    assert old is not None
    moved = old.metrics[metric]
    moved = replace(moved, value=moved.value + by, stats=moved.stats + by,
                    per_sample=tuple(v + by for v in moved.per_sample))
    new_suite = replace(old, metrics=MappingProxyType({**old.metrics, metric: moved}))
    store.write(replace(run, suites=tuple(new_suite if s.name == suite else s for s in run.suites)))


def regressed_on_main(project: pytest.Pytester) -> Path:
    """Raise main's baseline so that the unchanged checkpoint regresses on clipscore (max_drop 0.01);
    then check out branch ``pr``. Returns the baseline path."""
    root = project.path
    shift_baseline(root / BASELINE, 0.05)
    git(root, "commit", "-qam", "better baseline on main")
    git(root, "checkout", "-qb", "pr")
    return root / BASELINE
