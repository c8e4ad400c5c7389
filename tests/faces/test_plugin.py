"""The pytest plugin, driven through real pytest runs in subprocesses (pytester)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.gitproject import shift_baseline

from qa_gate.baseline.file import FileBaselineStore

GATE = ("--mm-gate", "-p", "no:cacheprovider")


def test_without_the_flag_the_plugin_is_inert_and_torch_free(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_plain="""
        import sys

        def test_nothing_heavy_was_imported():
            assert "torch" not in sys.modules
            assert "qa_gate.pipeline" not in sys.modules
            assert "qa_gate.config.load" not in sys.modules
    """)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    help_text = pytester.runpytest_subprocess("--help").stdout.str()
    assert "--mm-gate" in help_text and "--mm-checkpoint" in help_text and "mm_device" in help_text


def test_malformed_thresholds_exit_4_with_the_key_path(gate_project: pytest.Pytester) -> None:
    path = gate_project.path / "thresholds.yaml"
    path.write_text(path.read_text().replace("clipscore: {min: 0.0", "clipscore: {min: high"))
    result = gate_project.runpytest_subprocess(*GATE)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "suites.tiny.metrics.clipscore.min" in result.stderr.str()
    assert "Traceback" not in result.stderr.str() + result.stdout.str()


def test_flipped_byte_in_a_golden_image_names_the_sample(gate_project: pytest.Pytester) -> None:
    image = gate_project.path / "golden" / "tiny" / "images" / "green-1.png"
    data = bytearray(image.read_bytes())
    data[len(data) // 2] ^= 0x01
    image.write_bytes(bytes(data))
    result = gate_project.runpytest_subprocess(*GATE)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    err = result.stderr.str()
    assert "green-1" in err and "sha256" in err and "mm-gate golden hash" in err


def test_bad_checkpoint_is_a_usage_error(gate_project: pytest.Pytester) -> None:
    result = gate_project.runpytest_subprocess(*GATE, "--mm-checkpoint", "no/such/checkpoint")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "no/such/checkpoint" in result.stderr.str()
    assert not (gate_project.path / "baselines").exists()


def test_first_run_update_then_gate_against_the_baseline(gate_project: pytest.Pytester, monkeypatch) -> None:
    summary = gate_project.path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    first = gate_project.runpytest_subprocess(*GATE, "-v")
    first.assert_outcomes(passed=4)
    first.stdout.fnmatch_lines(["*tiny::clipscore::min PASSED*", "*No baseline yet*"])
    baseline = gate_project.path / "baselines" / "baseline.json"
    assert not baseline.exists()
    assert "mm-gate" in summary.read_text()

    update = gate_project.runpytest_subprocess(*GATE, "--mm-update-baseline")
    update.assert_outcomes(passed=4)
    stored = json.loads(baseline.read_text())
    assert set(stored["suites"]["tiny"]["metrics"]) == {"clipscore", "refclipscore", "cosine"}
    assert len(FileBaselineStore(baseline).read().suite("tiny").metrics["clipscore"].per_sample) == 6
    assert stored["checkpoint"]["checkpoint"] == "ckpt"

    again = gate_project.runpytest_subprocess(*GATE, "--mm-batch-size", "1")
    again.assert_outcomes(passed=4)
    again.stdout.fnmatch_lines(["*pass*tiny::clipscore::max_drop*"])
    report = (gate_project.path / "report.md").read_text()
    assert "PASSED" in report and "colour=red" in report
    assert summary.read_text().count("## mm-gate") == 3


def _raise_baseline(baseline: Path, by: float) -> str:
    shift_baseline(baseline, by)  # through the store: the per-sample statistics live beside the JSON
    return baseline.read_text()  # it records the per-sample file's sha256, so it stands for both


def test_a_regression_fails_the_right_item_and_leaves_the_baseline(gate_project: pytest.Pytester) -> None:
    gate_project.runpytest_subprocess(*GATE, "--mm-update-baseline").assert_outcomes(passed=4)
    baseline = gate_project.path / "baselines" / "baseline.json"
    before = _raise_baseline(baseline, 0.05)
    result = gate_project.runpytest_subprocess(*GATE)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines([
        "*clipscore = *, max_drop 0.01, baseline *, delta -0.0500: max_drop (significant, 95%) broken*",
        "FAILED tiny::clipscore::max_drop*"])
    assert baseline.read_text() == before
    assert "FAILED" in (gate_project.path / "report.md").read_text()


def test_update_refused_when_a_floor_fails(gate_project: pytest.Pytester) -> None:
    path = gate_project.path / "thresholds.yaml"
    path.write_text(path.read_text().replace("clipscore: {min: 0.0", "clipscore: {min: 2.4"))
    result = gate_project.runpytest_subprocess(*GATE, "--mm-update-baseline")
    assert result.ret == pytest.ExitCode.USAGE_ERROR  # a refused update is exit 4, as with mm-gate
    result.stdout.fnmatch_lines(["*baseline not updated*tiny::clipscore::min*"])
    assert not (gate_project.path / "baselines" / "baseline.json").exists()


def test_changed_golden_suite_is_reported_incomparable(gate_project: pytest.Pytester) -> None:
    gate_project.runpytest_subprocess(*GATE, "--mm-update-baseline").assert_outcomes(passed=4)
    from support.project import write_tiny_suite

    write_tiny_suite(gate_project.path / "golden" / "tiny", per_colour=3)
    result = gate_project.runpytest_subprocess(*GATE)
    result.assert_outcomes(passed=2, failed=2)
    result.stdout.fnmatch_lines(["*incomparable*golden suite changed*"])


def test_fixture_gives_user_tests_the_results(gate_project: pytest.Pytester) -> None:
    gate_project.makepyfile(test_mine="""
        def test_red_is_not_worse_than_blue(mm_gate_results):
            suite = mm_gate_results.run.suite("tiny")
            assert suite.metrics["clipscore"].stats.shape == (6, 1)
            assert mm_gate_results.verdict.checks
    """)
    gate_project.runpytest_subprocess(*GATE).assert_outcomes(passed=5)
    gate_project.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(skipped=1)


def test_keyword_selection_and_xdist(gate_project: pytest.Pytester) -> None:
    gate_project.runpytest_subprocess(*GATE, "-k", "cosine").assert_outcomes(passed=1, deselected=3)
    gate_project.makepyfile(test_mine="""
        def test_workers_see_results(mm_gate_results):
            assert mm_gate_results.run.suite("tiny") is not None
    """)
    result = gate_project.runpytest_subprocess(*GATE, "-n", "2")
    result.assert_outcomes(passed=5)
    assert result.stdout.str().count("mm-gate: scoring") == 1
    assert (gate_project.path / "report.md").exists()


def test_ini_options_are_read(gate_project: pytest.Pytester) -> None:
    gate_project.makeini("""
        [pytest]
        mm_gate = true
        mm_report = from-ini.md
        mm_batch_size = 2
    """)
    result = gate_project.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=4)
    assert (gate_project.path / "from-ini.md").exists()
    bad = gate_project.runpytest_subprocess("-p", "no:cacheprovider", "--mm-device", "gpu")
    assert bad.ret == pytest.ExitCode.USAGE_ERROR
    assert "--mm-device" in bad.stderr.str()


def test_update_baseline_without_the_gate_is_refused(gate_project: pytest.Pytester) -> None:
    result = gate_project.runpytest_subprocess("-p", "no:cacheprovider", "--mm-update-baseline")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "needs --mm-gate" in result.stderr.str()
    assert not (gate_project.path / "baselines").exists()


def test_option_errors_use_the_pytest_spelling(gate_project: pytest.Pytester) -> None:
    result = gate_project.runpytest_subprocess(*GATE, "--mm-batch-size", "abc")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "--mm-batch-size: expected an integer >= 1, got 'abc'" in result.stderr.str()


CALLS_CONFTEST = """
import os
from pathlib import Path

