"""render_markdown, write_report, append_step_summary on hand-built verdicts."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pytest

from qa_gate.config.model import (
    GateConfig,
    MetricConfig,
    ModelConfig,
    Rule,
    SuiteConfig,
)
from qa_gate.report import append_step_summary, render_markdown, write_report
from qa_gate.report.formatting import format_delta
from qa_gate.report.view import MAX_SLICE_ROWS, report_view
from qa_gate.results import (
    CheckpointInfo,
    MetricResult,
    RunResult,
    SampleInfo,
    SuiteResult,
)
from qa_gate.verdict.checks import Check, Status, Verdict
from qa_gate.verdict.diffs import SampleDelta, SliceDelta
from qa_gate.verdict.gate import evaluate

COLOURS = ("red", "red", "blue", "blue", "green", "green")
EVIL = "<script>x</script>|@octocat #12\n- `"
TABLE_HEADS = {"| Metric |": 8, "| Slice |": 6, "| Sample |": 3}


def table_cells(row: str) -> list[str]:
    """Split a GFM table row into cells the way GitHub does: ``\\|`` does not split."""
    cells, current, escaped = [], "", False
    for ch in row.strip().removeprefix("|").removesuffix("|") if not row.rstrip().endswith("\\|") \
            else row.strip().removeprefix("|"):
        if escaped or ch == "\\":
            current, escaped = current + ch, not escaped and ch == "\\"
        elif ch == "|":
            cells.append(current)
            current = ""
        else:
            current += ch
    return [*cells, current]


def metric(name: str, values: Sequence[float], fingerprint: str = "m0f1") -> MetricResult:
    stats = np.asarray(values, dtype=np.float64).reshape(-1, 1)
    return MetricResult(name, float(stats.mean()), True, fingerprint,
                        {"metric": name, "prefix": "A photo depicts ", "scale": 2.5}, stats, tuple(values))


def run(values: Sequence[float], sha: str = "a1" * 32, texts: Sequence[str] | None = None,
        label: str = "golden/shapes", created: str = "2025-01-02T03:04:05Z") -> RunResult:
    texts = texts or [f"a {c} square" for c in COLOURS]
    samples = tuple(SampleInfo(f"s{i}", t, MappingProxyType({"colour": c}))
                    for i, (t, c) in enumerate(zip(texts, COLOURS)))
    suite = SuiteResult("shapes", label, "5f1e", samples, {"clipscore": metric("clipscore", values)})
    return RunResult(CheckpointInfo("open_clip", "ckpt/model.safetensors", sha, "ViT-B-32"),
                     MappingProxyType({"torch": "2.5.1", "device": "cpu"}), (suite,), created)


def check(kind: str, limit: float, value: float, base: float | None, status: Status,
          message: str = "") -> Check:
    return Check("shapes", "golden/shapes", "clipscore", Rule(kind, limit), value, base, status,
                 message or f"{kind}: {status.value}")


def slices(cand: RunResult, base: RunResult | None) -> tuple[SliceDelta, ...]:
    out = []
    for colour in sorted(set(COLOURS)):  # alphabetical, as the gate emits them: red comes last
        rows = [i for i, c in enumerate(COLOURS) if c == colour]
        value = float(np.mean([cand.suites[0].metrics["clipscore"].per_sample[i] for i in rows]))
        b = None if base is None else float(np.mean([base.suites[0].metrics["clipscore"].per_sample[i]
                                                     for i in rows]))
        out.append(SliceDelta("shapes", "clipscore", f"colour={colour}", len(rows), value, b, True))
    return tuple(out)


@pytest.fixture
def failing() -> Verdict:
    base = run([0.80, 0.80, 0.80, 0.80, 0.80, 0.80], sha="b2" * 32)
    cand = run([0.50, 0.55, 0.80, 0.81, 0.79, 0.80])
    checks = (check("min", 0.6, 0.675, 0.8, Status.PASS),  # the gate emits the passing rule first
              check("max_drop", 0.02, 0.675, 0.8, Status.FAIL, "max_drop broken: drop 0.1250"))
    samples = (SampleDelta("shapes", "clipscore", "s0", "a red square", 0.50, 0.80),
               SampleDelta("shapes", "clipscore", "s1", "a red square", 0.55, 0.80))
    return Verdict(False, checks, slices(cand, base), samples, (), cand, base, "git:refs/mm-gate/main")


@pytest.fixture
def passing() -> Verdict:
    base = run([0.80] * 6, sha="b2" * 32)
    cand = run([0.80, 0.80, 0.80, 0.81, 0.79, 0.80])
    checks = (check("min", 0.6, 0.8, 0.8, Status.PASS), check("max_drop", 0.02, 0.8, 0.8, Status.PASS))
    return Verdict(True, checks, slices(cand, base), (), (), cand, base, "git:refs/mm-gate/main")


@pytest.fixture
def no_baseline() -> Verdict:
    cand = run([0.70, 0.72, 0.90, 0.91, 0.85, 0.86])
    checks = (check("min", 0.6, 0.8233, None, Status.PASS),
              check("max_drop", 0.02, 0.8233, None, Status.NO_BASELINE, "max_drop: no baseline"))
    note = "No baseline yet: only absolute floors (min/max) were checked."
    return Verdict(True, checks, slices(cand, None), (), (note,), cand, None, None)


def section(markdown: str, heading: str) -> list[str]:
    """The table rows (``| ...``) under ``heading``, up to the next heading."""
    lines = markdown.splitlines()
    start = lines.index(heading)
    rows = []
    for line in lines[start + 1:]:
        if line.startswith(("#", "<details>")):
            break
        if line.startswith("|") and not line.startswith("|---") and not line.startswith("| Metric |") \
                and not line.startswith("| Slice |") and not line.startswith("| Sample |"):
            rows.append(line)
    return rows


def test_passing_header_lines(passing: Verdict) -> None:
    lines = render_markdown(passing).splitlines()
    assert lines[0] == "## mm-gate: ✅ PASSED"
    assert lines[1] == ""
    assert lines[2].startswith("**Checkpoint:** open\\_clip · ViT-B-32 · ckpt/model.safetensors · sha256 `a1a1a1")
    assert lines[2].endswith("**Baseline:** git:refs/mm-gate/main, created 2025-01-02T03:04:05Z")
    assert "Most regressed samples" not in "\n".join(lines)


def test_failing_title_counts_failures(failing: Verdict) -> None:
    assert render_markdown(failing).splitlines()[0] == "## mm-gate: ❌ FAILED — 1 of 2 checks failed"


def test_failed_check_row_comes_before_passing_rows(failing: Verdict) -> None:
    rows = section(render_markdown(failing), "### golden/shapes")
    assert "❌ fail" in rows[0] and "max\\_drop 0.02" in rows[0]
    assert "✅ pass" in rows[1] and "min ≥ 0.6" in rows[1]
    assert [c.strip() for c in table_cells(rows[0])] == [
        "clipscore", "max\\_drop 0.02 (significant)", "0.8000", "0.6750", "−0.1250", "—", "—", "❌ fail"]


def test_failure_message_listed_under_title(failing: Verdict) -> None:
    md = render_markdown(failing)
    head = md.split("### ")[0]
    assert "❌ **shapes::clipscore::max\\_drop**: max\\_drop broken: drop 0.1250" in head


def test_degraded_slice_is_first_and_flagged(failing: Verdict) -> None:
    rows = section(render_markdown(failing), "#### Slices, worst first")
    assert len(rows) == 3
    assert rows[0].startswith("| ⚠️ **colour=red** | clipscore | 2 | 0.8000 | 0.5250 | −0.2750 |")
    assert all("⚠️" not in row for row in rows[1:])


def test_lower_is_better_slices_are_oriented(failing: Verdict) -> None:
    flipped = tuple(SliceDelta(s.suite, s.metric, s.slice, s.n, -s.value, -(s.baseline or 0.0), False)
                    for s in failing.slices)
    verdict = Verdict(False, failing.checks, flipped, (), (), failing.run, failing.baseline)
    rows = section(render_markdown(verdict), "#### Slices, worst first")
    # Value went up from -0.8 to -0.525: worse when lower is better.
    assert "colour=red" in rows[0] and "⚠️" in rows[0]


def test_sample_table(failing: Verdict) -> None:
    rows = section(render_markdown(failing), "#### Most regressed samples")
    assert [c.strip() for c in table_cells(rows[0])] == ["s0", "a red square", "clipscore 0.8000 → 0.5000 (−0.3000)"]
    assert len(rows) == 2


def test_no_baseline_renders_dashes_and_note(no_baseline: Verdict) -> None:
    md = render_markdown(no_baseline)
    assert "**Baseline:** no baseline" in md
    assert "- No baseline yet: only absolute floors (min/max) were checked." in md
    rows = section(md, "### golden/shapes")
    assert "➖ no baseline" in rows[0]  # ordered before the passing check
    cells = [c.strip() for c in table_cells(rows[0])]
    assert cells[2] == "—" and cells[4] == "—"
    slice_rows = section(md, "#### Slices, worst first")
    assert slice_rows[0].startswith("| colour=red | clipscore | 2 | — | 0.7100 | — |")  # lowest value first
    assert "Most regressed samples" not in md


@pytest.fixture
def evil(failing: Verdict) -> Verdict:
    """Every user-provided string of a verdict set to markup that must not survive."""
    m = failing.run.suites[0].metrics["clipscore"]
    evil_metric = MetricResult(EVIL, m.value, True, EVIL, {EVIL: EVIL}, m.stats, m.per_sample)
    suite = SuiteResult(EVIL, EVIL, EVIL, tuple(SampleInfo(EVIL, EVIL, {EVIL: EVIL}) for _ in range(6)),
                        {EVIL: evil_metric})
    cand = RunResult(CheckpointInfo(EVIL, EVIL, EVIL, EVIL), {EVIL: EVIL}, (suite,), EVIL)
    checks = (Check(EVIL, EVIL, EVIL, Rule("min", 0.6), 0.6, 0.8, Status.FAIL, EVIL),
              Check(EVIL, EVIL, EVIL, Rule("max_drop", 0.02), 0.6, 0.8, Status.PASS, EVIL))
    return Verdict(False, checks, (SliceDelta(EVIL, EVIL, EVIL, 6, 0.5, 0.8, True),),
                   (SampleDelta(EVIL, EVIL, EVIL, EVIL, 0.5, 0.8),), (EVIL,), cand, failing.baseline, EVIL)


def test_user_text_everywhere_is_escaped(evil: Verdict) -> None:
    md = render_markdown(evil)
    assert "<script>" not in md and "@octocat" not in md and "#12" not in md
    width = 0
    for line in md.splitlines():
        width = next((w for head, w in TABLE_HEADS.items() if line.startswith(head)), width)
        if line.startswith("|"):
            assert len(table_cells(line)) == width, line
        else:
            width = 0
    assert md.count("<details>") == 1 and md.count("</details>") == 1


@pytest.mark.parametrize("name", ["failing", "passing", "no_baseline", "evil"])
def test_tables_start_after_a_blank_line(name: str, request: pytest.FixtureRequest) -> None:
    lines = render_markdown(request.getfixturevalue(name)).splitlines()
    heads = [i for i, line in enumerate(lines) if any(line.startswith(h) for h in TABLE_HEADS)]
    assert heads and all(lines[i - 1] == "" for i in heads)


@pytest.mark.parametrize("name", ["failing", "no_baseline", "evil"])
def test_markdown_parser_sees_the_intended_structure(name: str, request: pytest.FixtureRequest) -> None:
    markdown_it = pytest.importorskip("markdown_it")
    verdict = request.getfixturevalue(name)
    tokens = markdown_it.MarkdownIt("commonmark").enable("table").parse(render_markdown(verdict))
    tables = [t for t in tokens if t.type == "table_open"]
    suite = report_view(verdict).suites[0]
    expected = 1 + (suite.slices != ()) + (suite.samples != ())  # checks, slices, samples
    assert len(tables) == expected
    rows = [t for t in tokens if t.type == "tr_open"]
    assert len(rows) == expected + len(verdict.checks) + len(suite.slices) + len(suite.samples)
    html = [t.content.strip() for t in tokens if t.type == "html_block"]
    html += [c.content for t in tokens if t.type == "inline" for c in t.children or [] if c.type == "html_inline"]
    assert html == ["<details><summary>Fingerprints and environment</summary>", "</details>"]
    links = [c for t in tokens if t.type == "inline" for c in t.children or [] if c.type in ("link_open", "image")]
    assert links == []
    headings = [tokens[i + 1].content for i, t in enumerate(tokens) if t.type == "heading_open"]
    assert len(headings) == 1 + expected  # the title, the suite, its sub-sections


def test_details_list_fingerprints_and_environment(failing: Verdict) -> None:
    md = render_markdown(failing)
    details = md[md.index("<details>"):]
    assert "sha256 `" + "a1" * 32 + "`" in details
    assert "checkpoint sha256 `" + "b2" * 32 + "`" in details
    assert "fingerprint `5f1e`" in details and "fingerprint `m0f1`" in details
    assert 'metric="clipscore", prefix="A photo depicts ", scale=2.5' in details
    assert "  - device: cpu" in details and "  - torch: 2.5.1" in details
    assert details.rstrip().endswith("</details>")


def test_changed_fingerprints_show_the_baseline_one(failing: Verdict) -> None:
    base = failing.baseline
    assert base is not None
    old = base.suites[0]
    changed = SuiteResult(old.name, old.label, "0ld5", old.samples, old.metrics)
    verdict = Verdict(False, failing.checks, (), (), (), failing.run,
                      RunResult(base.checkpoint, base.environment, (changed,), base.created))
    assert "fingerprint `5f1e` (baseline `0ld5`)" in render_markdown(verdict)


def test_long_slice_lists_are_cut_worst_first(failing: Verdict) -> None:
    many = tuple(SliceDelta("shapes", "clipscore", f"shape=s{i}", 1, 0.8 - i / 1000, 0.8, True)
                 for i in range(1, MAX_SLICE_ROWS + 6))
    verdict = Verdict(False, failing.checks, many, (), (), failing.run, failing.baseline)
    md = render_markdown(verdict)
    rows = section(md, "#### Slices, worst first")
    assert len(rows) == MAX_SLICE_ROWS and f"shape=s{MAX_SLICE_ROWS + 5}" in rows[0]
    assert "… and 5 more slices" in md


@pytest.mark.parametrize("status", list(Status))
def test_every_status_renders_with_an_emoji(status: Status, failing: Verdict) -> None:
    checks = (check("max_drop", 0.02, 0.675, 0.8, status, "why"),)
    verdict = Verdict(not status.failed, checks, (), (), (), failing.run, failing.baseline)
    row = section(render_markdown(verdict), "### golden/shapes")[0]
    assert table_cells(row)[-1].strip().endswith(status.value)
    assert not table_cells(row)[-1].strip().startswith(status.value)


def test_renders_a_verdict_from_the_gate(tmp_path: Path) -> None:
    rules = (Rule("min", 0.6), Rule("max_drop", 0.02))
    suite = SuiteConfig("shapes", tmp_path, "golden/shapes", (MetricConfig("clipscore", rules=rules),))
    config = GateConfig(tmp_path / "thresholds.yaml", 1, ModelConfig("open_clip", "ckpt"), (suite,),
                        tmp_path / "baseline", None)
    base = run([0.80] * 6, sha="b2" * 32)
    verdict = evaluate(run([0.50, 0.55, 0.74, 0.75, 0.74, 0.75]), base, config, "file:baseline")
    md = render_markdown(verdict)
    assert md.startswith("## mm-gate: ❌ FAILED — 1 of 2 checks failed\n")
    assert "❌ fail" in section(md, "### golden/shapes")[0]
    assert section(md, "#### Slices, worst first")[0].startswith("| ⚠️ **colour=red** |")
    assert section(md, "#### Most regressed samples")[0].startswith("| s0 | a red square |")


@pytest.mark.parametrize(("value", "text"), [(0.0123, "+0.0123"), (-0.0456, "−0.0456"), (None, "—"),
                                             (0.0, "±0.0000"), (-0.00001, "±0.0000")])
def test_format_delta(value: float | None, text: str) -> None:
    assert format_delta(value) == text


def test_write_report_is_atomic(failing: Verdict, tmp_path: Path) -> None:
    target = tmp_path / "deep" / "dir" / "report.md"
    assert write_report(failing, target) == target
    assert target.read_text(encoding="utf-8") == render_markdown(failing)
    write_report(failing, target)  # replacing an existing report
    assert sorted(p.name for p in target.parent.iterdir()) == ["report.md"]


def test_write_report_leaves_no_temp_file_on_failure(failing: Verdict, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "report.md"
    target.write_text("old", encoding="utf-8")

    def broken_replace(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        write_report(failing, target)
    assert target.read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["report.md"]


def test_append_step_summary_appends(tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    env = {"GITHUB_STEP_SUMMARY": str(summary)}
    assert append_step_summary("## first\n", env) == summary
    assert append_step_summary("## second", env) == summary
    text = summary.read_text(encoding="utf-8")
    assert text.index("## first") < text.index("## second")
    assert "## first\n\n## second" in text


@pytest.mark.parametrize("env", [{}, {"GITHUB_STEP_SUMMARY": ""}])
def test_append_step_summary_without_variable(env: dict[str, str]) -> None:
    assert append_step_summary("## report", env) is None


def test_append_step_summary_respects_githubs_size_limit(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("qa_gate.report.markdown.STEP_SUMMARY_LIMIT", 200)
    summary = tmp_path / "summary.md"
    append_step_summary("\n".join(f"| row {i} |" for i in range(100)), {"GITHUB_STEP_SUMMARY": str(summary)})
    text = summary.read_text(encoding="utf-8")
    assert len(text.encode("utf-8")) <= 200
    assert "Report truncated" in text and "| row 0 |" in text
