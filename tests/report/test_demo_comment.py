"""The demo's PR comment, as the gate writes it beside the Markdown report: short, summary first, cut nowhere."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from support.markdown import table_rows

from qa_gate.config.model import Overrides
from qa_gate.pipeline import Prepared, deliver, judge, prepare, score
from qa_gate.verdict.checks import Verdict

REPO = Path(__file__).resolve().parents[2]
REGRESSED = REPO / "qa_gate" / "demo" / "checkpoints" / "regressed"
FAILING_LIMIT = 12 * 1024  # 28 failing checks, each one row
PASSING_LIMIT = 3.5 * 1024


def _delivered(tmp: Path, checkpoint: Path | None) -> tuple[Prepared, Verdict, str, str]:
    """The demo judged against the committed baseline, delivered as a pull request changing only the
    checkpoint would be: no bar or baseline changes (those depend on the working tree, and come on top)."""
    report = tmp / "mm-gate-report.md"
    overrides = Overrides(checkpoint=None if checkpoint is None else str(checkpoint),
                          baseline_path=str(REPO / "baselines" / "baseline.json"), report_path=str(report))
    prepared = prepare(REPO / "thresholds.yaml", overrides)
    verdict = replace(judge(prepared, score(prepared)), changes=(), bar_changes=())
    delivery = deliver(prepared, verdict, html=None, update_baseline=False)
    assert f"mm-gate: PR comment written to {tmp / 'mm-gate-report.comment.md'}" in delivery.lines
    return prepared, verdict, report.read_text(), (tmp / "mm-gate-report.comment.md").read_text()


@pytest.fixture(scope="module")
def failing(tmp_path_factory: pytest.TempPathFactory) -> tuple[Prepared, Verdict, str, str]:
    return _delivered(tmp_path_factory.mktemp("failing"), REGRESSED)


@pytest.fixture(scope="module")
def passing(tmp_path_factory: pytest.TempPathFactory) -> tuple[Prepared, Verdict, str, str]:
    return _delivered(tmp_path_factory.mktemp("passing"), None)


def test_the_failing_demo_comment_is_short_and_summary_first(failing: tuple[Prepared, Verdict, str, str]) -> None:
    _, verdict, report, comment = failing
    assert len(comment.encode("utf-8")) <= FAILING_LIMIT < len(report.encode("utf-8"))
    assert "left out" not in comment  # nothing had to be cut to get there
    lines = comment.splitlines()
    assert lines[0] == f"## mm-gate: ❌ FAILED — {len(verdict.failures)} of {len(verdict.checks)} checks failed"
    rows = table_rows(comment, "**Failing checks**")
    assert len(rows) == len(verdict.failures) == 28  # every failing check, once
    assert rows[1][:3] == ["shapes::clipscore::max\\_drop", "1.6685", "2.2259"]
    assert rows[1][3].startswith("−0.5574 \\[−0.") and rows[1][4] == "max\\_drop 0.02 (significant)"
    assert comment.count("- ❌ **") == 0  # not a second list of the same failures
    assert len(table_rows(comment, "**Worst slices**")) == 5
    samples = table_rows(comment, "**Most regressed samples**")
    assert len(samples) == 10 and len({(r[0], r[1]) for r in samples}) == 10  # one row per sample
    order = [comment.index(s) for s in ("**Failing checks**", "**Worst slices**", "**Most regressed samples**",
                                        "<summary>Passing checks (5)</summary>", "<summary>Slices that moved",
                                        "<summary>Per-label F1", "<summary>Fingerprints and environment")]
    assert order == sorted(order)
    assert comment.count("<details>") == comment.count("</details>") == 5  # passing, slices, flips, tables, env


def test_vqa_and_multilabel_rows_in_the_demo_comment(failing: tuple[Prepared, Verdict, str, str]) -> None:
    _, _, report, comment = failing
    vqa = [r for r in table_rows(comment, "**Most regressed samples**") if r[0] == "vqa"]
    assert vqa and vqa[0][2] == "what color is the shape?" and vqa[0][3] == "blue (red)"
    vqa_full = table_rows(report, "### golden/vqa")  # the full report: one column each
    assert vqa_full  # the check table is there; the sample table names its columns:
    assert "| Sample | Question | Answer | Most common human answer | Baseline → candidate (Δ) |" in report
    assert "| (none) |" in comment or "| (none) |" in report


def test_the_passing_demo_comment_says_nothing_moved(passing: tuple[Prepared, Verdict, str, str]) -> None:
    _, verdict, report, comment = passing
    assert verdict.passed
    assert len(comment.encode("utf-8")) <= PASSING_LIMIT
    assert comment.startswith("## mm-gate: ✅ PASSED\n")
    assert "Nothing moved beyond noise" in comment and "left out" not in comment
    assert "<summary>Passing checks (33)</summary>" in comment
    assert "Most regressed samples" not in report and "Samples that flipped" not in report
