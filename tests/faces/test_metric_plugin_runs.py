"""User metric plug-ins gated for real: a plug-in package in a temp dir, the demo checkpoint, ``mm-gate run``.

One run is a child process finding the plug-in through ``PYTHONPATH`` and its entry point; the fault
runs are in-process (``main``), each a broken plug-in named inline, each one line and exit code 4.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from support.plugin_package import DISTRIBUTION, VERSION, fresh_plugins, write_plugin_package
from support.project import write_thresholds, write_tiny_suite

from qa_gate.baseline.file import FileBaselineStore
from qa_gate.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE, main
from qa_gate.metrics import plugins

DEMO = Path(__file__).resolve().parents[2] / "qa_gate" / "demo" / "checkpoints" / "good"
THRESHOLD = 0.87
"""Between the demo checkpoint's cosines on the tiny suite (0.861 to 0.880): share_above is neither 0 nor 1."""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The demo checkpoint, the tiny suite and the plug-in package (``site/``, on ``sys.path``) under ``tmp_path``."""
    shutil.copytree(DEMO, tmp_path / "ckpt")
    write_tiny_suite(tmp_path / "golden" / "tiny")
    write_plugin_package(tmp_path / "site")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    with fresh_plugins(monkeypatch):
        yield tmp_path


def thresholds(root: Path, metrics: dict[str, Any], **suite: Any) -> Path:
    return write_thresholds(root, {"adapter": "open_clip", "checkpoint": "ckpt", "batch_size": 4},
                            {"tiny": {"path": "golden/tiny", "metrics": metrics, **suite}},
                            baseline={"path": "baselines/baseline.json"}, report={"path": "report.md"})


