"""The shadow sections of a report: disagreements worst first with both outputs, per-slice agreement, thumbnails;
and the outputs that changed since the baseline, most moved first, even when every aggregate holds."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pytest
from PIL import Image
from support.markdown import table_cells, table_rows, unescape
from support.runs import HOSTILE, build_run
from support.shadow import floors_config, shadow_run

from qa_gate.report import render_html, render_markdown
from qa_gate.report.disagreements import MAX_DISAGREEMENTS
from qa_gate.report.output_diffs import MAX_OUTPUT_CHANGES, edit_distance, output_changes
from qa_gate.results import CheckpointInfo, SampleInfo
from qa_gate.verdict.gate import evaluate

TAGS = [{"locale": "en-US"}, {"locale": "ja-JP"}, {"locale": "ja-JP"}, {"locale": "en-US"}, {"locale": "de-DE"}]
ANSWERS = [("red", "red"), ("blue", "red"), ("Two", "2"), ("circle", "square"), ("green", "green")]
AGREE = [1.0, 0.0, 1.0, 0.0, 1.0]


def _tables(markdown: str, heading: str) -> list[list[list[str]]]:
    """Every table under ``heading`` (until the next heading): its data rows, cells unescaped."""
    lines = markdown.splitlines()
    tables: list[list[list[str]]] = []
    previous = ""
    for line in lines[lines.index(heading) + 1:]:
        if line.startswith("#"):
            break
        if line.startswith("|") and not previous.startswith("|"):
            tables.append([])
        if line.startswith("|"):
            tables[-1].append([unescape(c) for c in table_cells(line)])
        previous = line
    return [table[2:] for table in tables]


def _answers_verdict(floor: float = 0.97):
    run = shadow_run({"answer_agreement": (AGREE, True)}, {"answer_agreement": ANSWERS}, TAGS)
    return evaluate(run, None, floors_config(run, {"answer_agreement": floor}), "file:baseline.json")


def test_disagreeing_samples_are_listed_with_both_outputs_and_slices_worst_first() -> None:
    verdict = _answers_verdict()
    assert not verdict.passed
    markdown = render_markdown(verdict)
    heading = "#### Shadow: answer\\_agreement against production, disagreements worst first"
    rows, slices = _tables(markdown, heading)
    # "Two" vs "2" agree after the VQA normalisation: only s1 and s3 disagree, in sample order at equal value
    assert [r[:5] for r in rows] == [["`s1`", "question 1", "blue", "red", "0.0000"],
                                     ["`s3`", "question 3", "circle", "square", "0.0000"]]
    assert "2 of 5 samples disagree" in markdown
    # per locale: the mean of the per-sample values, worst first (hand computed)
    assert [(r[0], r[1], r[2], r[3]) for r in slices] == [("locale=en-US", "2", "1", "0.5000"),
                                                          ("locale=ja-JP", "2", "1", "0.5000"),
                                                          ("locale=de-DE", "1", "0", "1.0000")]


def test_every_sample_agreeing_says_so() -> None:
    run = shadow_run({"answer_agreement": ([1.0] * 5, True)}, {"answer_agreement": [("red", "red")] * 5}, TAGS)
    verdict = evaluate(run, None, floors_config(run, {"answer_agreement": 0.97}), "file:baseline.json")
    assert verdict.passed
    assert "_Every sample agrees with production._" in render_markdown(verdict)


def test_lower_is_better_text_agreement_lists_the_highest_cer_first_and_caps_the_rows() -> None:
    n = MAX_DISAGREEMENTS + 3
    cer = [0.1 * (i % 7) for i in range(n)]
    pairs = [(f"text {i}", "text" if cer[i] else f"text {i}") for i in range(n)]
    stats = np.column_stack([np.array(cer) * 10, np.full(n, 10.0)])  # [errors, production length]
    run = shadow_run({"text_agreement": (cer, False)}, {"text_agreement": pairs}, [{"device": "ios"}] * n,
                     stats={"text_agreement": stats})
    verdict = evaluate(run, None, floors_config(run, {"text_agreement": 0.05}), "file:baseline.json")
    markdown = render_markdown(verdict)
    rows = table_rows(markdown, "#### Shadow: text\\_agreement against production, disagreements worst first")
    shown = [float(r[4]) for r in rows[:MAX_DISAGREEMENTS]]
    expected = sorted((v for v in cer if v > 0), reverse=True)[:MAX_DISAGREEMENTS]
    assert shown == pytest.approx(expected, abs=1e-4)
    assert f"… and {sum(v > 0 for v in cer) - MAX_DISAGREEMENTS} more samples disagree." in markdown
    assert "(lower is better)" in markdown


def test_micro_label_agreement_slices_are_ratios_of_sums() -> None:
    inter, union = np.array([1.0, 0.0, 2.0, 1.0]), np.array([2.0, 1.0, 2.0, 3.0])
    per = list(inter / union)
    tags = [{"category": "a"}, {"category": "a"}, {"category": "b"}, {"category": "b"}]
    pairs = [("red, circle", "red"), ("(none)", "blue"), ("red, square", "red, square"), ("blue", "blue, x, y")]
    run = shadow_run({"label_agreement_micro": (per, True)}, {"label_agreement_micro": pairs}, tags,
                     stats={"label_agreement_micro": np.column_stack([inter, union])})
    verdict = evaluate(run, None, floors_config(run, {"label_agreement_micro": 0.5}), "file:baseline.json")
    _, rows = _tables(render_markdown(verdict),
                      "#### Shadow: label\\_agreement\\_micro against production, disagreements worst first")
    slices = {r[0]: r[3] for r in rows}
    assert slices == {"category=a": f"{1 / 3:.4f}", "category=b": f"{3 / 5:.4f}"}


def test_identical_short_captions_agree_under_bleu4() -> None:
    from qa_gate.metrics.text import bleu_from_totals
    from qa_gate.report.disagreements import agreement_table

    pairs = [("a red circle", "a red circle"), ("a blue square", "a blue box"), ("two cats", "two  cats")]
    stats = np.array([[3, 2, 1, 0, 3, 2, 1, 0, 3, 3],  # n-grams correct, guessed, lengths
                      [2, 1, 0, 0, 3, 2, 1, 0, 3, 3],
                      [2, 1, 0, 0, 2, 1, 0, 0, 2, 2]], dtype=np.float64)
    values = [float(v) for v in bleu_from_totals(stats, 4)]
    assert values[0] < 0.5  # equal captions without a 4-gram: a sample's own BLEU-4 is far below 1
    tags = [{"device": "ios"}, {"device": "web"}, {"device": "web"}]
    run = shadow_run({"caption_agreement_bleu4": (values, True)}, {"caption_agreement_bleu4": pairs}, tags,
                     stats={"caption_agreement_bleu4": stats})
    table = agreement_table(run.suites[0], "caption_agreement_bleu4")
    assert table is not None and table.disagree == 1 and [r.sample_id for r in table.rows] == ["s1"]


def test_html_shows_the_disagreements_with_thumbnails_and_escapes_outputs(tmp_path: Path) -> None:
    pairs = [*ANSWERS]
    pairs[1] = (HOSTILE, "red")
    run = shadow_run({"answer_agreement": (AGREE, True)}, {"answer_agreement": pairs}, TAGS)
    verdict = evaluate(run, None, floors_config(run, {"answer_agreement": 0.97}), "file:baseline.json")
    images = {}
    for i in range(5):
        Image.new("RGB", (40, 40), (200, 10 * i, 10)).save(tmp_path / f"s{i}.png")
        images[("traffic", f"s{i}")] = tmp_path / f"s{i}.png"
    html = render_html(verdict, images)
    section = html[html.index("Shadow: answer_agreement"):]
    table = section[:section.index("</table>")]
    assert table.count("data:image/png;base64,") == 2  # s1 and s3, the two that disagree
    assert "<script>" not in html and "&lt;script&gt;" in table
    assert ">square<" in table and ">circle<" in table


# --- outputs that changed since the baseline --------------------------------------------------------------


def _pair(before: list[str], after: list[str], base_values: list[float], values: list[float]):
    checkpoint = CheckpointInfo("open_clip", "ckpt", "d4" * 32, "tiny")
    runs = []
    for outputs, per in ((before, base_values), (after, values)):
        run = build_run({"cider": per}, [f"image {i}" for i in range(len(per))], [{}] * len(per),
                        checkpoint=checkpoint, environment={}, created="now", suite_fp="sfp", metric_fp="mfp")
        suite = run.suites[0]
        samples = tuple(SampleInfo(s.id, s.text, MappingProxyType({}), o) for s, o in zip(suite.samples, outputs))
        runs.append(replace(run, suites=(replace(suite, samples=samples),)))
    return runs[0], runs[1]


def test_changed_outputs_rank_by_metric_move_then_edit_distance_even_when_the_gate_passes() -> None:
    before = ["a red circle", "a blue square", "a green cross", "a red square", "two shapes"]
    after = ["a red circle", "a blue square on a table", "a green crossing", "a red square", "many shapes"]
    base, cand = [1.0, 1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 0.7, 1.0, 1.0]
    baseline, run = _pair(before, after, base, cand)
    verdict = evaluate(run, baseline, floors_config(run, {"cider": 0.1}), "file:baseline.json")
    assert verdict.passed
    rows = output_changes(verdict, run.suites[0])
    # s2 moved its cider by 0.3; s1 (+11 characters) and s4 ("two" → "many": 4 edits) did not move
    assert [r.sample_id for r in rows] == ["s2", "s1", "s4"]
    assert [r.edits for r in rows] == [edit_distance(before[i], after[i]) for i in (2, 1, 4)]
    assert "cider 1.0000 → 0.7000" in rows[0].change and rows[1].change == ""
    markdown = render_markdown(verdict)
    table = table_rows(markdown, "#### Outputs that changed since the baseline, most moved first")
    assert [unescape(c) for c in table[0][:5]] == ["`s2`", "image 2", "a green cross", "a green crossing", "3"]


def test_changed_outputs_are_bounded_per_suite_and_absent_without_a_baseline() -> None:
    n = MAX_OUTPUT_CHANGES + 5
    baseline, run = _pair([f"caption {i}" for i in range(n)], [f"caption {i}!" * (1 + i % 3) for i in range(n)],
                          [1.0] * n, [1.0] * n)
    verdict = evaluate(run, baseline, floors_config(run, {"cider": 0.1}), "file:baseline.json")
    assert len(output_changes(verdict, run.suites[0])) == MAX_OUTPUT_CHANGES
    alone = evaluate(run, None, floors_config(run, {"cider": 0.1}), "file:baseline.json")
    assert output_changes(alone, run.suites[0]) == ()
    assert "Outputs that changed since the baseline" not in render_markdown(alone)


@pytest.mark.parametrize(("a", "b", "distance"), [("", "", 0), ("kitten", "sitting", 3), ("abc", "", 3),
                                                  ("flaw", "lawn", 2)])
def test_edit_distance_is_levenshtein(a: str, b: str, distance: int) -> None:
    assert edit_distance(a, b) == distance == edit_distance(b, a)


def test_html_and_terminal_show_the_changed_outputs(tmp_path: Path) -> None:
    from qa_gate.report.terminal import verdict_lines

    before = ["a red circle", "a blue square", "a green cross"]
    after = ["a red circle", "a blue <b>square</b>", "a green crossing"]
    baseline, run = _pair(before, after, [1.0, 1.0, 1.0], [1.0, 0.9, 1.0])
    verdict = evaluate(run, baseline, floors_config(run, {"cider": 0.1}), "file:baseline.json")
    for i in range(3):
        Image.new("RGB", (20, 20), (10, 80 * i, 10)).save(tmp_path / f"s{i}.png")
    html = render_html(verdict, {("shapes", f"s{i}"): tmp_path / f"s{i}.png" for i in range(3)})
    section = html[html.index("Outputs that changed since the baseline"):]
    table = section[:section.index("</table>")]
    assert table.count("data:image/png;base64,") == 2 and "&lt;b&gt;square&lt;/b&gt;" in table
    lines = [line for line in verdict_lines(verdict) if "output changed" in line]
    assert lines == ["  output changed: shapes/s1: 'a blue square' → 'a blue <b>square</b>' "
                     "(cider 1.0000 → 0.9000 (−0.1000))",
                     "  output changed: shapes/s2: 'a green cross' → 'a green crossing'"]
