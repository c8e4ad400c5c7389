"""The cache and progress options of both faces: --cache-dir, --no-cache, --quiet and --mm-cache-dir, -q."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from support.project import build_tiny_project

from qa_gate.cli import EXIT_OK, main

PROGRESS = re.compile(r"^mm-gate: tiny: (decode \+ encode images|encode texts): \d+/\d+ \(\d+%\)", re.M)


@pytest.fixture
def project(tmp_path: Path, tiny_open_clip: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    return build_tiny_project(tmp_path, tiny_open_clip)


def test_cli_progress_lines_then_a_warm_quiet_run(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--cache-dir", "outputs"]) == EXIT_OK
    captured = capsys.readouterr()
    out = captured.out
    assert PROGRESS.search(out) and "\r" not in out and captured.err == ""  # not a terminal: plain lines
    assert "mm-gate: output cache: 0 of" in out and list((project / "outputs").rglob("*.pack"))
    assert main(["run", "--cache-dir", "outputs"]) == EXIT_OK
    assert re.search(r"output cache: (\d+) of \1 model outputs reused, model not loaded", capsys.readouterr().out)
    assert main(["run", "--no-cache", "-q", "--cache-dir", "elsewhere"]) == EXIT_OK
    assert not PROGRESS.search(capsys.readouterr().out) and not (project / "elsewhere").exists()


def test_an_empty_cache_dir_is_a_usage_error(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--cache-dir", ""]) == 4
    assert "--cache-dir: expected a folder path, got ''" in capsys.readouterr().err


def test_plugin_passes_quiet_and_the_cache_dir_down(gate_project: pytest.Pytester) -> None:
    result = gate_project.runpytest_subprocess("--mm-gate", "--mm-cache-dir", "outputs", "-q", "-p", "no:randomly")
    assert result.ret == 0
    assert not PROGRESS.search(result.stdout.str() + result.stderr.str())  # -q: no progress lines
    assert list((gate_project.path / "outputs").rglob("*.pack"))
    help_text = gate_project.runpytest_subprocess("--help").stdout.str()
    assert "--mm-cache-dir" in help_text and "--mm-no-cache" in help_text
