"""`mm-gate` subcommands, called in-process on a tiny project."""

from __future__ import annotations

import importlib.metadata
import itertools
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from support.gitproject import shift_baseline
from support.project import build_tiny_project
from support.scripts import INTERRUPTING_ADAPTER

import qa_gate.pipeline as pipeline
from qa_gate.cli import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, main
from qa_gate.faults import Outputs

_module_names = itertools.count()


@pytest.fixture
def project(tmp_path: Path, tiny_open_clip: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    return build_tiny_project(tmp_path, tiny_open_clip)


@pytest.fixture
def user_adapter(project: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], str]]:
    """Writes a user adapter module beside thresholds.yaml and returns its ``module:make`` name."""
    names: list[str] = []
    monkeypatch.syspath_prepend(str(project))

    def write(source: str) -> str:
        names.append(f"user_adapter_{next(_module_names)}")
        (project / f"{names[-1]}.py").write_text(source)
        return f"{names[-1]}:make"

    yield write
    for name in names:
        sys.modules.pop(name, None)


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


CONSOLE = ("import atexit, gc, sys\n"
           "atexit.register(lambda: print('frozen at exit:', gc.get_freeze_count() > 0, file=sys.stderr))\n"
           "sys.argv = ['mm-gate', *sys.argv[1:]]\n"
           "from qa_gate.cli import console\nconsole()\n")


