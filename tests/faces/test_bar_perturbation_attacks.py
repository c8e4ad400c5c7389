"""A branch that weakens a perturbation, in a real repository: one bar-change line, and main's perturbation scored."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import yaml
from support.gitproject import GATE, git, init_repository

from qa_gate.report.terminal import BAR_TITLE


def _edit(root: Path, brightness: float) -> None:
    path = root / "thresholds.yaml"
    data = yaml.safe_load(path.read_text())
    suite = data["suites"]["tiny"]
    suite["perturbations"] = {"dark": {"brightness": brightness}}
    suite["metrics"]["clipscore@dark"] = {"min": 0.0}
    path.write_text(yaml.safe_dump(data, sort_keys=False))


@pytest.fixture
def pr(gate_project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """Main gates the tiny project on clipscore under ``dark: {brightness: 0.3}``; branch ``pr`` is checked out."""
    root = gate_project.path
    _edit(root, 0.3)
    init_repository(root, monkeypatch)
    git(root, "add", "-A")
    git(root, "commit", "-qm", "project")
    git(root, "checkout", "-qb", "pr")
    return gate_project


def _bar_lines(result: pytest.RunResult) -> list[str]:
    lines = [line.strip() for line in result.outlines]
    if BAR_TITLE + ":" not in lines:
        return []
    block = lines[lines.index(BAR_TITLE + ":") + 1:]
    return [line[2:] for line in itertools.takewhile(lambda line: line.startswith("- "), block)]


def test_a_weakened_perturbation_is_a_bar_change_and_main_s_is_scored(pr: pytest.Pytester) -> None:
    _edit(pr.path, 0.99)  # nearly the original images: an easy pass
    result = pr.runpytest_subprocess(*GATE)
    assert "suites.tiny.perturbations.dark: brightness 0.3 → brightness 0.99 (changed: another perturbation)" \
        in _bar_lines(result)
    assert not any("clipscore@dark parameters" in line for line in _bar_lines(result))  # one line, not one per metric
    report = (pr.path / "report.md").read_text()
    assert "dark (brightness 0.3)" in report and "brightness 0.99" not in report.split("#### Robustness", 1)[1]
