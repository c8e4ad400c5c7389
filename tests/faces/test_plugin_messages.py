"""The plugin's terminal says why: the default thresholds file is found beside the ini file, a passing gate
with a failing test of the user's own says so, the PR comment lands beside the report, and `--version`."""

from __future__ import annotations

import pytest

from qa_gate.cli import main

GATE = ("-p", "no:cacheprovider")


def test_the_default_thresholds_file_is_the_ini_files_neighbour(gate_project: pytest.Pytester,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    gate_project.makepyprojecttoml('[tool.pytest.ini_options]\nmm_gate = true\n')
    monkeypatch.chdir(gate_project.path / "golden")  # `cd golden && pytest`: no thresholds.yaml here
    result = gate_project.runpytest_subprocess(*GATE)
    assert "file not found" not in result.stderr.str(), result.stderr.str()
    assert "mm-gate verdict: PASSED" in result.stdout.str()
    assert (gate_project.path / "report.md").is_file()
    assert (gate_project.path / "report.comment.md").read_text().startswith("## mm-gate: ✅ PASSED")


def test_a_passing_gate_with_a_failing_user_test_says_both(gate_project: pytest.Pytester) -> None:
    gate_project.makepyfile(test_mine="def test_mine():\n    assert False\n")
    result = gate_project.runpytest_subprocess("--mm-gate", *GATE)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    lines = result.stdout.lines
    verdict = next(i for i, line in enumerate(lines) if line.startswith("mm-gate verdict: PASSED"))
    assert lines[verdict + 1] == ("  the gate passed, but 1 other test (not gate checks) failed: pytest exits 1 "
                                  "for them")


def test_mm_gate_version_is_the_installed_distributions(capsys: pytest.CaptureFixture[str]) -> None:
    from importlib.metadata import version

    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"mm-gate {version('qa-gate')}\n"
