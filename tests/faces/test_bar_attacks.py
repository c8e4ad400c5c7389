"""The bar belongs to the target branch: each way a branch could lower its own bar, tried in a real repository.

Main holds the tiny project with a baseline the unchanged checkpoint falls short of (clipscore
``max_drop: 0.01``), so an honest run on the branch fails; each test is one attack from the
branch and what the gate now does about it.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import yaml
from support.gitproject import BASELINE, GATE, commit_gate_project, git, regressed_on_main, shift_baseline

from qa_gate.report.terminal import BAR_TITLE


@pytest.fixture
def pr(gate_project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """Branch ``pr`` of the committed project, whose checkpoint regresses against main's baseline."""
    commit_gate_project(gate_project, monkeypatch)
    regressed_on_main(gate_project)
    return gate_project


def _edit_thresholds(root: Path, edit: object) -> None:
    path = root / "thresholds.yaml"
    data = yaml.safe_load(path.read_text())
    edit(data)  # type: ignore[operator]
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def _bar_lines(result: pytest.RunResult) -> list[str]:
    """The lines of the terminal's bar-change block (under its title, before the verdict table)."""
    lines = [line.strip() for line in result.outlines]
    if BAR_TITLE + ":" not in lines:
        return []
    block = lines[lines.index(BAR_TITLE + ":") + 1:]
    return [line[2:] for line in itertools.takewhile(lambda line: line.startswith("- "), block)]


def test_an_honest_branch_fails_and_reports_no_bar_change(pr: pytest.Pytester) -> None:
    result = pr.runpytest_subprocess(*GATE)
    result.assert_outcomes(passed=3, failed=1)
    assert _bar_lines(result) == []


def test_a_loosened_rule_is_a_bar_change_and_the_target_rule_applies(pr: pytest.Pytester) -> None:
    _edit_thresholds(pr.path, lambda d: d["suites"]["tiny"]["metrics"]["clipscore"].update(max_drop=5))
    result = pr.runpytest_subprocess(*GATE)
    result.assert_outcomes(passed=3, failed=1)
    lines = _bar_lines(result)
    assert "lowers or changes the bar set by the target branch" in lines[0]
    assert ("suites.tiny.metrics.clipscore.max_drop: max_drop 0.01 (significant, 95%) → "
            "max_drop 5 (significant, 95%) (looser)") in lines
    result.stdout.fnmatch_lines(["*max_drop (significant, 95%) broken*allowed 0.01;*"])

    accepted = pr.runpytest_subprocess(*GATE, "--mm-accept-bar-change")
    accepted.assert_outcomes(passed=4)
    assert any("accepted (--mm-accept-bar-change, from the command line)" in line for line in _bar_lines(accepted))


def test_a_tighter_rule_applies_without_a_bar_change(pr: pytest.Pytester) -> None:
    _edit_thresholds(pr.path, lambda d: d["suites"]["tiny"]["metrics"]["cosine"].update(max_drop_pct=1))
    result = pr.runpytest_subprocess(*GATE)
    result.assert_outcomes(passed=3, failed=1)
    assert _bar_lines(result) == []
    result.stdout.fnmatch_lines(["*pass*tiny::cosine::max_drop_pct*max_drop_pct 1"])


def test_deleted_rules_still_apply(pr: pytest.Pytester) -> None:
    _edit_thresholds(pr.path, lambda d: d["suites"]["tiny"]["metrics"].update(clipscore={"min": 0.0}))
    result = pr.runpytest_subprocess(*GATE)
    result.assert_outcomes(passed=3, failed=1)
    assert "suites.tiny.metrics.clipscore.max_drop: max_drop 0.01 (significant, 95%) → absent (removed)" \
        in _bar_lines(result)


def test_a_renamed_suite_keeps_the_target_rules(pr: pytest.Pytester) -> None:
    _edit_thresholds(pr.path, lambda d: d.update(suites={"renamed": d["suites"]["tiny"]}))
    result = pr.runpytest_subprocess(*GATE)
    result.stdout.fnmatch_lines(["*suites.tiny: golden/tiny with 3 metric(s), 4 rule(s) → absent "
                                 "(renamed to renamed)*"])
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*FAIL*tiny::clipscore::max_drop*"])


def test_a_redirected_baseline_ref_is_a_bar_change(pr: pytest.Pytester) -> None:
    shift_baseline(pr.path / BASELINE, -0.05)  # the branch's own, lowered baseline ...
    _edit_thresholds(pr.path, lambda d: d["baseline"].update(ref="HEAD"))  # ... read at HEAD
    git(pr.path, "commit", "-qam", "judge me by my own baseline")
    result = pr.runpytest_subprocess(*GATE)
    result.assert_outcomes(passed=3, failed=1)
    assert "baseline.ref: unset → HEAD (changed: another baseline)" in _bar_lines(result)
    assert "of HEAD and HEAD" not in result.stdout.str()


def test_a_baseline_path_to_nowhere_is_a_bar_change(pr: pytest.Pytester) -> None:
    _edit_thresholds(pr.path, lambda d: d["baseline"].update(path="baselines/none-here.json"))
    result = pr.runpytest_subprocess(*GATE)
    result.assert_outcomes(passed=3, failed=1)
    assert ("baseline.path: baselines/baseline.json → baselines/none-here.json "
            "(changed: another baseline)") in _bar_lines(result)


