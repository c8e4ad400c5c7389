"""Without Java the captioning metrics are skipped with their reason, never failed; with Java they score.

Java is hidden for real: ``PATH`` becomes a folder holding only ``git``, in this process
(``monkeypatch.setenv``) or in a pytest subprocess. The project is a tiny image-to-text
model (``captioner_dir`` of ``tests/e2e/conftest.py``) gated on BLEU-4 and METEOR, with a
Java-free WER of the same generations (each sample's ``text`` is its caption) beside them.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING

import numpy as np
import pytest
from support.project import write_thresholds, write_tiny_suite

if TYPE_CHECKING:
    from qa_gate.pipeline import Prepared
    from qa_gate.results import RunResult
    from qa_gate.verdict.checks import Verdict

pytest.importorskip("pycocoevalcap")
JAVA = shutil.which("java") is not None

METRICS = {"bleu4": {"min": 0.0, "max_drop": 0.05}, "meteor": {"min": 0.0}, "wer": {"max": 10.0}}
SKIPPED_IDS = ("tiny::bleu4::min", "tiny::bleu4::max_drop", "tiny::meteor::min",
               "tiny[colour=red]::meteor::min")


def _thresholds(root: Path, metrics: dict = METRICS, scorer: dict | None = None) -> Path:
    """``root/thresholds.yaml``: the tiny captioner gated on ``metrics`` and METEOR on the red slice."""
    suites = {"tiny": {"path": "golden/tiny", "metrics": metrics, "slices": {"colour=red": {"meteor": {"min": 0.0}}}}}
    return write_thresholds(root, model={"adapter": "transformers", "checkpoint": "ckpt", "batch_size": 4,
                                         "options": {"max_new_tokens": 7}},
                            suites=suites, scorer=scorer, baseline={"path": "baselines/baseline.json"},
                            report={"path": "report.md"})


def _build(root: Path, captioner: Path) -> Path:
    """The project under ``root`` (each sample's caption is also its OCR ``text``); returns its thresholds file."""
    from qa_gate.golden.suite import write_hashes

    shutil.copytree(captioner, root / "ckpt")
    suite = write_tiny_suite(root / "golden" / "tiny")
    manifest = suite / "manifest.yaml"
    lines = manifest.read_text().splitlines()
    manifest.write_text("\n".join(line + ("\n    text:" + line.split(":", 1)[1] if line.startswith("    caption:")
                                          else "") for line in lines) + "\n")
    write_hashes(suite)
    return _thresholds(root)


def _javaless_path(folder: Path) -> str:
    """A ``PATH`` with ``git`` (the baseline store asks it) and no ``java``."""
    folder.mkdir(parents=True, exist_ok=True)
    git = shutil.which("git")
    if git is not None and not (folder / "git").exists():
        (folder / "git").symlink_to(git)
    return str(folder)


@pytest.fixture
def no_java(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", _javaless_path(tmp_path_factory.mktemp("bin")))
    assert shutil.which("java") is None


@pytest.fixture(scope="module")
def hidden(tmp_path_factory: pytest.TempPathFactory, captioner_dir: Path) -> tuple[Prepared, RunResult, Verdict]:
    """``(prepared, run, verdict)`` of the project scored once with Java hidden."""
    from qa_gate.pipeline import judge, prepare, score

    thresholds = _build(tmp_path_factory.mktemp("hidden"), captioner_dir)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PATH", _javaless_path(tmp_path_factory.mktemp("bin")))
        prepared = prepare(thresholds)
        run = score(prepared)
        verdict = judge(prepared, run)
    return prepared, run, verdict


def _stored_without_skips(run: RunResult) -> str:
    """A valid baseline file's text: ``run`` with its skipped metrics left out (as an older baseline)."""
    from qa_gate.baseline.run_json import dumps

    return dumps(replace(run, suites=tuple(replace(s, skipped=MappingProxyType({})) for s in run.suites)))


def test_the_run_goes_on_and_records_why_each_metric_was_skipped(hidden: tuple[Prepared, RunResult, Verdict]) -> None:
    _, run, verdict = hidden
    suite = run.suite("tiny")
    assert set(suite.skipped) == {"bleu4", "meteor"}
    assert set(suite.metrics) == {"wer"}  # the Java-free metric still scored
    assert all(s.output for s in suite.samples)  # the captions were generated
    for reason in suite.skipped.values():
        assert reason.startswith("Java is required for the PTB tokenizer of the captioning metrics (BLEU, "
                                 "CIDEr-D, ROUGE-L, METEOR; pycocoevalcap); install a JRE")
        assert "METEOR" in reason and "no 'java' found on PATH" in reason

    from qa_gate.verdict.checks import Status

    by_id = {c.id: c for c in verdict.checks}
    assert {i for i, c in by_id.items() if c.status is Status.SKIPPED} == set(SKIPPED_IDS)
    assert by_id["tiny::wer::max"].status is Status.PASS
    meteor = by_id["tiny::meteor::min"]
    assert math.isnan(meteor.value) and meteor.baseline is None and meteor.message == suite.skipped["meteor"]
    assert not meteor.status.failed and verdict.passed and not verdict.failures
    assert [(s.id, s.checks) for s in verdict.skipped_metrics()] == [("tiny::bleu4", 2),
                                                                      ("tiny::meteor", 2)]


def test_reports_and_the_verdict_table_show_skips_with_the_reason(hidden: tuple[Prepared, RunResult, Verdict]) -> None:
    from qa_gate.report.html import render_html
    from qa_gate.report.markdown import render_markdown
    from qa_gate.report.terminal import verdict_lines

    _, run, verdict = hidden
    reason = run.suite("tiny").skipped["meteor"]
    md = render_markdown(verdict)
    assert md.startswith("## mm-gate: ✅ PASSED · ⏭️ 4 of 5 checks skipped\n")
    assert f"- ⏭️ **tiny::meteor** skipped (2 checks not run): {reason}\n" in md
    row = next(line for line in md.splitlines() if line.startswith("| meteor | min"))
    assert row.endswith("| — | — | — | — | — | ⏭️ skipped |")
    html = render_html(verdict)
    assert "⏭️ 4 of 5 checks skipped" in html and "<strong>tiny::meteor</strong> skipped" in html
    assert "Java is required for the PTB tokenizer" in html and 'class="skipped"' in html

    lines = verdict_lines(verdict)
    assert lines[0] == "mm-gate verdict: PASSED (0 of 5 checks failed, 4 skipped)"
    assert any(line.split()[:2] == ["skipped", "tiny::meteor::min"] and "—" in line for line in lines)
    assert f"  skipped: tiny::meteor (2 checks): {reason}" in lines


def test_a_baseline_is_never_recorded_with_a_skipped_metric(hidden: tuple[Prepared, RunResult, Verdict],
                                                            tmp_path: Path) -> None:
    from qa_gate.errors import BaselineError
    from qa_gate.pipeline import record_baseline

    prepared, run, verdict = hidden
    config = replace(prepared.config, baseline_path=tmp_path / "baseline.json")
    with pytest.raises(BaselineError, match=r"^baseline not updated: 2 metric\(s\) skipped, not computed "
                                            r"\(bleu4 on golden/tiny, meteor on golden/tiny: Java is required for "
                                            r"the PTB tokenizer .*\); a baseline must hold every configured metric: "
                                            r"fix that and update again, or remove the metric from thresholds.yaml$"):
        record_baseline(config, verdict)
    assert not config.baseline_path.exists()


def test_the_cli_gates_without_java_and_refuses_the_baseline_update(
        tmp_path: Path, captioner_dir: Path, hidden: tuple[Prepared, RunResult, Verdict], no_java: None,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from qa_gate.cli import EXIT_OK, EXIT_USAGE, main

    _build(tmp_path, captioner_dir)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    baseline = tmp_path / "baselines" / "baseline.json"
    baseline.parent.mkdir()
    baseline.write_text(_stored_without_skips(hidden[1]))
    before = baseline.read_bytes()

    assert main(["run"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "mm-gate verdict: PASSED (0 of 5 checks failed, 4 skipped)" in out
    assert "  skipped: tiny::meteor (2 checks): Java is required for the PTB tokenizer" in out
    assert "⏭️" in (tmp_path / "report.md").read_text()

    assert main(["baseline", "update"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "mm-gate: error: baseline not updated" in err and "meteor on golden/tiny: Java is required" in err
    assert "Traceback" not in err
    assert baseline.read_bytes() == before


def test_the_plugin_skips_with_the_reason_and_refuses_the_update(
        pytester: pytest.Pytester, captioner_dir: Path, hidden: tuple[Prepared, RunResult, Verdict],
        tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    _build(pytester.path, captioner_dir)
    baseline = pytester.path / "baselines" / "baseline.json"
    baseline.parent.mkdir()
    baseline.write_text(_stored_without_skips(hidden[1]))
    before = baseline.read_bytes()
    monkeypatch.setenv("PATH", _javaless_path(tmp_path_factory.mktemp("bin")))  # the subprocess inherits it
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)

    result = pytester.runpytest_subprocess("--mm-gate", "-p", "no:cacheprovider", "-rs", "-n", "2")
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    result.assert_outcomes(passed=1, skipped=4)  # the skips reached the xdist workers in the run's JSON
    lines = result.stdout.lines
    for check_id in SKIPPED_IDS:
        assert any(line.startswith(f"SKIPPED [1] thresholds.yaml: {check_id}: Java is required for the PTB "
                                   "tokenizer of the captioning metrics (BLEU, CIDEr-D, ROUGE-L, METEOR; "
                                   "pycocoevalcap); install a JRE") for line in lines), check_id
    result.stdout.fnmatch_lines(["*skipped: tiny::bleu4 (2 checks): Java is required*"])
    assert "⏭️ **tiny::meteor** skipped" in (pytester.path / "report.md").read_text()

    update = pytester.runpytest_subprocess("--mm-gate", "-p", "no:cacheprovider", "--mm-update-baseline")
    assert update.ret == pytest.ExitCode.USAGE_ERROR  # a refused update is exit 4 on both faces
    update.assert_outcomes(passed=1, skipped=4)
    update.stdout.fnmatch_lines(["mm-gate: baseline not updated: 2 metric(s) skipped, not computed (bleu4 on "
                                 "golden/tiny, meteor on golden/tiny: Java is required*"])
    assert baseline.read_bytes() == before


def test_any_other_java_failure_still_fails_loudly(tmp_path: Path, captioner_dir: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from qa_gate.pipeline import prepare, score

    thresholds = _build(tmp_path, captioner_dir)
    bin_dir = Path(_javaless_path(tmp_path / "bin"))
    (bin_dir / "java").write_text("#!/bin/sh\necho 'broken JRE' >&2\nexit 3\n")
    (bin_dir / "java").chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    with pytest.raises(RuntimeError, match=r"the PTB tokenizer failed \(exit 3\): broken JRE"):
        score(prepare(thresholds))


@pytest.mark.skipif(not JAVA, reason="scoring METEOR needs Java")
def test_with_java_the_same_project_scores_every_metric(tmp_path: Path, captioner_dir: Path) -> None:
    from qa_gate.pipeline import judge, prepare, record_baseline, score
    from qa_gate.verdict.checks import Status

    prepared = prepare(_build(tmp_path, captioner_dir))
    run = score(prepared)
    suite = run.suite("tiny")
    assert not suite.skipped and set(suite.metrics) == {"bleu4", "meteor", "wer"}
    assert np.isfinite(suite.metrics["meteor"].value) and suite.metrics["meteor"].stats.shape == (6, 25)
    verdict = judge(prepared, run)
    assert verdict.passed and not verdict.skipped
    assert {c.status for c in verdict.checks} <= {Status.PASS, Status.NO_BASELINE}
    record_baseline(prepared.config, verdict)
    assert "skipped" not in json.loads(prepared.config.baseline_path.read_text())["suites"]["tiny"]


def test_a_skipped_metric_survives_the_run_json() -> None:
    from qa_gate.baseline.run_json import dumps, run_from_json, run_to_json
    from qa_gate.errors import BaselineError
    from qa_gate.results import (
        CheckpointInfo,
        MetricResult,
        RunResult,
        SampleInfo,
        SuiteResult,
    )

    metric = MetricResult("clipscore", 0.5, True, "fp", {"metric": "clipscore"}, np.array([[0.4], [0.6]]), (0.4, 0.6))
    reason = "Java is required for METEOR; install a JRE (no 'java' found on PATH)"
    suite = SuiteResult("tiny", "golden/tiny", "sfp", (SampleInfo("a", "x"), SampleInfo("b", "y")),
                        {"clipscore": metric}, {"meteor": reason})
    run = RunResult(CheckpointInfo("transformers", "ckpt", "0" * 64, "m"), {"python": "3"}, (suite,), "2024-01-01")
    data = json.loads(json.dumps(run_to_json(run)))
    assert data["suites"]["tiny"]["skipped"] == {"meteor": reason}
    back = run_from_json(data, "test").suite("tiny")
    assert dict(back.skipped) == {"meteor": reason} and set(back.metrics) == {"clipscore"}
    assert [(s.name, m, r) for s, m, r in run_from_json(data, "test").skipped()] == [("tiny", "meteor", reason)]

    del data["suites"]["tiny"]["skipped"]  # a file from before skips existed
    assert dict(run_from_json(data, "old").suite("tiny").skipped) == {}
    plain = replace(run, suites=(replace(suite, skipped=MappingProxyType({})),))
    assert '"skipped"' not in dumps(plain)  # such files are written as before
    data["suites"]["tiny"]["skipped"] = ["meteor"]
    with pytest.raises(BaselineError, match="malformed baseline .*'skipped' must map metric names to reasons"):
        run_from_json(data, "bad")


def test_a_signoff_with_a_skipped_metric_is_refused_and_leaves_nothing(
        tmp_path: Path, captioner_dir: Path, no_java: None, monkeypatch: pytest.MonkeyPatch) -> None:
    import git

    from qa_gate.signoff import SignoffError, sign_off

    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.delenv("GITHUB_BASE_REF", raising=False)
    thresholds = _build(tmp_path, captioner_dir)
    monkeypatch.chdir(tmp_path)
    repo = git.Repo.init(tmp_path, initial_branch="main")
    repo.git.config("user.name", "Release Bot")
    repo.git.config("user.email", "release@example.com")
    (tmp_path / ".gitignore").write_text("report.md\n")
    repo.git.add(A=True)
    repo.git.commit("-m", "project")
    head = repo.head.commit.hexsha
    with pytest.raises(SignoffError, match=r"sign-off of v1 refused: metrics were skipped, not computed "
                                           r"\(tiny::bleu4: Java is required"):
        sign_off(thresholds, "v1")
    assert repo.head.commit.hexsha == head and not repo.tags and not (tmp_path / "signoffs").exists()


def test_generated_captions_are_scored_by_the_scorer_without_java(
        tmp_path: Path, captioner_dir: Path, tiny_open_clip: Path, no_java: None) -> None:
    from qa_gate.pipeline import prepare, score

    _build(tmp_path, captioner_dir)
    metrics = {"bleu4": METRICS["bleu4"], "meteor": METRICS["meteor"],
               "clipscore": {"caption": "generated", "min": 0.0}}
    thresholds = _thresholds(tmp_path, metrics, scorer={"adapter": "open_clip", "checkpoint": tiny_open_clip})
    suite = score(prepare(thresholds)).suites[0]
    assert set(suite.skipped) == {"bleu4", "meteor"}
    assert math.isfinite(suite.metrics["clipscore"].value)
