"""The Markdown report's view of baseline diffs: changes, drop bounds, slices, flips and trends."""

from __future__ import annotations

import dataclasses
import re

import pytest
from support.markdown import table_rows, unescape
from support.runs import BASE, HOSTILE, RED_SLICE, history, judge, one_metric_run

from qa_gate.config.model import Rule
from qa_gate.report import render_markdown
from qa_gate.report.formatting import format_interval
from qa_gate.report.trend import MAX_POINTS
from qa_gate.report.view import MAX_FLIP_ROWS, report_view
from qa_gate.verdict.checks import Status, Verdict

SUITE = "### golden/shapes"
DROP = re.compile(r"^(\d+\.\d{4})(%?) \[(\d+\.\d{4})%?, (\d+\.\d{4})%?\] @95%$")


@pytest.fixture(scope="module")
def regressed() -> Verdict:
    return judge(slices=(RED_SLICE,))


def check_rows(markdown: str) -> dict[tuple[str, str], list[str]]:
    """Check-table rows by (metric cell, rule cell), both unescaped."""
    return {(unescape(r[0]), unescape(r[1])): r for r in table_rows(markdown, SUITE)}


# -- changes -------------------------------------------------------------------------------------

def test_change_block_comes_right_after_the_title(regressed: Verdict) -> None:
    changes = ("This PR changes the baseline baselines/baseline.json: shapes/clipscore 0.8000 → 0.6717.",
               "This PR changes the golden suite golden/shapes: fingerprint 0ld5 → 5f1e; files: a.png.")
    lines = render_markdown(dataclasses.replace(regressed, changes=changes)).splitlines()
    assert lines[0].startswith("## mm-gate: ❌ FAILED")
    assert lines[1] == ""
    assert lines[2] == "> [!WARNING]"
    bullets = [line for line in lines[3:] if line.startswith("> - ")]
    assert len(bullets) == 2
    assert all(line.startswith(">") for line in lines[2:lines.index(bullets[-1]) + 1])
    assert unescape(bullets[0][4:]) == changes[0].replace("&", "&amp;")
    assert "golden/shapes: fingerprint 0ld5 → 5f1e" in bullets[1]
    assert lines[lines.index(bullets[-1]) + 1] == ""


def test_change_lines_are_escaped(regressed: Verdict) -> None:
    md = render_markdown(dataclasses.replace(regressed, changes=(HOSTILE,)))
    block = md.split("**Checkpoint:**")[0]
    assert "<script>" not in block and "@octocat" not in block and "#12" not in block
    assert sum(line.startswith("> - ") for line in block.splitlines()) == 1  # the newline did not split it


def test_no_change_block_without_changes(regressed: Verdict) -> None:
    md = render_markdown(regressed)
    assert "[!WARNING]" not in md
    assert md.splitlines()[2].startswith("**Checkpoint:**")


# -- checks: drop bounds, detectable, slice checks, too-small notes --------------------------------

def test_regression_rows_show_drop_bounds_and_detectable(regressed: Verdict) -> None:
    rows = check_rows(render_markdown(regressed))
    for check in regressed.checks:
        metric = f"clipscore [{check.slice}]" if check.slice else "clipscore"
        rule = {"min": "min ≥ 0.6", "max_drop": "max_drop 0.02 (significant)",
                "max_drop_pct": "max_drop_pct 3% (strict)"}[check.rule.kind]
        cells = rows[(metric, rule)]
        assert len(cells) == 8
        drop, detectable = unescape(cells[5]), unescape(cells[6])
        if check.rule.is_floor:
            assert (drop, detectable) == ("—", "—")
            continue
        est = check.estimate
        assert est is not None
        unit = "%" if check.rule.kind == "max_drop_pct" else ""
        match = DROP.match(drop)
        assert match, drop
        assert match.group(2) == unit and drop.count("%") == (4 if unit else 1)
        assert [float(match.group(i)) for i in (1, 3, 4)] == pytest.approx(
            [est.drop, est.low, est.high], abs=5e-5)
        assert detectable == f"{est.min_detectable:.4f}{unit}"


def test_failing_rows_come_first(regressed: Verdict) -> None:
    statuses = [r[-1] for r in table_rows(render_markdown(regressed), SUITE)]
    assert statuses == sorted(statuses, key=lambda s: "fail" not in s)
    assert statuses[-1] == "✅ pass"


def test_slice_checks_appear_in_the_suites_table(regressed: Verdict) -> None:
    md = render_markdown(regressed)
    rows = [r for r in table_rows(md, SUITE) if r[0] == "clipscore \\[colour=red\\]"]
    assert len(rows) == 1
    assert rows[0][1] == "max\\_drop 0.02 (significant)" and rows[0][-1] == "❌ fail"
    assert rows[0][3] == "0.5250"  # the slice's value, not the suite's


def test_regression_rows_without_baseline_show_dashes() -> None:
    md = render_markdown(judge(baseline=None))
    for cells in table_rows(md, SUITE):
        assert cells[5] == "—" and cells[6] == "—"
    assert "too small to protect" not in md


