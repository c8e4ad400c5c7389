"""Sample rows read like a review: one row per sample, no noise on a pass, VQA answers beside the humans',
"(none)" for an empty prediction, bar changes first, trends anchored to the rule, warnings that say why."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pytest
from support.markdown import table_rows, unescape
from support.runs import BASE, judge

from qa_gate.config.model import GateConfig, MetricConfig, ModelConfig, Rule, SuiteConfig
from qa_gate.report import render_html, render_markdown
from qa_gate.report.comment import render_comment
from qa_gate.report.terminal import verdict_lines, with_other_tests
from qa_gate.report.trend import rule_anchors, trend
from qa_gate.results import CheckpointInfo, MetricResult, RunResult, SampleInfo, SuiteResult
from qa_gate.verdict.checks import Verdict
from qa_gate.verdict.gate import evaluate


@dataclasses.dataclass(frozen=True)
class Report:
    """What the terminal reads of a pytest test report: its node id."""

    nodeid: str


BAR = ("shapes.clipscore.min: 0.6 → 0.5 (a floor loosened)",)


def _metric(name: str, values: Sequence[float], definition: Mapping[str, object] | None = None) -> MetricResult:
    stats = np.asarray(values, dtype=np.float64).reshape(-1, 1)
    return MetricResult(name, float(stats.mean()), True, f"fp-{name}", dict(definition or {"metric": name}), stats,
                        tuple(float(v) for v in values))


def _run(name: str, metrics: Mapping[str, MetricResult], texts: Sequence[str],
         outputs: Sequence[str | None] | None = None) -> RunResult:
    samples = tuple(SampleInfo(f"s{i}", text, MappingProxyType({}), None if outputs is None else outputs[i])
                    for i, text in enumerate(texts))
    suite = SuiteResult(name, f"golden/{name}", "fp", samples, MappingProxyType(dict(metrics)))
    return RunResult(CheckpointInfo("open_clip", "ckpt", "a1" * 32, "tiny"), MappingProxyType({}), (suite,), "now")


def _gate(candidate: RunResult, baseline: RunResult, rules: Mapping[str, Sequence[Rule]]) -> Verdict:
    suite = candidate.suites[0]
    config = GateConfig(Path("thresholds.yaml"), 1, ModelConfig("open_clip", "ckpt"),
                        (SuiteConfig(suite.name, Path(suite.label), suite.label,
                                     tuple(MetricConfig(m, rules=tuple(r)) for m, r in rules.items())),),
                        Path("baseline.json"), None, resamples=200)
    return evaluate(candidate, baseline, config, "file:baseline.json")


def test_each_sample_is_one_row_with_all_its_metric_changes() -> None:
    texts = ["a red square", "a blue circle", "a green cross"]
    base = _run("shapes", {"clipscore": _metric("clipscore", [2.0, 2.0, 2.0]),
                           "cosine": _metric("cosine", [0.8, 0.8, 0.8])}, texts)
    cand = _run("shapes", {"clipscore": _metric("clipscore", [1.0, 1.9, 2.0]),
                           "cosine": _metric("cosine", [0.4, 0.8, 0.7])}, texts)
    md = render_markdown(_gate(cand, base, {"clipscore": [Rule("min", 1.5)], "cosine": [Rule("min", 0.5)]}))
    rows = table_rows(md, "#### Most regressed samples")
    assert [r[0] for r in rows] == ["s0", "s1", "s2"]  # each once, though s0 regressed on both metrics
    assert unescape(rows[0][2]) == "clipscore 2.0000 → 1.0000 (−1.0000); cosine 0.8000 → 0.4000 (−0.4000)"
    assert unescape(rows[2][2]) == "cosine 0.8000 → 0.7000 (−0.1000)"  # clipscore did not move on s2


def test_metrics_with_identical_per_sample_values_share_one_entry() -> None:
    # As f1_micro and f1_macro do: both show each sample's own F1, so one entry names both.
    base = _run("tags", {"clipscore": _metric("clipscore", [1.0, 1.0]), "cosine": _metric("cosine", [1.0, 1.0])},
                ["a", "b"], ["red", "blue"])
    cand = _run("tags", {"clipscore": _metric("clipscore", [0.5, 1.0]), "cosine": _metric("cosine", [0.5, 1.0])},
                ["a", "b"], ["", "blue"])
    md = render_markdown(_gate(cand, base, {"clipscore": [Rule("min", 0.0)], "cosine": [Rule("min", 0.0)]}))
    rows = table_rows(md, "#### Most regressed samples")
    assert len(rows) == 1
    assert rows[0][2] == "(none)"  # the model's output was empty (a multilabel prediction of no label)
    assert unescape(rows[0][3]) == "clipscore, cosine 1.0000 → 0.5000 (−0.5000)"


def test_vqa_rows_show_question_answer_and_the_most_common_human_answer() -> None:
    definition = {"metric": "vqa_accuracy", "version": 1, "normalisation": "official", "prompt": "{answer}"}
    questions = ["what colour is it?", "what shape is it?"]
    base = _run("vqa", {"vqa_accuracy": _metric("vqa_accuracy", [1.0, 1.0], definition)}, questions, ["red", "circle"])
    cand = _run("vqa", {"vqa_accuracy": _metric("vqa_accuracy", [0.3, 1.0], definition)}, questions, ["blue", "circle"])
    verdict = _gate(cand, base, {"vqa_accuracy": [Rule("min", 0.5)]})
    md = render_markdown(verdict, {("vqa", "s0"): "red"})
    assert "| Sample | Question | Answer | Most common human answer | Baseline → candidate (Δ) |" in md
    rows = table_rows(md, "#### Most regressed samples")
    assert rows == [["s0", "what colour is it?", "blue", "red", "vqa\\_accuracy 1.0000 → 0.3000 (−0.7000)"]]
    flips = table_rows(md, "#### Samples that flipped from right to wrong")  # right = at least 3 humans (≥ 0.9)
    assert [r[0] for r in flips] == ["s0"]
    assert "<td>red</td>" in render_html(verdict, answers={("vqa", "s0"): "red"})


def test_a_pass_lists_nothing_that_did_not_move() -> None:
    tiny = [v - 1e-7 for v in BASE]  # float noise, ±0.0000 at the report's precision
    verdict = judge(candidate=tiny, baseline=BASE)
    assert verdict.passed and verdict.samples  # the gate's list holds the noise …
    md = render_markdown(verdict)
    shown = md.split("<details>")[0]  # every slice stays available, folded
    assert "Most regressed samples" not in md and "| colour=" not in shown  # … the report does not
    assert "_No slice moved beyond noise (3 slices" in shown
    comment = render_comment(verdict)
    assert "Nothing moved beyond noise" in comment and "| colour=" not in comment


def test_bar_changes_come_first_everywhere_and_stay_in_the_comment() -> None:
    verdict = dataclasses.replace(judge(), bar_changes=BAR, changes=("the baseline changed",),
                                  cautions=("model.allow_pickle is on",))
    md = render_markdown(verdict)
    lines = md.splitlines()
    assert lines[2:5] == ["> [!IMPORTANT]", "> **Bar changes (this PR changes what it is judged against):**",
                          "> - shapes.clipscore.min: 0.6 → 0.5 (a floor loosened)"]
    assert md.index("[!IMPORTANT]") < md.index("[!WARNING]") < md.index("[!CAUTION]")
    html = render_html(verdict)
    assert html.index('<section class="bar">') < html.index('<section class="changes">') \
        < html.index('<section class="caution">')
    terminal = list(verdict_lines(verdict))
    assert terminal[1:3] == ["  Bar changes (this PR changes what it is judged against):",
                             "    - shapes.clipscore.min: 0.6 → 0.5 (a floor loosened)"]
    tiny = render_comment(verdict, limit=1)  # every optional section cut: the bar changes stay, unfolded
    assert "> - shapes.clipscore.min: 0.6 → 0.5 (a floor loosened)" in tiny
    assert tiny.index("Bar changes") < tiny.index("Failing checks") and "<details>" not in tiny


def test_the_comment_is_cut_only_between_sections() -> None:
    verdict = judge()
    full = render_comment(verdict)
    assert "left out" not in full and full.count("<details>") == full.count("</details>") >= 2
    cut = render_comment(verdict, limit=len(full) - 1)
    assert len(cut) < len(full) and "the fingerprints and environment left out" in cut
    assert cut.count("<details>") == cut.count("</details>") and cut.count("```") % 2 == 0
    body = cut.split("_the fingerprints")[0]
    assert full.startswith(body.rstrip("\n"))  # what is kept is the full comment's start, cut at a boundary


def test_trend_y_axis_is_anchored_to_the_rule() -> None:
    verdict = judge(candidate=[0.797] * 6, baseline=[0.8] * 6, rules=(Rule("min", 0.6), Rule("max_drop", 0.05)))
    anchors = rule_anchors(verdict.checks)["clipscore"]
    assert anchors == pytest.approx((0.6, 0.75))
    from support.runs import history

    shown = trend(history([0.8, 0.8]), verdict.run.suites[0], "clipscore", anchors=anchors)
    assert shown is not None and shown.low < 0.6 and shown.high > 0.8
    assert shown.mermaid().splitlines()[2] == f'    y-axis "clipscore" {shown.low:.4f} --> {shown.high:.4f}'
    # the −0.003 move spans under 2% of the axis, not all of it
    assert (0.8 - 0.797) / (shown.high - shown.low) < 0.02


def test_retrieval_on_repeated_captions_warns_in_report_and_terminal() -> None:
    texts = ["a red square"] * 3 + ["a blue circle"] * 3 + ["a green cross"]
    metric = {"metric": "i2t_r1", "version": 1, "k": 1}
    base = _run("retrieval", {"i2t_r1": _metric("i2t_r1", [1.0] * 7, metric)}, texts)
    cand = _run("retrieval", {"i2t_r1": _metric("i2t_r1", [0.0] * 6 + [1.0], metric)}, texts)
    verdict = _gate(cand, base, {"i2t_r1": [Rule("min", 0.5)]})
    expected = ("golden/retrieval: 2 texts are each the caption of several images (6 of 7 images; 'a red square' "
                "has 3): the images sharing a text tie for it in retrieval and ties count against the model")
    assert any(line.startswith(f"  warning: {expected}") for line in verdict_lines(verdict))
    assert expected.replace("'", "'") in unescape(render_markdown(verdict))
    assert expected in unescape(render_comment(verdict))


def test_too_small_suites_are_warned_about_in_the_terminal() -> None:
    verdict = judge(candidate=[0.8, 0.9, 0.7, 0.8, 0.85, 0.75], baseline=BASE, rules=(Rule("max_drop", 0.001),))
    assert verdict.passed
    lines = [line for line in verdict_lines(verdict) if line.startswith("  warning: ")]
    assert len(lines) == 1 and lines[0].startswith("  warning: golden/shapes is too small to protect clipscore: "
                                                   "drops smaller than ")
    assert lines[0].endswith(" are indistinguishable from noise at n=6")


def test_a_passing_gate_says_when_other_tests_failed() -> None:
    lines = ["mm-gate verdict: PASSED (0 of 9 checks failed)", "  status ..."]
    mine, check = Report("tests/test_mine.py::test_x"), Report("shapes::clipscore::min")
    assert with_other_tests(lines, {"failed": [mine, check], "passed": [Report("x")]}, [check.nodeid]) == [
        lines[0], "  the gate passed, but 1 other test (not gate checks) failed: pytest exits 1 for them", lines[1]]
    assert with_other_tests(lines, {"failed": [check]}, [check.nodeid]) == lines
    failing = ["mm-gate verdict: FAILED (1 of 9 checks failed)"]
    assert with_other_tests(failing, {"failed": [Report("a")], "error": [Report("b")]}, [])[1] == (
        "  besides the gate's checks, 2 other tests (not gate checks) failed")
