"""The plugin inside a git repository: baselines from the target branch, slice rules, strict mode."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from support.gitproject import GATE, commit_gate_project, git, shift_baseline


@pytest.fixture
def repo(gate_project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """The tiny project committed on main, with its baseline recorded there."""
    return commit_gate_project(gate_project, monkeypatch)


def _shift_baseline(path: Path, by: float) -> None:
    shift_baseline(path, by)  # through the store: the per-sample statistics live beside the JSON


def test_a_branch_cannot_lower_its_own_bar(repo: pytest.Pytester) -> None:
    root = repo.path
    baseline = root / "baselines" / "baseline.json"
    # main's baseline says the model used to score 0.05 higher ...
    _shift_baseline(baseline, 0.05)
    git(root, "commit", "-qam", "better baseline on main")
    # ... and the branch lowers it back to what the model scores now.
    git(root, "checkout", "-qb", "pr")
    _shift_baseline(baseline, -0.05)
    git(root, "commit", "-qam", "lower the bar")

    judged = repo.runpytest_subprocess(*GATE)
    judged.assert_outcomes(passed=3, failed=1)
    report = (root / "report.md").read_text()
    first_lines = "\n".join(report.splitlines()[:8])
    assert "changes the baseline" in first_lines and "baselines/baseline.json" in first_lines
    assert "merge-base" in report
    # Two baselines on main, then this run: the trend chart has three points.
    chart = report.split("```mermaid", 1)[1].split("```", 1)[0]
    assert "xychart-beta" in chart and "this run" in chart
    assert chart.count(",") >= 2

    accepted = repo.runpytest_subprocess(*GATE, "--mm-accept-baseline-change")
    accepted.assert_outcomes(passed=4)
    assert "accepted" in (root / "report.md").read_text()


def test_an_uncommitted_golden_edit_is_reported(repo: pytest.Pytester) -> None:
    root = repo.path
    from support.project import write_tiny_suite

    write_tiny_suite(root / "golden" / "tiny", per_colour=3)
    result = repo.runpytest_subprocess(*GATE)
    result.assert_outcomes(passed=2, failed=2)
    report = (root / "report.md").read_text()
    assert "changes the golden suite golden/tiny" in "\n".join(report.splitlines()[:10])


def test_slice_rules_and_strict_mode(repo: pytest.Pytester) -> None:
    root = repo.path
    thresholds = root / "thresholds.yaml"
    thresholds.write_text(thresholds.read_text() + """\
    slices:
      colour=red:
        clipscore: {min: 0.0, max_drop: 0.01}
""")
    result = repo.runpytest_subprocess(*GATE, "-v")
    result.assert_outcomes(passed=6)
    result.stdout.fnmatch_lines(["*tiny?colour=red?::clipscore::max_drop PASSED*"])
    # Strict mode passes only drops it can bound within max_drop: identical scores can be bounded.
    repo.runpytest_subprocess(*GATE, "--mm-mode", "strict").assert_outcomes(passed=6)

    thresholds.write_text(thresholds.read_text().replace("colour=red:", "colour=purple:"))
    bad = repo.runpytest_subprocess(*GATE)
    assert bad.ret == pytest.ExitCode.USAGE_ERROR
    assert "suites.tiny.slices.colour=purple" in bad.stderr.str()


def test_shallow_clone_gets_a_fetch_depth_hint(repo: pytest.Pytester, tmp_path: Path) -> None:
    root = repo.path
    git(root, "checkout", "-qb", "feature")
    (root / "notes.txt").write_text("x\n")
    git(root, "add", "notes.txt")
    git(root, "commit", "-qm", "feature work")
    git(root, "checkout", "-q", "main")
    (root / "other.txt").write_text("y\n")
    git(root, "add", "other.txt")
    git(root, "commit", "-qm", "main moves on")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", "--depth", "1", "--branch", "feature", f"file://{root}", str(clone)],
                   check=True)
    subprocess.run(["git", "fetch", "-q", "--depth", "1", "origin", "main:refs/remotes/origin/main"], cwd=clone,
                   check=True)
    result = repo.runpytest_subprocess(*GATE, "--mm-thresholds", str(clone / "thresholds.yaml"))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "fetch-depth: 0" in result.stderr.str()
