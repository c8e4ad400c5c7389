"""A branch cannot silently change its own shadow reference: another path or other content is a bar change.

Main holds a thresholds file gating a traffic suite on agreement with ``production.jsonl``; each test is
one change on branch ``pr`` and what the bar-change block then says (a real throwaway repository).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml
from support.gitproject import git

from qa_gate.baseline.resolve import resolve_bar
from qa_gate.config.load import load_config
from qa_gate.config.model import Overrides

ROWS = '{"id": "a", "answer": "red"}\n{"id": "b", "answer": "blue"}\n'
THRESHOLDS = {"version": 1, "model": {"adapter": "open_clip", "checkpoint": "ckpt"},
              "suites": {"traffic": {"shadow": {"reference": "production.jsonl"},
                                     "metrics": {"answer_agreement": {"min": 0.97}}}}}


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Main with the thresholds file and its reference committed; branch ``pr`` checked out."""
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for key in ("GITHUB_BASE_REF", "CI"):
        monkeypatch.delenv(key, raising=False)
    (tmp_path / "thresholds.yaml").write_text(yaml.safe_dump(THRESHOLDS, sort_keys=False))
    (tmp_path / "production.jsonl").write_text(ROWS)
    git(tmp_path, "init", "-q", "-b", "main")
    git(tmp_path, "config", "user.name", "Test"), git(tmp_path, "config", "user.email", "test@example.com")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-qm", "shadow suite")
    git(tmp_path, "checkout", "-qb", "pr")
    return tmp_path


def _bar(root: Path, accept: bool = False):
    overrides = Overrides(accept_bar_change=True if accept else None)
    return resolve_bar(load_config(root / "thresholds.yaml", overrides), overrides)


def test_an_unchanged_reference_is_no_bar_change(repo: Path) -> None:
    assert _bar(repo).lines == ()


def test_edited_production_outputs_are_listed_in_the_bar_change_block(repo: Path) -> None:
    import hashlib

    old = hashlib.sha256(ROWS.encode()).hexdigest()[:12]
    edited = ROWS.replace("blue", "red")
    (repo / "production.jsonl").write_text(edited)
    lines = _bar(repo).lines
    new = hashlib.sha256(edited.encode()).hexdigest()[:12]
    assert "lowers or changes the bar set by the target branch" in lines[0]
    assert (f"suites.traffic.shadow.reference: production.jsonl sha256 {old} → production.jsonl sha256 {new} "
            "(changed: other production outputs; the agreement metrics compare with them)") in lines
    git(repo, "commit", "-qam", "committed on the branch: still a change against main")
    assert any("production.jsonl sha256" in line for line in _bar(repo).lines)


def test_another_reference_path_is_a_bar_change_and_the_target_reference_applies(repo: Path) -> None:
    (repo / "mine.jsonl").write_text(ROWS.replace("blue", "red"))
    data = yaml.safe_load((repo / "thresholds.yaml").read_text())
    data["suites"]["traffic"]["shadow"]["reference"] = "mine.jsonl"
    (repo / "thresholds.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    bar = _bar(repo)
    assert ("suites.traffic.shadow.reference: production.jsonl → mine.jsonl (changed: another production "
            "reference)") in bar.lines
    shadow = bar.config.suites[0].shadow
    assert shadow is not None and shadow.reference == (repo / "production.jsonl").resolve()
    accepted = _bar(repo, accept=True).config.suites[0].shadow
    assert accepted is not None and accepted.reference == (repo / "mine.jsonl").resolve()
