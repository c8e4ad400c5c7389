"""Per-label F1 and VQA-accuracy-by-type sections, on verdicts from the real gate."""

from __future__ import annotations

import html as html_text
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pytest
from sklearn.metrics import f1_score
from support.markdown import table_rows, unescape
from support.runs import judge

from qa_gate.config.model import (
    GateConfig,
    MetricConfig,
    ModelConfig,
    Rule,
    SuiteConfig,
)
from qa_gate.metrics.base import fingerprint
from qa_gate.metrics.classification import f1, label_counts, sample_f1
from qa_gate.report import render_html, render_markdown
from qa_gate.report.formatting import format_delta
from qa_gate.report.sections import MAX_LABEL_ROWS
from qa_gate.results import (
    CheckpointInfo,
    MetricResult,
    RunResult,
    SampleInfo,
    SuiteResult,
)
from qa_gate.verdict.checks import Verdict
from qa_gate.verdict.gate import evaluate

HOSTILE_LABEL = "a|b <script>x</script> @me #3 *y*"
LABELS = ("cat", "dog", HOSTILE_LABEL, "bird")
TARGETS = np.array([[1, 0, 1, 0], [1, 1, 0, 0], [0, 1, 0, 0], [1, 0, 0, 0],
                    [0, 1, 1, 0], [0, 0, 1, 0], [1, 1, 0, 0], [0, 0, 0, 0]], dtype=float)
CAND_SCORES = np.array([[0.9, 0.2, 0.7, 0.1], [0.6, 0.4, 0.1, 0.0], [0.3, 0.8, 0.6, 0.2], [0.7, 0.1, 0.2, 0.3],
                        [0.2, 0.9, 0.4, 0.1], [0.1, 0.3, 0.8, 0.2], [0.4, 0.7, 0.1, 0.0], [0.55, 0.2, 0.1, 0.1]])
BASE_SCORES = np.array([[0.9, 0.6, 0.3, 0.1], [0.8, 0.4, 0.1, 0.0], [0.3, 0.8, 0.2, 0.2], [0.7, 0.1, 0.2, 0.3],
                        [0.2, 0.9, 0.8, 0.1], [0.1, 0.6, 0.8, 0.6], [0.6, 0.7, 0.1, 0.0], [0.2, 0.2, 0.1, 0.1]])
F1_HEADING = "#### Per-label F1, worst first"
F1_HEAD = "| Label | Support | F1 candidate | F1 baseline | Δ |"

# VQA samples: id, question type, answer type, candidate accuracy, baseline accuracy.
VQA = (("q0", "what color", "other", 1.0, 1.0), ("q1", "what color", "other", 0.3, 0.9),
       ("q2", "is the", "yes/no", 1.0, 1.0), ("q3", "is the", "yes/no", 0.0, 1.0),
       ("q4", "how many", "number", 0.6, 0.6), ("q5", "how many", "number", 0.9, 0.3),
       ("q6", None, "yes/no", 1.0, 0.0))
QT_HEADING = "#### VQA accuracy by question type, worst first"
AT_HEADING = "#### VQA accuracy by answer type, worst first"


def f1_metric(name: str, scores: np.ndarray, threshold: float = 0.5, labels: Sequence[str] = LABELS,
              targets: np.ndarray = TARGETS, version: int = 1) -> MetricResult:
    """A multilabel F1 result as the runner builds it: 3 L + 1 count columns, definition with the labels."""
    ids = [f"s{i}" for i in range(len(targets))]
    counts = label_counts(scores, targets, ids, labels, threshold)
    stats = np.concatenate([counts, np.zeros((len(ids), 1))], axis=1)
    average = name.removeprefix("f1_")
    definition = {"metric": name, "version": version, "average": average, "threshold": threshold,
                  "zero_division": 0.0, "labels": list(labels)}
    return MetricResult(name, float(f1(stats, average)), True, fingerprint(definition), definition, stats,
                        tuple(float(v) for v in sample_f1(stats)))


def vqa_metric(values: Sequence[float], version: int = 1) -> MetricResult:
    stats = np.asarray(values, dtype=np.float64).reshape(-1, 1)
    definition = {"metric": "vqa_accuracy", "version": version, "normalisation": "official"}
    return MetricResult("vqa_accuracy", float(stats.mean()), True, fingerprint(definition), definition, stats,
                        tuple(float(v) for v in values))


def make_run(suites: Sequence[SuiteResult], sha: str = "a1" * 32) -> RunResult:
    return RunResult(CheckpointInfo("custom", "ckpt", sha, "tiny"), MappingProxyType({}), tuple(suites),
                     "2025-01-02T03:04:05Z")