import qa_gate.pipeline as pipeline

LOG = Path(__file__).parent / "calls.log"


def _logged(name, function):
    def wrapper(*args, **kwargs):
        with LOG.open("a") as log:
            log.write(f"{name} {os.environ.get('PYTEST_XDIST_WORKER', 'controller')}\\n")
        return function(*args, **kwargs)
    return wrapper


for _name in ("load_config", "load_suite", "prepare", "score", "judge", "deliver"):
    setattr(pipeline, _name, _logged(_name, getattr(pipeline, _name)))
"""

RESULTS_TEST = """
import os
from pathlib import Path


def test_results_reach_this_process(mm_gate_results):
    assert mm_gate_results.run.suite("tiny").metrics["clipscore"].stats.shape == (6, 1)
    assert "tiny::clipscore::max_drop" in {c.id for c in mm_gate_results.verdict.checks}
    (Path(__file__).parent / "fixture.log").write_text(os.environ.get("PYTEST_XDIST_WORKER", "controller"))
"""


def test_xdist_workers_only_report_the_controllers_outcomes(gate_project: pytest.Pytester,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID"):
        monkeypatch.delenv(name, raising=False)  # this test may itself run on a worker: its runs must not say so
    root = gate_project.path
    gate_project.runpytest_subprocess(*GATE, "--mm-update-baseline").assert_outcomes(passed=4)
    _raise_baseline(root / "baselines" / "baseline.json", 0.05)
    gate_project.makeconftest(CALLS_CONFTEST)
    gate_project.makepyfile(test_mine=RESULTS_TEST)
    runs = {}
    for workers in ("0", "2"):
        (root / "calls.log").unlink(missing_ok=True)
        result = gate_project.runpytest_subprocess(*GATE, "-p", "xdist", "-n", workers)
        calls = (root / "calls.log").read_text().splitlines()
        runs[workers] = (result.ret, result.parseoutcomes(), calls, (root / "fixture.log").read_text())
        result.stdout.fnmatch_lines(["*clipscore = *, max_drop 0.01, baseline *, delta -0.0500: max_drop*"])
        assert "FAILED tiny::clipscore::max_drop" in result.stdout.str()
    (ret0, outcomes0, calls0, _), (ret2, outcomes2, calls2, fixture2) = runs["0"], runs["2"]
    assert ret0 == ret2 == pytest.ExitCode.TESTS_FAILED
    assert outcomes0 == outcomes2 == {"passed": 4, "failed": 1}
    expected = [f"{name} controller" for name in ("prepare", "load_config", "load_suite", "score", "judge", "deliver")]
    assert calls0 == calls2 == expected  # once each, never on a worker
    assert fixture2.startswith("gw")  # the results fixture ran on a worker, from the controller's file


def test_planned_items_are_the_judged_checks_and_travel_to_workers(gate_project: pytest.Pytester) -> None:
    import copyreg

    from qa_gate.handoff import Handoff, load_results, outcomes, save_results
    from qa_gate.pipeline import GateResults, judge, prepare, score
    from qa_gate.verdict.checks import planned_check_ids

    path = gate_project.path / "thresholds.yaml"
    path.write_text(path.read_text() + "    slices:\n      colour=red: {clipscore: {min: 0.0}}\n")
    prepared = prepare(path)
    verdict = judge(prepared, score(prepared))
    planned = planned_check_ids(prepared.config)
    assert planned == tuple(c.id for c in verdict.checks)
    assert "tiny[colour=red]::clipscore::min" in planned

    handoff = Handoff(prepared.config.source, planned, outcomes(verdict), gate_project.path / "r.pickle")
    assert Handoff.loads(handoff.dumps()) == handoff
    assert handoff.outcomes is not None and handoff.outcomes["tiny::clipscore::min"].result == "passed"

    before = dict(copyreg.dispatch_table)
    saved = save_results(GateResults(prepared.config, verdict.run, verdict), gate_project.path)
    assert copyreg.dispatch_table == before  # the frozen-mapping reducer stays private to our pickler
    loaded = load_results(saved)
    assert loaded.config == prepared.config
    assert [(c.id, c.status) for c in loaded.verdict.checks] == [(c.id, c.status) for c in verdict.checks]
    stats = [r.suite("tiny").metrics["clipscore"].stats for r in (loaded.run, verdict.run)]  # type: ignore[union-attr]
    assert (stats[0] == stats[1]).all()
