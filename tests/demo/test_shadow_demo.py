"""The demo's shadow example: the regressed checkpoint fails on agreement with the good one's predictions,
the report lists the disagreeing samples; the good checkpoint agrees everywhere and passes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.markdown import table_cells, unescape

from qa_gate.demo.shadow import GOOD, HERE, PRODUCTION, TRAFFIC, build_traffic, production_rows
from qa_gate.golden.suite import HASHES, load_suite


def _gate(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess(
        "--mm-gate", "-p", "no:cacheprovider", f"--mm-thresholds={HERE / 'thresholds.yaml'}", "--mm-device=cpu",
        f"--mm-baseline={pytester.path / 'baseline.json'}", "--mm-report=report.md", "--mm-html=report.html",
        "--mm-no-cache", *args)


def test_regressed_candidate_fails_on_agreement_and_the_report_lists_the_disagreements(
        pytester: pytest.Pytester) -> None:
    result = _gate(pytester)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*traffic::answer_agreement::min*", "*traffic::label_agreement::min*",
                                 "*shadow: traffic answer_agreement *: * of 80 samples disagree with production (*"])
    report = (pytester.path / "report.md").read_text(encoding="utf-8")
    heading = "#### Shadow: answer\\_agreement against production, disagreements worst first"
    assert heading in report
    lines = report.splitlines()
    rows = [[unescape(c) for c in table_cells(line)] for line in lines[lines.index(heading) + 4:]
            if line.startswith("| `")][:3]
    production = {r["id"]: r["answer"] for r in map(json.loads, PRODUCTION.read_text().splitlines())}
    for sample, _, candidate, shown, value in (r[:5] for r in rows):
        assert shown == production[sample.strip("`")] != candidate and value == "0.0000"
    html = (pytester.path / "report.html").read_text(encoding="utf-8")
    assert html.count("data:image/png;base64,") >= len(rows)


def test_the_good_checkpoint_agrees_with_its_own_predictions_and_passes(pytester: pytest.Pytester) -> None:
    result = _gate(pytester, f"--mm-checkpoint={GOOD}")
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    report = (pytester.path / "report.md").read_text(encoding="utf-8")
    assert "answer\\_agreement 1.0000" in report and "0 of 80 samples disagree" in report


def test_the_committed_traffic_suite_and_predictions_are_what_the_builder_writes(tmp_path: Path) -> None:
    built = build_traffic(tmp_path / "traffic")
    assert (built / HASHES).read_text() == (TRAFFIC / HASHES).read_text()
    assert load_suite(TRAFFIC).kind == "traffic"
    committed = [json.loads(line) for line in PRODUCTION.read_text().splitlines()]
    fresh = production_rows(GOOD, TRAFFIC)
    assert [(r["id"], r["answer"], r["labels"]) for r in fresh] == \
        [(r["id"], r["answer"], r["labels"]) for r in committed]