def test_the_console_script_exits_with_mains_code_and_skips_the_last_collections(project: Path) -> None:
    installed = importlib.metadata.entry_points(group="console_scripts", name="mm-gate")
    assert [script.value for script in installed] == ["qa_gate.cli:console"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    for args, code, out in ((["golden", "verify"], EXIT_OK, "6 samples"),
                            (["golden", "verify", "no/such/suite"], EXIT_USAGE, "")):
        done = subprocess.run([sys.executable, "-c", CONSOLE, *args], cwd=project, env=env, capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == code, done.stdout + done.stderr
        assert "frozen at exit: True" in done.stderr and out in done.stdout  # what it printed is all there


def test_run_update_and_regress(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "mm-gate verdict: PASSED" in out
    assert (project / "report.md").exists()
    assert not (project / "baselines" / "baseline.json").exists()

    assert main(["baseline", "update"]) == EXIT_OK
    baseline = project / "baselines" / "baseline.json"
    shift_baseline(baseline, 0.1)  # through the store: the per-sample statistics live beside the JSON
    data = json.loads(baseline.read_text())
    capsys.readouterr()
    assert main(["run"]) == EXIT_FAILED
    out = capsys.readouterr().out
    assert "FAILED" in out and "tiny::clipscore::max_drop" in out
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
    assert captured.err.startswith("mm-gate: error: baseline not updated: floors fail (tiny::clipscore::min)")
    assert summary.read_text().count("## mm-gate") == 1 and (project / "report.html").exists()
    assert not (project / "baselines" / "baseline.json").exists()


def test_unknown_options_and_bad_usage_exit_4_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["run", "--bogus"], ["--bogus"], [], ["baseline"], ["signoff"], ["run", "--html"]):
        assert main(argv) == EXIT_USAGE, argv
        err = capsys.readouterr().err
        assert err.startswith("mm-gate: error: ") and err.count("\n") == 1, (argv, err)
    assert main(["run", "--bogus"]) == EXIT_USAGE
    assert "unrecognized arguments: --bogus (see 'mm-gate --help')" in capsys.readouterr().err
    assert main(["--help"]) == EXIT_OK
    assert "2 interrupted" in " ".join(capsys.readouterr().out.split())


def test_debug_shows_the_traceback_the_default_one_line(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    thresholds = project / "thresholds.yaml"
    thresholds.write_text(thresholds.read_text().replace("clipscore: {min: 0.0", "clipscore: {min: high"))
    assert main(["run"]) == EXIT_USAGE
    quiet = capsys.readouterr().err
    assert "Traceback" not in quiet and quiet.count("\n") == 1
    assert "suites.tiny.metrics.clipscore.min" in quiet
    for argv in (["run", "--debug"], ["--debug", "run"]):
        assert main(argv) == EXIT_USAGE
        loud = capsys.readouterr().err
        assert loud.startswith("Traceback") and "ConfigError" in loud, argv
        assert loud.splitlines()[-1] == quiet.strip()  # the same one line, after the traceback


def test_an_internal_error_is_one_line_exit_4(project: Path, capsys: pytest.CaptureFixture[str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_judge(*args: Any, **kwargs: Any) -> Any:  # stands in for a qa_gate bug found while judging
        raise RuntimeError("judge blew up\nsecond line")

    monkeypatch.setattr(pipeline, "judge", broken_judge)
    assert main(["baseline", "update"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert err == ("mm-gate: internal error: RuntimeError: judge blew up (a qa_gate bug, or a failure it does not "
                   "recognise; rerun with --debug for the traceback)\n")
    assert not (project / "baselines" / "baseline.json").exists() and not (project / "report.md").exists()
    assert main(["baseline", "update", "--debug"]) == EXIT_USAGE
    assert "Traceback" in capsys.readouterr().err


def test_ctrl_c_while_scoring_is_exit_2_and_writes_nothing(project: Path, user_adapter: Callable[[str], str],
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    adapter = user_adapter(INTERRUPTING_ADAPTER)
    assert main(["baseline", "update", "--adapter", adapter, "--html", "report.html"]) == EXIT_INTERRUPTED
    err = capsys.readouterr().err
    assert err == ("mm-gate: interrupted while scoring; nothing was written (report report.md, HTML report "
                   "report.html, baseline baselines/baseline.json left as they were)\n")
    assert not (project / "report.md").exists() and not (project / "report.html").exists()
    assert not (project / "baselines").exists()


def test_ctrl_c_after_the_report_says_it_was_written(project: Path, capsys: pytest.CaptureFixture[str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    real_deliver = pipeline.deliver

    def interrupted_deliver(*args: Any, **kwargs: Any) -> Any:  # Ctrl-C lands once the reports are written
        real_deliver(*args, **{**kwargs, "update_baseline": False})
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline, "deliver", interrupted_deliver)
    assert main(["baseline", "update"]) == EXIT_INTERRUPTED
    err = capsys.readouterr().err
    assert err == ("mm-gate: interrupted while writing the reports; written before the interrupt: report report.md; "
                   "not written: baseline baselines/baseline.json\n")
    assert "nothing was written" not in err
    assert (project / "report.md").exists() and not (project / "baselines" / "baseline.json").exists()


def test_outputs_tell_written_files_from_untouched_ones(project: Path) -> None:
    root, config = project, pipeline.prepare(project / "thresholds.yaml").config
    summary, report = root / "summary.md", root / "report.md"
    summary.write_text("earlier steps\n")
    report.write_text("an older report\n")
    outputs = Outputs.of(config, root / "r.html", {"GITHUB_STEP_SUMMARY": str(summary)})
    assert outputs.written() == ()
    with summary.open("a") as handle:
        handle.write("## mm-gate\n")
    assert outputs.written() == ("job summary summary.md",)
    assert outputs.interrupted_line("while writing") == (
        "mm-gate: interrupted while writing; written before the interrupt: job summary summary.md; "
        "not written: report report.md, HTML report r.html, baseline baselines/baseline.json")


def test_allow_pickle_is_shown_at_the_top_of_every_report(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    thresholds = project / "thresholds.yaml"
    trusting = thresholds.read_text().replace("  batch_size: 4\n", "  batch_size: 4\n  allow_pickle: true\n")
    thresholds.write_text(trusting)
    assert main(["run", "--html", "report.html", "--quiet"]) == EXIT_OK  # no progress lines before the verdict
    line = ("model.allow_pickle is on: the checkpoint under test was loaded with pickle allowed, which can run "
            "arbitrary code; use it only with checkpoints you trust")
    out = capsys.readouterr().out.splitlines()
    assert out[1].startswith("mm-gate verdict: PASSED") and out[2] == f"  CAUTION: {line}"
    markdown = (project / "report.md").read_text()
    escaped = line.replace("_", "\\_")  # Markdown-escaped, as every text in the report
    assert f"> [!CAUTION]\n> - {escaped}\n" in markdown
    assert markdown.index(escaped) < markdown.index("**Checkpoint:**")
    assert "model.allow_pickle is on: the checkpoint under test" in (project / "report.html").read_text()
    thresholds.write_text(thresholds.read_text().replace("  allow_pickle: true\n", ""))
    assert main(["run"]) == EXIT_OK
    assert "CAUTION" not in capsys.readouterr().out + (project / "report.md").read_text()
