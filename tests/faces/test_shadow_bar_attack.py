"""A branch that edits its own production outputs is judged in plain sight: the bar-change block says so.

Main holds the tiny project with a second suite gated on agreement with ``production.jsonl``; the
branch ``pr`` rewrites that file (or points the suite at another one) and the real pytest run shows it.
"""

from __future__ import annotations

import json

import pytest
import yaml
from support.gitproject import GATE, git, init_repository
from support.project import TINY_CLIP
from support.shadow import write_rows

from qa_gate.golden.suite import load_suite
from qa_gate.report.terminal import BAR_TITLE


@pytest.fixture
def shadowed(gate_project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """The tiny project plus suite ``shadowed`` (golden/tiny against ``production.jsonl``), committed on main;
    branch ``pr`` checked out."""
    root = gate_project.path
    width = json.loads(TINY_CLIP.read_text())["model_cfg"]["embed_dim"]
    ids = [s.id for s in load_suite(root / "golden" / "tiny").samples]
    write_rows(root / "production.jsonl", [{"id": i, "image_embedding": [1.0] * width} for i in ids])
    data = yaml.safe_load((root / "thresholds.yaml").read_text())
    data["suites"]["shadowed"] = {"path": "golden/tiny", "shadow": {"reference": "production.jsonl"},
                                  "metrics": {"embedding_agreement": {"min": -1.0}}}
    (root / "thresholds.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    init_repository(root, monkeypatch)
    gate_project.runpytest_subprocess(*GATE, "--mm-update-baseline").assert_outcomes(passed=5)
    git(root, "add", "-A")
    git(root, "commit", "-qm", "project, shadow suite and baseline")
    git(root, "checkout", "-qb", "pr")
    return gate_project


def _bar_lines(result: pytest.RunResult) -> list[str]:
    lines = [line.strip() for line in result.outlines]
    if BAR_TITLE + ":" not in lines:
        return []
    block = lines[lines.index(BAR_TITLE + ":") + 1:]
    out = []
    for line in block:
        if not line.startswith("- "):
            break
        out.append(line[2:])
    return out


def test_rewritten_production_outputs_are_a_bar_change(shadowed: pytest.Pytester) -> None:
    root = shadowed.path
    rows = [json.loads(line) for line in (root / "production.jsonl").read_text().splitlines()]
    rows[0]["image_embedding"][0] = -1.0
    write_rows(root / "production.jsonl", rows)
    git(root, "commit", "-qam", "production agrees with me now")
    result = shadowed.runpytest_subprocess(*GATE)
    lines = _bar_lines(result)
    assert any(line.startswith("suites.shadowed.shadow.reference: production.jsonl sha256 ")
               and line.endswith("(changed: other production outputs; the agreement metrics compare with them)")
               for line in lines), lines
    assert "## mm-gate" in (root / "report.md").read_text()
    assert "production.jsonl sha256" in (root / "report.md").read_text()


def test_an_honest_branch_shows_no_shadow_bar_change(shadowed: pytest.Pytester) -> None:
    result = shadowed.runpytest_subprocess(*GATE)
    assert not any("shadow" in line for line in _bar_lines(result))