def test_a_plugin_through_its_entry_point_and_inline_gates_like_a_builtin(project: Path) -> None:
    thresholds(project, {"cosine": {"min": -1.0}, "rms_cosine": {"min": 0.5, "max_drop": 0.01},
                         "qa_plug.metrics:ShareAbove": {"threshold": THRESHOLD, "min": 0.0}},
               slices={"colour=red": {"share_above": {"min": 0.0}}})
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(project / "site"), os.environ.get("PYTHONPATH", "")])}
    code = ("import sys; from qa_gate.cli import main; code = main(sys.argv[1:]); "
            "print('plug-in imported:', 'qa_plug.metrics' in sys.modules); sys.exit(code)")
    done = subprocess.run([sys.executable, "-c", code, "run", "--update-baseline"], cwd=project, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == EXIT_OK, done.stderr + done.stdout
    assert "plug-in imported: True" in done.stdout
    assert "tiny::rms_cosine::max_drop" in done.stdout and "tiny[colour=red]::share_above::min" in done.stdout
    run = FileBaselineStore(project / "baselines" / "baseline.json").read()
    assert run is not None
    suite = run.suite("tiny")
    assert suite is not None
    cosines = np.array(suite.metrics["cosine"].per_sample)  # the built-in metric: an independent implementation
    rms, share = suite.metrics["rms_cosine"], suite.metrics["share_above"]
    assert rms.value == pytest.approx(float(np.sqrt(np.mean(cosines ** 2))), abs=1e-6)
    assert np.allclose(rms.per_sample, cosines, atol=1e-6)
    assert share.value == pytest.approx(float(np.mean(cosines > THRESHOLD))) and 0.0 < share.value < 1.0
    assert rms.definition["plugin"] == "qa_plug.metrics:RmsCosine" and rms.definition["version"] == 3
    assert rms.definition["plugin_distribution"] == f"{DISTRIBUTION} {VERSION}"
    assert share.definition["plugin"] == "qa_plug.metrics:ShareAbove" and share.definition["threshold"] == THRESHOLD
    verdict = json.loads((project / "mm-gate-verdict.json").read_text())
    assert {c["metric"] for c in verdict["checks"]} >= {"rms_cosine", "share_above"}
    report = (project / "report.md").read_text()
    assert "rms\\_cosine" in report and "share\\_above" in report


LOAD_FAULTS = {
    "qa_plug.missing:Metric": ("cannot import 'qa_plug.missing'", "ModuleNotFoundError"),
    "qa_plug.fails:Metric": ("cannot import 'qa_plug.fails'", "RuntimeError: broken at import"),
    "qa_plug.metrics:Nope": ("'qa_plug.metrics' has nothing of that name as 'Nope'", "expected a class"),
    "qa_plug.broken:NoColumns": ("has no attribute 'columns'", "expected a non-empty tuple of distinct column names"),
    "qa_plug.broken:BadHigher": ("has higher_is_better = 'yes'", "expected True or False"),
    "qa_plug.broken:BadNeeds": ("has needs = a list ('captions',)", "a sample field is one of answer, answers, "),
    "qa_plug.broken:BadParams": ("has params = a mapping {'min': 0.5}", "a parameter may not be named min, max"),
    "qa_plug.broken:BadFamily": ("family = 'aligment'", "(did you mean 'alignment'?)"),
    "qa_plug.broken:BuiltinName": ("declares the name 'clipscore' of a built-in metric", "another name"),
}


@pytest.mark.parametrize("key", list(LOAD_FAULTS))
def test_a_plugin_that_cannot_load_is_one_line_exit_4(project: Path, key: str,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    write_plugin_package(project / "site", import_error="broken at import")
    thresholds(project, {key: {"min": 0.0}})
    assert main(["run"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert err.startswith(f"mm-gate: error: thresholds.yaml: suites.tiny.metrics.{key}: ")
    assert all(part in err for part in LOAD_FAULTS[key]), err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_two_metrics_of_one_name_and_entry_point_faults_are_refused(project: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    thresholds(project, {"rms_cosine": {"min": 0.0}, "qa_plug.metrics:RmsCosine": {"min": 0.0}})
    assert main(["run"]) == EXIT_USAGE
    assert "two metrics of this suite are named 'rms_cosine' ('qa_plug.metrics:RmsCosine' declares it)" in \
        capsys.readouterr().err
    for points, expected in (({"clipscore": "qa_plug.metrics:RmsCosine"}, "takes the name of the built-in metric"),
                             ({"rms": "qa_plug.metrics:RmsCosine"}, "declares the name 'rms_cosine'; expected its "
                                                                    "entry point's name 'rms'")):
        write_plugin_package(project / "site", points)
        plugins._points, plugins._point_problems = None, []
        thresholds(project, {"rms": {"min": 0.0}})
        assert main(["run"]) == EXIT_USAGE
        err = capsys.readouterr().err
        assert expected in err and len(err.strip().splitlines()) == 1, err


SCORING_FAULTS = {
    "Raises": "suite 'tiny': per_sample raised ValueError: no embeddings for me",
    "WrongShape": "suite 'tiny': per_sample returned rows of shape [6]; expected [n, len(columns)] = [6, 1]",
    "NanRow": "per_sample returned nan for sample 'green-0' (column 'above'",
    "NanAggregate": "aggregate returned nan for the [6, 1] rows",
    "NotVectorised": "aggregate is not vectorised over leading axes",
}


@pytest.mark.parametrize("cls", list(SCORING_FAULTS))
def test_a_plugin_that_fails_while_scoring_is_named_exit_4(project: Path, cls: str,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    thresholds(project, {f"qa_plug.broken:{cls}": {"min": 0.0}})
    assert main(["run"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert err.startswith("mm-gate: error: metric plug-in '") and f"(qa_plug.broken:{cls})" in err
    assert SCORING_FAULTS[cls] in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_a_non_finite_aggregate_on_a_tag_slice_names_the_slice(project: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    thresholds(project, {"qa_plug.broken:NanInResamples": {"min": 0.0}})  # its one hit is red-0: 0 / 0 elsewhere
    assert main(["run"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert re.search(r"\(qa_plug\.broken:NanInResamples\), suite 'tiny', tag slice colour=(green|blue): aggregate "
                     r"returned nan for the \[2, 2\] rows", err), err
    assert len(err.strip().splitlines()) == 1


def test_a_non_finite_aggregate_in_a_bootstrap_resample_is_named(project: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    manifest = project / "golden" / "tiny" / "manifest.yaml"  # no tags: no slice aggregates before the bootstrap
    manifest.write_text("".join(line for line in manifest.read_text().splitlines(True) if "tags:" not in line))
    assert main(["golden", "hash", "golden/tiny"]) == EXIT_OK
    thresholds(project, {"qa_plug.broken:NanInResamples": {"max_drop": 0.1}})
    assert main(["baseline", "update"]) == EXIT_OK  # the full-sample value is finite (1.0)
    capsys.readouterr()
    assert main(["run"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "metric plug-in 'nan_in_resamples' (qa_plug.broken:NanInResamples), suite 'tiny': aggregate returned " \
           "nan for " in err and "bootstrap resamples ([" in err, err


def test_a_new_release_of_the_plugin_is_incomparable_with_its_old_baseline(
        project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    thresholds(project, {"rms_cosine": {"max_drop": 0.01}})
    assert main(["baseline", "update"]) == EXIT_OK
    info = project / "site" / f"{DISTRIBUTION.replace('-', '_')}-{VERSION}.dist-info"
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {DISTRIBUTION}\nVersion: 1.3.0\n")
    plugins._points, plugins._active, plugins._by_target = None, {}, {}
    capsys.readouterr()
    assert main(["run"]) == EXIT_FAILED
    check = json.loads((project / "mm-gate-verdict.json").read_text())["checks"][0]
    assert check["metric"] == "rms_cosine" and check["status"] == "incomparable"
    assert "metric definition changed" in check["message"]


def test_a_baseline_naming_a_plugin_that_is_gone_still_reports(project: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    thresholds(project, {"cosine": {"min": -1.0}, "qa_plug.metrics:ShareAbove": {"min": 0.0}})
    assert main(["baseline", "update"]) == EXIT_OK
    shutil.rmtree(project / "site")  # uninstalled
    plugins._points, plugins._active, plugins._by_target = None, {}, {}
    thresholds(project, {"cosine": {"min": -1.0, "max_drop": 0.5}})
    capsys.readouterr()
    assert main(["run"]) == EXIT_OK, capsys.readouterr().err
    assert "cosine" in (project / "report.md").read_text()


def test_without_the_flag_no_plugin_is_imported(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    site = write_plugin_package(pytester.path / "site", {"rms_cosine": "qa_plug.metrics:RmsCosine"})
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]))
    pytester.makepyfile(test_plain="""
        import sys

        def test_no_plugin_torch_or_numpy():
            assert "qa_plug" not in sys.modules and "qa_plug.metrics" not in sys.modules
            assert "torch" not in sys.modules and "numpy" not in sys.modules
            assert "qa_gate.metrics.plugins" not in sys.modules
    """)
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)
