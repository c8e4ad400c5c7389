"""Outputs never overwrite inputs, are checked writable before scoring, and a broken job summary, a corrupt
baseline, a concurrent update or an interrupt never loses a baseline (``mm-gate`` and ``pytest --mm-gate``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from support.project import build_tiny_project
from support.unprivileged import unprivileged_prefix

from qa_gate import pipeline
from qa_gate.baseline.file import FileBaselineStore
from qa_gate.cli import EXIT_OK, EXIT_USAGE, main

BASELINE = Path("baselines/baseline.json")
SCORING = "mm-gate: scoring"


@pytest.fixture
def project(tmp_path: Path, tiny_open_clip: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    return build_tiny_project(tmp_path, tiny_open_clip)


@pytest.fixture
def recorded(project: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """The project with a baseline recorded by a real update."""
    assert main(["baseline", "update"]) == EXIT_OK
    capsys.readouterr()
    return project


def _files(root: Path) -> dict[str, bytes]:
    """Every file but the verdict file, which any run replaces first (a stale pass never outlives a refused run)."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.name != "mm-gate-verdict.json"}


@pytest.mark.parametrize(("argv", "label", "what"), [
    (["--report", str(BASELINE)], "--report", "it is the baseline"),
    (["--html", str(BASELINE)], "--html", "it is the baseline"),
    (["--report", "thresholds.yaml"], "--report", "it is the thresholds file (thresholds.yaml)"),
    (["--report", "golden/tiny/manifest.yaml"], "--report", "it lies inside golden suite 'tiny'"),
    (["--html", "golden/tiny/report.html"], "--html", "it lies inside golden suite 'tiny'"),
    (["--report", "ckpt/open_clip_config.json"], "--report", "it lies inside the checkpoint"),
    (["--html", "signoffs/v1.0.json"], "--html", "it lies inside the sign-off records"),
])
def test_an_output_over_an_input_is_refused_before_scoring(recorded: Path, capsys: pytest.CaptureFixture[str],
                                                           argv: list[str], label: str, what: str) -> None:
    (recorded / "signoffs").mkdir()
    (recorded / "signoffs" / "v1.0.json").write_text('{"format": "qa-gate-signoff"}\n')
    before = _files(recorded)
    assert main(["run", *argv]) == EXIT_USAGE
    captured = capsys.readouterr()
    assert SCORING not in captured.out  # refused before the model loaded
    assert captured.err.startswith(f"mm-gate: error: {label} ") and captured.err.count("\n") == 1
    assert f"would overwrite an input of this run: {what} (" in captured.err
    assert _files(recorded) == before


