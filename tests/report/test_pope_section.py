"""The POPE report section: confusion counts and scores over all samples and per ``pope_split``, with the baseline."""

from __future__ import annotations

from types import MappingProxyType

import numpy as np

from qa_gate.report.sections import pope_split_tables
from qa_gate.results import MetricResult, SampleInfo, SuiteResult
from qa_gate.scoring.families import family_of

ROWS = {"tp": [1, 0, 0, 0], "fp": [0, 1, 0, 0], "tn": [0, 0, 1, 0], "fn": [0, 0, 0, 1]}


def _suite(kinds: list[str], splits: list[str], fingerprint: str = "m") -> SuiteResult:
    samples = tuple(SampleInfo(f"s{i}", "Is there a dog in the image?", MappingProxyType({"pope_split": split}))
                    for i, split in enumerate(splits))
    stats = np.array([ROWS[k] for k in kinds], dtype=float)
    metric = MetricResult("pope_f1", 0.0, True, fingerprint, {"metric": "pope_f1"}, stats,
                          tuple(0.0 for _ in kinds))
    return SuiteResult("pope", "golden/pope", "g", samples, MappingProxyType({"pope_f1": metric}))


def test_counts_and_scores_by_split_against_the_baseline() -> None:
    splits = ["random", "random", "random", "adversarial", "adversarial", "adversarial"]
    suite = _suite(["tp", "tn", "fp", "tp", "fn", "fn"], splits)
    base = _suite(["tp", "tn", "tn", "tp", "tp", "fn"], splits)
    (table,) = pope_split_tables(suite, base, ["pope_f1"])
    rows = {row.split: row for row in table.rows}
    assert [row.split for row in table.rows] == ["all", "adversarial", "random"]
    assert rows["all"].counts == (2, 1, 1, 2) and rows["all"].n == 6
    # adversarial: TP 1, FN 2 -> precision 1, recall 1/3, F1 2/(2+2) = 0.5; baseline TP 2, FN 1 -> F1 0.8
    adversarial = rows["adversarial"]
    assert (adversarial.precision, adversarial.recall, adversarial.f1) == ("1.0000", "0.3333", "0.5000")
    assert (adversarial.baseline_f1, adversarial.yes_ratio) == ("0.8000", "0.3333")
    assert adversarial.delta_f1.endswith("0.3000") and table.baseline_note is None
    # random: TP 1, TN 1, FP 1 -> accuracy 2/3, F1 2/(2+1) = 0.6667, yes ratio 2/3
    assert (rows["random"].accuracy, rows["random"].f1, rows["random"].yes_ratio) == ("0.6667", "0.6667", "0.6667")


def test_a_changed_definition_shows_no_baseline() -> None:
    suite = _suite(["tp", "tn"], ["random", "random"])
    (table,) = pope_split_tables(suite, _suite(["tp", "tn"], ["random", "random"], "other"), ["pope_f1"])
    assert table.baseline_note == "the pope_f1 definition changed" and table.rows[0].baseline_f1 == "—"


def test_the_family_asks_for_the_section() -> None:
    assert family_of("pope_accuracy", {"prompt": "a photo of a {object}", "top_k": 1}).section == "pope_splits"
    assert pope_split_tables(_suite(["tp"], ["random"]), None, ["chair_i"]) == ()


def test_the_markdown_and_html_sections_show_every_split() -> None:
    from types import SimpleNamespace

    from qa_gate.report.html import _environment as html_environment
    from qa_gate.report.markdown import markdown_environment

    splits = ["random", "random", "adversarial"]
    tables = pope_split_tables(_suite(["tp", "fp", "fn"], splits), None, ["pope_f1"])
    suite = SimpleNamespace(pope_splits=tables)
    text = markdown_environment().get_template("pope.md.j2").render(suite=suite)
    assert "#### POPE by split" in text
    assert "| adversarial | 1 | 0 | 0 | 0 | 1 | 0.0000 |" in text  # one FN: accuracy 0
    assert "| all | 3 | 1 | 1 | 0 | 1 |" in text
    page = html_environment().get_template("pope.html.j2").render(suite=suite)
    assert page.count("<tr><td>") == 3 and "<td>random</td>" in page
