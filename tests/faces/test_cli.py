"""`mm-gate` subcommands, called in-process on a tiny project."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.project import build_tiny_project

from qa_gate.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE, main


@pytest.fixture
def project(tmp_path: Path, tiny_open_clip: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    return build_tiny_project(tmp_path, tiny_open_clip)


def test_golden_verify_and_hash(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["golden", "verify"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "6 samples" in out and "fingerprint" in out
    manifest = project / "golden" / "tiny" / "manifest.yaml"
    manifest.write_text(manifest.read_text().replace("a red square", "a crimson square"))
    assert main(["golden", "verify", "golden/tiny"]) == EXIT_USAGE
    assert "manifest" in capsys.readouterr().err
    assert main(["golden", "hash", "golden/tiny"]) == EXIT_OK
    assert main(["golden", "verify", "golden/tiny"]) == EXIT_OK


def test_run_update_and_regress(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "mm-gate verdict: PASSED" in out
    assert (project / "report.md").exists()
    assert not (project / "baselines" / "baseline.json").exists()

    assert main(["baseline", "update"]) == EXIT_OK
    baseline = project / "baselines" / "baseline.json"
    data = json.loads(baseline.read_text())
    data["suites"]["tiny"]["metrics"]["clipscore"]["value"] += 0.1
    data["suites"]["tiny"]["metrics"]["clipscore"]["stats"] = [
        [v + 0.1] for (v,) in data["suites"]["tiny"]["metrics"]["clipscore"]["stats"]]
    baseline.write_text(json.dumps(data))
    capsys.readouterr()
    assert main(["run"]) == EXIT_FAILED
    out = capsys.readouterr().out
    assert "FAILED" in out and "golden/tiny::clipscore::max_drop" in out
    assert json.loads(baseline.read_text()) == data


def test_user_errors_are_one_line_exit_4(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--device", "tpu"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert err.startswith("mm-gate: error: --device: ") and "--mm-device" not in err
    assert "tpu" in err and "Traceback" not in err
    assert main(["run", "--thresholds", "missing.yaml"]) == EXIT_USAGE
    assert "missing.yaml" in capsys.readouterr().err


def test_option_errors_use_the_cli_spelling(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--batch-size", "abc"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert err.startswith("mm-gate: error: --batch-size: expected an integer >= 1, got 'abc'")
    assert main(["baseline", "update", "--mode", "lenient"]) == EXIT_USAGE
    assert capsys.readouterr().err.startswith("mm-gate: error: --mode: expected 'significant' or 'strict'")


def test_refused_baseline_update_is_exit_4_after_the_reports(project: Path, capsys: pytest.CaptureFixture[str],
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    thresholds = project / "thresholds.yaml"
    thresholds.write_text(thresholds.read_text().replace(" clipscore: {min: 0.0", " clipscore: {min: 2.4"))
    summary = project / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    assert main(["baseline", "update", "--html", "report.html"]) == EXIT_USAGE
    captured = capsys.readouterr()
    assert "mm-gate: report written to" in captured.out and "mm-gate: HTML report written to" in captured.out
    assert "report appended to $GITHUB_STEP_SUMMARY" in captured.out
    assert captured.err.startswith("mm-gate: error: baseline not updated: floors fail (golden/tiny::clipscore::min)")
    assert summary.read_text().count("## mm-gate") == 1 and (project / "report.html").exists()
    assert not (project / "baselines" / "baseline.json").exists()