def test_a_symlink_to_the_baseline_is_followed_and_refused(recorded: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (recorded / "link.md").symlink_to(recorded / BASELINE)
    before = (recorded / BASELINE).read_bytes()
    assert main(["run", "--report", "link.md", "--update-baseline"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert err.startswith(f"mm-gate: error: --report {recorded / BASELINE}: refused: ")  # the link's target
    (recorded / "link.html").symlink_to(recorded / BASELINE)
    assert main(["run", "--html", "link.html"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert f"--html {recorded / 'link.html'} (resolves to {recorded / BASELINE}): refused" in err
    assert (recorded / BASELINE).read_bytes() == before


def test_the_report_key_and_the_baseline_option_are_named(recorded: Path, capsys: pytest.CaptureFixture[str]) -> None:
    thresholds = recorded / "thresholds.yaml"
    original = thresholds.read_text()
    thresholds.write_text(original.replace("path: report.md", f"path: {BASELINE}"))
    assert main(["run"]) == EXIT_USAGE
    assert capsys.readouterr().err.startswith(f"mm-gate: error: report.path in thresholds.yaml {recorded / BASELINE}")
    thresholds.write_text(original)
    assert main(["baseline", "update", "--baseline", "thresholds.yaml"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert err.startswith(f"mm-gate: error: --baseline {thresholds}: refused: the baseline would overwrite")
    assert thresholds.read_text() == original


def test_two_outputs_on_one_file_are_refused(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--html", "report.md"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert f"--html {project / 'report.md'}: refused: report.path in thresholds.yaml writes the Markdown report" in err


def test_a_report_under_a_regular_file_fails_before_scoring(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "notes").write_text("a file, not a folder\n")
    assert main(["run", "--report", "notes/report.md"]) == EXIT_USAGE
    captured = capsys.readouterr()
    assert SCORING not in captured.out and captured.err.count("\n") == 1
    assert captured.err.startswith(f"mm-gate: error: --report {project / 'notes' / 'report.md'}: cannot write the "
                                   f"Markdown report there: {project / 'notes'} is a file, not a folder")


def test_a_read_only_baselines_folder_fails_the_update_before_scoring(recorded: Path) -> None:
    folder = recorded / "baselines"
    before = (recorded / BASELINE).read_bytes()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    env.pop("GITHUB_STEP_SUMMARY", None)
    folder.chmod(0o555)
    try:
        done = subprocess.run([*unprivileged_prefix(), sys.executable, "-m", "qa_gate.cli", "baseline", "update"],
                              cwd=recorded, env=env, capture_output=True, text=True, check=False, timeout=300)
    finally:
        folder.chmod(0o755)
    assert done.returncode == EXIT_USAGE, done.stderr
    assert SCORING not in done.stdout and "Traceback" not in done.stderr and done.stderr.count("\n") == 1
    assert done.stderr.startswith(f"mm-gate: error: baseline.path in thresholds.yaml {recorded / BASELINE}: cannot "
                                  f"write the baseline there: the folder {folder} is not writable")
    assert (recorded / BASELINE).read_bytes() == before


@pytest.mark.parametrize("summary", ["folder", "report.md/summary.md"])
def test_a_broken_job_summary_costs_a_warning_not_the_update(project: Path, capsys: pytest.CaptureFixture[str],
                                                              monkeypatch: pytest.MonkeyPatch, summary: str) -> None:
    (project / "folder").mkdir()
    (project / "report.md").write_text("an older report\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(project / summary))
    assert main(["baseline", "update"]) == EXIT_OK
    out = capsys.readouterr().out
    assert f"mm-gate: warning: job summary not written to $GITHUB_STEP_SUMMARY ({project / summary}): " in out
    assert f"mm-gate: baseline written to {project / BASELINE}" in out
    assert FileBaselineStore(project / BASELINE).read() is not None
    assert main(["run"]) == EXIT_OK  # every check passes: the summary does not change the exit status
    assert "job summary not written" in capsys.readouterr().out


def test_a_job_summary_naming_the_baseline_is_not_appended(recorded: Path, capsys: pytest.CaptureFixture[str],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    before = (recorded / BASELINE).read_bytes()
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(recorded / BASELINE))
    assert main(["run"]) == EXIT_OK
    assert f"{recorded / BASELINE}): it is the baseline (" in capsys.readouterr().out
    assert (recorded / BASELINE).read_bytes() == before


def test_a_corrupt_baseline_blocks_a_run_and_an_update_replaces_it(project: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    (project / BASELINE).parent.mkdir()
    (project / BASELINE).write_text('{"format": "qa-gate-baseline", "vers')
    assert main(["run"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert err.startswith(f"mm-gate: error: {project / BASELINE}: invalid JSON") and err.count("\n") == 1
    assert "to replace it, record a new baseline (mm-gate baseline update" in err
    assert main(["baseline", "update"]) == EXIT_OK
    assert "baseline written to" in capsys.readouterr().out
    assert json.loads((project / BASELINE).read_text())["format"] == "qa-gate-baseline"
    assert "The stored baseline cannot be read" in (project / "report.md").read_text()
    assert main(["run"]) == EXIT_OK


def _scored(project: Path) -> tuple[pipeline.Prepared, pipeline.Verdict]:
    prepared = pipeline.prepare(project / "thresholds.yaml")
    return prepared, pipeline.judge(prepared, pipeline.score(prepared), update_baseline=True)


def test_an_interrupted_run_never_changes_the_baseline(recorded: Path) -> None:
    before = (recorded / BASELINE).read_bytes()
    thresholds = recorded / "thresholds.yaml"
    thresholds.write_text(thresholds.read_text().replace("checkpoint: ckpt", "checkpoint: ckpt\n  device: cpu"))
    prepared, verdict = _scored(recorded)
    delivery = pipeline.deliver(prepared, verdict, html=None, update_baseline=True, interrupted=True)
    assert delivery.refused is None
    assert delivery.lines[-1] == "mm-gate: baseline NOT updated: the session was interrupted"
    assert (recorded / BASELINE).read_bytes() == before
    assert (recorded / "report.md").exists()


def test_an_update_that_lost_the_race_keeps_the_winners_baseline(recorded: Path) -> None:
    prepared, verdict = _scored(recorded)
    winner = (recorded / BASELINE).read_text().replace('"created": "', '"created": "0')  # another update finished
    (recorded / BASELINE).write_text(winner)
    delivery = pipeline.deliver(prepared, verdict, html=None, update_baseline=True)
    assert delivery.refused is not None
    assert delivery.refused.startswith(f"baseline not updated: {recorded / BASELINE} changed while this run")
    assert (recorded / BASELINE).read_text() == winner


def test_a_report_that_cannot_be_written_at_the_end_leaves_the_baseline(recorded: Path) -> None:
    before = (recorded / BASELINE).read_bytes()
    thresholds = recorded / "thresholds.yaml"
    thresholds.write_text(thresholds.read_text().replace("path: report.md", "path: out/report.md"))
    prepared, verdict = _scored(recorded)
    (recorded / "out").write_text("the folder became a file while scoring\n")
    delivery = pipeline.deliver(prepared, verdict, html=None, update_baseline=True)
    assert delivery.refused is not None
    assert delivery.refused.startswith(f"report.path in thresholds.yaml {recorded / 'out' / 'report.md'}: cannot "
                                       "write the Markdown report: ")
    assert delivery.refused.endswith("; the baseline was not updated")
    assert (recorded / BASELINE).read_bytes() == before


def test_the_plugin_refuses_an_output_over_an_input_as_a_usage_error(gate_project: pytest.Pytester) -> None:
    result = gate_project.runpytest_subprocess("--mm-gate", "--mm-report", "thresholds.yaml")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    err = result.stderr.str()
    assert f"--mm-report {gate_project.path / 'thresholds.yaml'}: refused: the Markdown report would overwrite" in err
    assert SCORING not in result.stdout.str() and "Traceback" not in err


def test_the_plugin_refuses_a_junit_file_over_the_baseline(gate_project: pytest.Pytester) -> None:
    gate_project.runpytest_subprocess("--mm-gate", "--mm-update-baseline").assert_outcomes(passed=4)
    baseline = gate_project.path / BASELINE
    before = baseline.read_bytes()
    result = gate_project.runpytest_subprocess("--mm-gate", f"--junitxml={baseline}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    err = result.stderr.str()
    assert f"--junitxml {baseline}: refused:" in err and "it is the baseline" in err, err
    assert SCORING not in result.stdout.str() and "Traceback" not in err
    assert baseline.read_bytes() == before


def test_a_missing_suite_folder_names_its_key(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    thresholds = project / "thresholds.yaml"
    thresholds.write_text(thresholds.read_text().replace("path: golden/tiny", "path: golden/tinny"))
    assert main(["run"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert err.startswith("mm-gate: error: thresholds.yaml: suites.tiny.path: golden/tinny does not exist ("), err
    assert err.count("\n") == 1