@pytest.mark.parametrize(("ini", "source"), [
    ("mm_baseline = baselines/baseline.json", "pytest.ini"),
    ("addopts = --mm-baseline=baselines/baseline.json", "pytest.ini (addopts)"),
])
def test_a_baseline_option_in_an_ini_file_is_shown_as_bypassing_the_target(pr: pytest.Pytester, ini: str,
                                                                            source: str) -> None:
    (pr.path / "pytest.ini").write_text(f"[pytest]\n{ini}\n")
    result = pr.runpytest_subprocess(*GATE)
    lines = _bar_lines(result)
    assert any(line.startswith("--mm-baseline = ") and f"comes from {source}, not the command line"
               in line for line in lines), lines
    assert any(f"--mm-baseline baselines/baseline.json (from {source}) reads the file in this branch's working tree"
               in line for line in lines), lines
    result.stdout.fnmatch_lines(["*CHANGE: This change also edits*pytest.ini*"])


@pytest.mark.parametrize(("ini", "source"), [
    ("mm_accept_baseline_change = true", "pytest.ini"),
    ("addopts = --mm-accept-baseline-change", "pytest.ini (addopts)"),
])
def test_an_acceptance_from_an_ini_file_says_where_it_came_from(pr: pytest.Pytester, ini: str, source: str) -> None:
    shift_baseline(pr.path / BASELINE, -0.05)
    (pr.path / "pytest.ini").write_text(f"[pytest]\n{ini}\n")
    result = pr.runpytest_subprocess(*GATE)
    result.assert_outcomes(passed=4)
    lines = _bar_lines(result)
    assert any(f"accepted (--mm-accept-bar-change, from {source})" in line for line in lines), lines
    assert any(f"--mm-accept-bar-change = on comes from {source}" in line for line in lines), lines


def test_an_acceptance_from_the_environment_says_so(pr: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    shift_baseline(pr.path / BASELINE, -0.05)
    monkeypatch.setenv("PYTEST_ADDOPTS", "--mm-accept-bar-change")
    result = pr.runpytest_subprocess(*GATE)
    result.assert_outcomes(passed=4)
    assert any("from the environment (PYTEST_ADDOPTS)" in line for line in _bar_lines(result))


def test_a_suite_removed_with_its_folder_stops_the_run_naming_the_target(pr: pytest.Pytester) -> None:
    import shutil

    shutil.copytree(pr.path / "golden" / "tiny", pr.path / "golden" / "other")
    shutil.rmtree(pr.path / "golden" / "tiny")
    _edit_thresholds(pr.path, lambda d: d.update(suites={"other": {**d["suites"]["tiny"], "path": "golden/other"}}))
    result = pr.runpytest_subprocess(*GATE)
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*suites.tiny.path: golden/tiny does not exist*in the target branch's thresholds "
                                 "file: this branch removed the suite*"])


def test_outside_git_a_renamed_suite_fails_in_ci(gate_project: pytest.Pytester,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    gate_project.runpytest_subprocess(*GATE, "--mm-update-baseline").assert_outcomes(passed=4)
    _edit_thresholds(gate_project.path, lambda d: d.update(suites={"renamed": d["suites"]["tiny"]}))
    local = gate_project.runpytest_subprocess(*GATE)
    local.assert_outcomes(passed=4)  # locally a missing baseline warns
    local.stdout.fnmatch_lines(["*no baseline*renamed::clipscore::max_drop*"])
    monkeypatch.setenv("CI", "true")
    in_ci = gate_project.runpytest_subprocess(*GATE)
    in_ci.assert_outcomes(passed=2, failed=2)
    in_ci.stdout.fnmatch_lines(["*missing baseline*renamed::clipscore::max_drop*"])


def test_mm_gate_run_applies_the_target_rules_too(pr: pytest.Pytester, capsys: pytest.CaptureFixture[str]) -> None:
    from qa_gate.cli import EXIT_FAILED, EXIT_OK, main

    _edit_thresholds(pr.path, lambda d: d["suites"]["tiny"]["metrics"]["clipscore"].update(max_drop=5))
    assert main(["run", "--no-cache"]) == EXIT_FAILED
    out = capsys.readouterr().out
    assert ("- suites.tiny.metrics.clipscore.max_drop: max_drop 0.01 (significant, 95%) → max_drop 5 "
            "(significant, 95%) (looser)") in out
    assert "pass --accept-bar-change to apply the branch's" in out
    assert main(["run", "--no-cache", "--accept-bar-change"]) == EXIT_OK


def test_a_cache_folder_set_in_an_ini_file_is_listed(pr: pytest.Pytester) -> None:
    (pr.path / "pytest.ini").write_text("[pytest]\nmm_cache_dir = outputs-cache\n")
    result = pr.runpytest_subprocess(*GATE)
    result.assert_outcomes(passed=3, failed=1)
    assert any(line.startswith("--mm-cache-dir = outputs-cache comes from pytest.ini, not the command line")
               for line in _bar_lines(result)), _bar_lines(result)
