"""`pytest --mm-gate` exits as `mm-gate` does: 4 for a usage, input or internal error, 2 when interrupted
(Ctrl-C), in one line without a traceback unless ``--mm-debug``. Real pytest runs in subprocesses."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.scripts import INTERRUPTING_ADAPTER

GATE = ("--mm-gate", "-p", "no:cacheprovider")


BROKEN_JUDGE = '''
import qa_gate.pipeline as pipeline


def _broken_judge(*args, **kwargs):  # stands in for a qa_gate bug found while judging
    raise RuntimeError("judge blew up\\nsecond line")


pipeline.judge = _broken_judge
'''


def _output(result: pytest.RunResult) -> str:
    return result.stdout.str() + result.stderr.str()


def _written(root: Path) -> list[str]:
    return sorted(p.name for p in (root / "report.md", root / "baselines" / "baseline.json") if p.exists())


def test_an_unknown_gate_option_is_exit_4(gate_project: pytest.Pytester) -> None:
    result = gate_project.runpytest_subprocess(*GATE, "--mm-bogus", "1")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "unrecognized arguments: --mm-bogus" in result.stderr.str()


def test_ctrl_c_while_scoring_is_exit_2_and_writes_nothing(gate_project: pytest.Pytester) -> None:
    (gate_project.path / "interrupting_adapter.py").write_text(INTERRUPTING_ADAPTER)
    result = gate_project.runpytest_subprocess(*GATE, "--mm-update-baseline", "--mm-adapter",
                                               "interrupting_adapter:make")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    assert ("mm-gate: interrupted while scoring; nothing was written (report report.md, baseline "
            "baselines/baseline.json left as they were)") in result.stderr.str()
    assert "Traceback" not in _output(result)
    assert _written(gate_project.path) == []


def test_ctrl_c_during_the_tests_writes_the_report_never_the_baseline(gate_project: pytest.Pytester) -> None:
    gate_project.makepyfile(test_stop="def test_ctrl_c():\n    raise KeyboardInterrupt\n")
    result = gate_project.runpytest_subprocess(*GATE, "--mm-update-baseline")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(["mm-gate: report written to *report.md",
                                 "mm-gate: baseline NOT updated: the session was interrupted"])
    assert "nothing was written" not in _output(result)
    assert _written(gate_project.path) == ["report.md"]


def test_an_internal_error_is_one_line_exit_4(gate_project: pytest.Pytester) -> None:
    gate_project.makeconftest(BROKEN_JUDGE)
    result = gate_project.runpytest_subprocess(*GATE, "--mm-update-baseline")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert ("mm-gate: internal error: RuntimeError: judge blew up (a qa_gate bug, or a failure it does not "
            "recognise; rerun with --mm-debug for the traceback)") in result.stderr.str()
    assert "Traceback" not in _output(result) and "INTERNALERROR" not in _output(result)
    assert _written(gate_project.path) == []
    debug = gate_project.runpytest_subprocess(*GATE, "--mm-debug")
    assert debug.ret == pytest.ExitCode.USAGE_ERROR
    assert "Traceback" in debug.stderr.str() and "_broken_judge" in debug.stderr.str()


def test_mm_debug_shows_the_traceback_of_a_config_error(gate_project: pytest.Pytester) -> None:
    path = gate_project.path / "thresholds.yaml"
    path.write_text(path.read_text().replace("clipscore: {min: 0.0", "clipscore: {min: high"))
    quiet = gate_project.runpytest_subprocess(*GATE)
    assert quiet.ret == pytest.ExitCode.USAGE_ERROR and "Traceback" not in _output(quiet)
    gate_project.makeini("[pytest]\nmm_debug = true\n")
    loud = gate_project.runpytest_subprocess(*GATE)
    assert loud.ret == pytest.ExitCode.USAGE_ERROR
    err = loud.stderr.str()
    assert "Traceback" in err and "ConfigError" in err and "suites.tiny.metrics.clipscore.min" in err