def too_small_notes(markdown: str) -> list[str]:
    return [line for line in markdown.splitlines() if "is too small to protect" in line]


def passing(verdict: Verdict) -> Verdict:
    """The same numbers, every check passing (as when a noisy suite hides a drop)."""
    checks = tuple(dataclasses.replace(c, status=Status.PASS) for c in verdict.checks)
    return dataclasses.replace(verdict, checks=checks, passed=True)


def test_no_too_small_note_for_a_check_that_caught_its_drop(regressed: Verdict) -> None:
    failed = [c for c in regressed.checks if c.status.failed and c.estimate is not None]
    assert failed and all(c.estimate.min_detectable > 2 * c.rule.value for c in failed)
    assert not any(c.metric in n and "n=6" in n for n in too_small_notes(render_markdown(regressed))
                   for c in failed if c.slice is None)


def test_too_small_note_under_the_table(regressed: Verdict) -> None:
    regressed = passing(regressed)
    md = render_markdown(regressed)
    notes = too_small_notes(md)
    expected = [c for c in regressed.checks
                if c.estimate is not None and c.estimate.min_detectable > 2 * c.rule.value]
    assert len(notes) == len(expected) == 3
    suite_check = next(c for c in expected if c.slice is None and c.rule.kind == "max_drop")
    assert suite_check.estimate is not None
    assert (f"⚠️ golden/shapes is too small to protect clipscore: drops smaller than "
            f"{suite_check.estimate.min_detectable:.4f} are indistinguishable from noise at n=6") in notes
    assert any("colour=red of golden/shapes" in n and "at n=2" in n for n in notes)
    lines = md.splitlines()
    last_row = max(i for i, line in enumerate(lines[:lines.index("#### Slices, worst first")])
                   if line.startswith("|"))
    first_note = lines.index(notes[0])
    assert lines[last_row + 1] == "" and first_note > last_row
    assert all(line.startswith(("|", "⚠️", "")) for line in lines[last_row:first_note])


def test_no_too_small_note_when_the_suite_can_see_the_allowance() -> None:
    verdict = judge(rules=(Rule("max_drop", 0.5), Rule("max_drop_pct", 50.0)))
    assert all(c.estimate is not None and c.estimate.min_detectable <= 2 * c.rule.value for c in verdict.checks)
    assert too_small_notes(render_markdown(verdict)) == []


# -- slices, flips --------------------------------------------------------------------------------

def test_slice_delta_cells_carry_the_interval(regressed: Verdict) -> None:
    rows = table_rows(render_markdown(regressed), "#### Slices, worst first")
    by_name = {s.slice: s for s in regressed.slices}
    assert [unescape(r[0]).removeprefix("⚠️ ").strip("*") for r in rows][0] == "colour=red"
    for cells in rows:
        s = by_name[unescape(cells[0]).removeprefix("⚠️ ").strip("*")]
        assert s.low is not None and s.high is not None and s.confidence == pytest.approx(0.95)
        assert cells[5] == format_interval(s.delta, s.low, s.high)
        assert re.fullmatch(r"[−+]\d\.\d{4} \[[−+]\d\.\d{4}, [−+]\d\.\d{4}\]", cells[5]), cells[5]
    assert rows[0][5] == "−0.2750 [−0.3000, −0.2500]"


def test_slices_without_baseline_have_no_interval() -> None:
    rows = table_rows(render_markdown(judge(baseline=None)), "#### Slices, worst first")
    assert rows and all(r[5] == "—" for r in rows)


FLIPS = "#### Samples that flipped from right to wrong"
HITS = [0.0, 0.0, 1.0, 1.0, 1.0, 1.0]
"""Per-sample 0/1 hits (as recall@1 or zero-shot top-1 give): s0 and s1 went from right to wrong."""


def test_flipped_samples_section() -> None:
    md = render_markdown(judge(candidate=HITS, baseline=[1.0] * 6, rules=(Rule("min", 0.5),)))
    rows = table_rows(md, FLIPS)
    assert [r[0] for r in rows] == ["s0", "s1"]
    assert rows[0] == ["s0", "a red square", "clipscore 1.0000 → 0.0000 (−1.0000)"]
    assert "| Sample | Text | Flipped |" in md


def test_an_aggregate_floor_is_not_applied_to_single_samples(regressed: Verdict) -> None:
    # clipscore's min 0.6 holds for the suite; samples at 0.5 are not "below the floor": no flips section.
    assert regressed.flips  # the gate's own list still applies the floor per sample
    md = render_markdown(regressed)
    assert "Samples that flipped" not in md and "below the floor" not in md


def test_long_flip_lists_are_cut_and_count_samples() -> None:
    verdict = judge(candidate=[0.0] * 30, baseline=[1.0] * 30, texts=[f"caption {i}" for i in range(30)])
    md = render_markdown(verdict)
    assert len(table_rows(md, FLIPS)) == MAX_FLIP_ROWS
    assert f"… and {30 - MAX_FLIP_ROWS} more samples flipped from right to wrong." in md