def tags_suite(metrics: Mapping[str, MetricResult], fp: str = "7a65", n: int = len(TARGETS)) -> SuiteResult:
    samples = tuple(SampleInfo(f"s{i}", f"image {i}") for i in range(n))
    return SuiteResult("tags", "golden/tags", fp, samples, MappingProxyType(dict(metrics)))


def vqa_suite(column: int, order: Sequence[int] = range(len(VQA)), fp: str = "9c0a",
              types: Mapping[int, str] | None = None, version: int = 1) -> SuiteResult:
    samples, values = [], []
    for i in order:
        sample_id, qtype, atype, *accuracy = VQA[i]
        qtype = (types or {}).get(i, qtype)
        tags = {"answer_type": atype} | ({"question_type": qtype} if qtype is not None else {})
        samples.append(SampleInfo(sample_id, f"question {sample_id}", MappingProxyType(tags)))
        values.append(accuracy[column])
    return SuiteResult("vqa", "golden/vqa", fp, tuple(samples),
                       MappingProxyType({"vqa_accuracy": vqa_metric(values, version)}))


def gate(candidate: Sequence[SuiteResult], baseline: Sequence[SuiteResult] | None) -> Verdict:
    """The real gate's verdict with a ``min 0`` floor on every metric of every suite."""
    suites = tuple(SuiteConfig(s.name, Path(s.label), s.label,
                               tuple(MetricConfig(m, rules=(Rule("min", 0.0),)) for m in s.metrics))
                   for s in candidate)
    config = GateConfig(Path("thresholds.yaml"), 1, ModelConfig("custom", "ckpt"), suites,
                        Path("baseline.json"), None, resamples=200)
    base = None if baseline is None else make_run(baseline, sha="b2" * 32)
    return evaluate(make_run(candidate), base, config, "file:baseline.json")


def shown(cell: str) -> str:
    """A Markdown cell as GitHub shows it: escapes removed, entities decoded."""
    return html_text.unescape(unescape(cell))


def f1_table(markdown: str, heading: str = F1_HEADING) -> dict[str, list[str]]:
    """Rows of a per-label F1 table keyed by the label as GitHub shows it."""
    return {shown(row[0]): row[1:] for row in table_rows(markdown, heading)}