def test_hostile_captions_stay_escaped_in_every_table() -> None:
    verdict = judge(texts=[HOSTILE] * 6, candidate=HITS, baseline=[1.0] * 6)
    md = render_markdown(verdict)
    assert "<script>" not in md and "@octocat" not in md and "#12" not in md
    for heading, width in (("#### Most regressed samples", 3), (FLIPS, 3)):
        rows = table_rows(md, heading)
        assert rows and all(len(r) == width for r in rows)
        assert all(len(r[1]) < 200 and r[1].endswith("…") for r in rows)
    assert max(len(line) for line in md.splitlines()) < 1200


# -- trend ----------------------------------------------------------------------------------------

def mermaid_blocks(markdown: str) -> list[list[str]]:
    blocks, current = [], None
    for line in markdown.splitlines():
        if line == "```mermaid":
            current = []
        elif line == "```" and current is not None:
            blocks.append(current)
            current = None
        elif current is not None:
            current.append(line)
    return blocks


def parse_chart(block: list[str]) -> tuple[list[str], str, list[float]]:
    assert block[0] == "xychart-beta"
    labels = re.fullmatch(r'\s*x-axis \[(.*)\]', block[1])
    axis = re.fullmatch(r'\s*y-axis "([^"]*)" -?\d+\.\d{4} --> -?\d+\.\d{4}', block[2])
    line = re.fullmatch(r"\s*line \[(.*)\]", block[3])
    assert labels and axis and line, block
    names = re.findall(r'"([^"]*)"', labels.group(1))
    assert labels.group(1) == ", ".join(f'"{n}"' for n in names)
    return names, axis.group(1), [float(v) for v in line.group(1).split(", ")]


def test_trend_is_a_mermaid_xychart(regressed: Verdict) -> None:
    verdict = dataclasses.replace(regressed, history=history([0.70, 0.71, 0.72]))
    md = render_markdown(verdict)
    assert "#### Trend" in md and "```mermaid\nxychart-beta\n" in md
    blocks = mermaid_blocks(md)
    assert len(blocks) == 1 and len(blocks[0]) == 4
    labels, axis, values = parse_chart(blocks[0])
    assert labels == ["c000000", "c000001", "c000002", "this run"]
    assert axis == "clipscore"
    assert values == pytest.approx([0.70, 0.71, 0.72, regressed.run.suites[0].metrics["clipscore"].value], abs=5e-5)


def test_trend_skips_points_without_the_metric_and_keeps_the_last_ten(regressed: Verdict) -> None:
    points = list(history([0.60 + i / 100 for i in range(15)]))
    points[14] = dataclasses.replace(points[14], run=one_metric_run(BASE, metric="other"))
    md = render_markdown(dataclasses.replace(regressed, history=tuple(points)))
    labels, _, values = parse_chart(mermaid_blocks(md)[0])
    assert len(labels) == len(values) == MAX_POINTS
    assert labels[-1] == "this run" and "c00000e" not in labels
    assert labels[0] == f"c{14 - MAX_POINTS + 1:06x}"
    assert values[:-1] == pytest.approx([0.60 + i / 100 for i in range(5, 14)])


def test_trend_labels_are_sanitised(regressed: Verdict) -> None:
    evil = dataclasses.replace(history([0.7])[0], commit='ab"]\n```\n<x> @me|')
    md = render_markdown(dataclasses.replace(regressed, history=(evil,)))
    assert md.count("```") == 2
    labels, _, values = parse_chart(mermaid_blocks(md)[0])
    assert labels == ["ab x me", "this run"] and len(values) == 2
    assert all(re.fullmatch(r"[A-Za-z0-9 ._:-]+", label) for label in labels)


def test_no_trend_without_history(regressed: Verdict) -> None:
    md = render_markdown(regressed)
    assert "Trend" not in md and "mermaid" not in md


def test_markdown_structure_with_every_section(regressed: Verdict) -> None:
    markdown_it = pytest.importorskip("markdown_it")
    verdict = dataclasses.replace(regressed, changes=("x",), history=history([0.7, 0.72]))
    tokens = markdown_it.MarkdownIt("commonmark").enable("table").parse(render_markdown(verdict))
    suite = report_view(verdict).suites[0]
    assert sum(t.type == "table_open" for t in tokens) == 3  # checks, slices, samples (clipscore has no flips)
    rows = sum(t.type == "tr_open" for t in tokens)
    assert rows == 3 + len(verdict.checks) + len(suite.slices) + len(suite.samples)
    fences = [t for t in tokens if t.type == "fence"]
    assert [t.info for t in fences] == ["mermaid"]
    assert tokens[0].type == "heading_open" and tokens[3].type == "blockquote_open"
    links = [c for t in tokens if t.type == "inline" for c in t.children or [] if c.type in ("link_open", "image")]
    assert links == []