def sklearn_f1(scores: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    return f1_score(TARGETS, (scores >= threshold).astype(int), average=None, zero_division=0.0)


def test_per_label_f1_matches_sklearn_worst_delta_first() -> None:
    markdown = render_markdown(gate([tags_suite({"f1_macro": f1_metric("f1_macro", CAND_SCORES)})],
                                    [tags_suite({"f1_macro": f1_metric("f1_macro", BASE_SCORES)})]))
    cand, base = sklearn_f1(CAND_SCORES), sklearn_f1(BASE_SCORES)
    rows = table_rows(markdown, F1_HEADING)
    assert [shown(r[0]) for r in rows] == [LABELS[i] for i in np.argsort(cand - base, kind="stable")]
    table = f1_table(markdown)
    for i, label in enumerate(LABELS):
        support, f1_cand, f1_base, delta = table[label]
        assert int(support) == int(TARGETS[:, i].sum())
        assert float(f1_cand) == pytest.approx(cand[i], abs=5e-5)
        assert float(f1_base) == pytest.approx(base[i], abs=5e-5)
        assert delta == format_delta(cand[i] - base[i])
    assert [table[label][3][0] for label in LABELS] == ["−", "+", "−", "±"]  # "bird": no support, 0/0 both times
    assert f"{F1_HEADING}\n\n4 labels · counts of f1\\_macro · threshold=0.5, zero\\_division=0.0\n\n{F1_HEAD}" \
        in markdown


def test_metrics_sharing_a_threshold_share_one_table() -> None:
    metrics = {name: f1_metric(name, CAND_SCORES) for name in ("f1_micro", "f1_macro", "f1_weighted")}
    markdown = render_markdown(gate([tags_suite(metrics)], None))
    assert markdown.count("#### Per-label F1") == 1
    assert "counts of f1\\_micro, f1\\_macro, f1\\_weighted" in markdown
    # No baseline: '—' everywhere, rows by candidate F1, worst first.
    rows = table_rows(markdown, F1_HEADING)
    assert [r[3:] for r in rows] == [["—", "—"]] * len(LABELS)
    assert [float(r[1]) for r in rows] == sorted(float(r[1]) for r in rows)
    assert "no comparable baseline: no baseline" in markdown


def test_a_table_per_distinct_threshold_naming_it() -> None:
    metrics = {"f1_micro": f1_metric("f1_micro", CAND_SCORES, 0.5),
               "f1_macro": f1_metric("f1_macro", CAND_SCORES, 0.7)}
    markdown = render_markdown(gate([tags_suite(metrics)], None))
    for threshold in (0.5, 0.7):
        heading = f"#### Per-label F1 at threshold={threshold}, worst first"
        expected = sklearn_f1(CAND_SCORES, threshold)
        table = f1_table(markdown, heading)
        assert {label: float(table[label][1]) for label in LABELS} == pytest.approx(
            dict(zip(LABELS, expected)), abs=5e-5)
    assert "counts of f1\\_micro · threshold=0.5" in markdown and "counts of f1\\_macro · threshold=0.7" in markdown
    assert sklearn_f1(CAND_SCORES, 0.5).tolist() != sklearn_f1(CAND_SCORES, 0.7).tolist()


@pytest.mark.parametrize(("baseline", "note"), [
    (lambda: tags_suite({"f1_macro": f1_metric("f1_macro", BASE_SCORES, version=2)}),
     "the f1\\_macro definition changed"),
    (lambda: tags_suite({"f1_macro": f1_metric("f1_macro", BASE_SCORES)}, fp="0ther"), "the golden suite changed"),
    (lambda: tags_suite({"f1_micro": f1_metric("f1_micro", BASE_SCORES)}), "the baseline has no f1\\_macro"),
])
def test_incomparable_baseline_shows_dashes(baseline: Callable[[], SuiteResult], note: str) -> None:
    markdown = render_markdown(gate([tags_suite({"f1_macro": f1_metric("f1_macro", CAND_SCORES)})], [baseline()]))
    rows = table_rows(markdown, F1_HEADING)
    assert len(rows) == len(LABELS)
    assert all(r[3:] == ["—", "—"] for r in rows)
    assert f"no comparable baseline: {note}" in markdown


def test_any_metric_of_the_group_can_supply_the_baseline() -> None:
    cand = {name: f1_metric(name, CAND_SCORES) for name in ("f1_micro", "f1_macro")}
    base = {"f1_micro": f1_metric("f1_micro", BASE_SCORES, version=2), "f1_macro": f1_metric("f1_macro", BASE_SCORES)}
    table = f1_table(render_markdown(gate([tags_suite(cand)], [tags_suite(base)])))
    assert float(table["cat"][2]) == pytest.approx(sklearn_f1(BASE_SCORES)[0], abs=5e-5)


def test_equal_deltas_fall_back_to_the_worst_candidate_first() -> None:
    same = tags_suite({"f1_macro": f1_metric("f1_macro", CAND_SCORES)})
    rows = table_rows(render_markdown(gate([same], [same])), F1_HEADING)
    assert {r[4] for r in rows} == {"±0.0000"}
    assert [float(r[2]) for r in rows] == sorted(sklearn_f1(CAND_SCORES).round(4))


def test_labels_missing_from_the_definition_are_numbered() -> None:
    metric = f1_metric("f1_micro", CAND_SCORES)
    definition = {k: v for k, v in metric.definition.items() if k != "labels"}
    bare = MetricResult(metric.name, metric.value, True, fingerprint(definition), definition, metric.stats,
                        metric.per_sample)
    table = f1_table(render_markdown(gate([tags_suite({"f1_micro": bare})], None)))
    assert float(table["label 2"][1]) == pytest.approx(sklearn_f1(CAND_SCORES)[1], abs=5e-5)
    assert sorted(table) == ["label 1", "label 2", "label 3", "label 4"]


def test_rows_are_capped_with_a_count_of_the_rest() -> None:
    rng = np.random.default_rng(3)
    labels = tuple(f"label-{i:02d}" for i in range(MAX_LABEL_ROWS + 7))
    targets = (rng.random((12, len(labels))) < 0.4).astype(float)
    scores = rng.random((12, len(labels)))
    metric = f1_metric("f1_samples", scores, labels=labels, targets=targets)
    markdown = render_markdown(gate([tags_suite({"f1_samples": metric}, n=12)], None))
    assert len(table_rows(markdown, F1_HEADING)) == MAX_LABEL_ROWS
    assert "… and 7 more labels." in markdown
    assert f"{len(labels)} labels · counts of f1\\_samples" in markdown


def test_label_names_are_escaped() -> None:
    verdict = gate([tags_suite({"f1_macro": f1_metric("f1_macro", CAND_SCORES)})],
                   [tags_suite({"f1_macro": f1_metric("f1_macro", BASE_SCORES)})])
    markdown = render_markdown(verdict)
    assert "<script>" not in markdown and "@me" not in markdown
    cell = "a\\|b &lt;script&gt;x&lt;/script&gt; @&#8203;me \\#&#8203;3 \\*y\\*"
    assert any(line.startswith(f"| {cell} |") for line in markdown.splitlines())
    assert all(len(row) == 5 for row in table_rows(markdown, F1_HEADING))
    html = render_html(verdict)
    assert "<script>" not in html
    assert "<td>a|b &lt;script&gt;x&lt;/script&gt; @me #3 *y*</td>" in html


def test_vqa_accuracy_by_question_and_answer_type() -> None:
    # The baseline lists its samples in reverse: matching goes by id, not position.
    markdown = render_markdown(gate([vqa_suite(0)], [vqa_suite(1, order=range(len(VQA) - 1, -1, -1))]))
    assert table_rows(markdown, QT_HEADING) == [
        ["is the", "2", "0.5000", "1.0000", "−0.5000"],
        ["what color", "2", "0.6500", "0.9500", "−0.3000"],
        ["how many", "2", "0.7500", "0.4500", "+0.3000"],
    ]
    assert table_rows(markdown, AT_HEADING) == [
        ["other", "2", "0.6500", "0.9500", "−0.3000"],
        ["yes/no", "3", "0.6667", "0.6667", "±0.0000"],
        ["number", "2", "0.7500", "0.4500", "+0.3000"],
    ]
    assert ("Mean per-sample vqa\\_accuracy per question type (tag `question_type`) · 1 sample without one\n"
            in markdown)
    assert "Mean per-sample vqa\\_accuracy per answer type (tag `answer_type`)\n" in markdown


@pytest.mark.parametrize(("baseline", "note"), [
    (lambda: vqa_suite(1, version=2), "the vqa\\_accuracy definition changed"),
    (lambda: vqa_suite(1, fp="0ther"), "the golden suite changed"),
    (lambda: None, "no baseline"),
])
def test_vqa_without_comparable_baseline_shows_dashes(baseline: Callable[[], SuiteResult | None], note: str) -> None:
    base = baseline()
    markdown = render_markdown(gate([vqa_suite(0)], None if base is None else [base]))
    rows = table_rows(markdown, QT_HEADING)
    assert [r[0] for r in rows] == ["is the", "what color", "how many"]  # by candidate value, worst first
    assert all(r[3:] == ["—", "—"] for r in rows)
    assert f"no comparable baseline: {note}" in markdown


def test_type_names_are_escaped() -> None:
    markdown = render_markdown(gate([vqa_suite(0, types={0: "what | <b>colour</b>", 1: "what | <b>colour</b>"})],
                                    [vqa_suite(1)]))
    rows = table_rows(markdown, QT_HEADING)
    # The baseline's values come from the same sample ids, whatever its own tags say.
    assert ["what \\| &lt;b&gt;colour&lt;/b&gt;", "2", "0.6500", "0.9500", "−0.3000"] in rows
    assert "<b>" not in markdown


def test_sections_follow_the_slices_table_and_precede_the_samples() -> None:
    markdown = render_markdown(gate([vqa_suite(0)], [vqa_suite(1)]))
    order = [markdown.index(h) for h in ("#### Slices, worst first", QT_HEADING, AT_HEADING,
                                         "#### Most regressed samples")]
    assert order == sorted(order)


def test_html_has_the_sections() -> None:
    verdict = gate([tags_suite({"f1_macro": f1_metric("f1_macro", CAND_SCORES)}), vqa_suite(0)],
                   [tags_suite({"f1_macro": f1_metric("f1_macro", BASE_SCORES)}), vqa_suite(1)])
    html = render_html(verdict)
    for heading in ("Per-label F1, worst first", "VQA accuracy by question type, worst first",
                    "VQA accuracy by answer type, worst first"):
        assert f"<h3>{heading}</h3>" in html
    cand, base = sklearn_f1(CAND_SCORES)[1], sklearn_f1(BASE_SCORES)[1]
    assert (f"<tr><td>dog</td><td class=\"num\">4</td><td class=\"num\">{cand:.4f}</td>"
            f"<td class=\"num\">{base:.4f}</td><td class=\"num\">{format_delta(cand - base)}</td></tr>") in html
    assert ("<tr><td>is the</td><td class=\"num\">2</td><td class=\"num\">0.5000</td>"
            "<td class=\"num\">1.0000</td><td class=\"num\">−0.5000</td></tr>") in html
    assert html.index("Slices, worst first") < html.index("VQA accuracy by question type")


def test_other_suites_show_nothing_new() -> None:
    verdict = judge()
    markdown, html = render_markdown(verdict), render_html(verdict)
    for text in (markdown, html):
        assert "Per-label F1" not in text and "VQA accuracy by" not in text
