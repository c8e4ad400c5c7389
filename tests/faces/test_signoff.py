"""`mm-gate signoff`: strict gate, committed record, annotated tag, verification, rollback; real git repos."""

from __future__ import annotations

import json
import os
from pathlib import Path

import git
import pytest
from support.project import build_tiny_project

from qa_gate.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE, main
from qa_gate.files import checkpoint_sha256
from qa_gate.golden.suite import load_suite, write_hashes
from qa_gate.signoff import read_record
from qa_gate.signoff_record import SignoffError

RECORD = "signoffs/v1.2.json"


@pytest.fixture
def repo(tmp_path: Path, tiny_open_clip: Path, monkeypatch: pytest.MonkeyPatch) -> git.Repo:
    """A committed tiny gate project on ``main`` with its own identity; the cwd is its root."""
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for var in ("GITHUB_BASE_REF", "GITHUB_STEP_SUMMARY", *(f"GIT_{who}_{what}" for who in ("AUTHOR", "COMMITTER")
                                                           for what in ("NAME", "EMAIL"))):
        monkeypatch.delenv(var, raising=False)
    root = build_tiny_project(tmp_path / "project", tiny_open_clip)
    (root / ".gitignore").write_text("report.md\n")
    repo = git.Repo.init(root, initial_branch="main")
    repo.git.config("user.name", "Release Bot")
    repo.git.config("user.email", "release@example.com")
    repo.git.add("-A")
    repo.git.commit("-m", "tiny gate project")
    monkeypatch.chdir(root)
    return repo


def _state(repo: git.Repo) -> tuple[str, str, list[str]]:
    return repo.head.commit.hexsha, repo.git.status("--porcelain"), [t.name for t in repo.tags]


def test_refuses_dirty_tree_unborn_and_outside_git(repo: git.Repo, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    root = Path(repo.working_tree_dir or ".")
    (root / "thresholds.yaml").write_text((root / "thresholds.yaml").read_text() + "\n")
    (root / "notes.txt").write_text("draft")
    before = _state(repo)
    assert main(["signoff", "--tag", "v1.2"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "not clean" in err and "thresholds.yaml (modified)" in err and "notes.txt (untracked)" in err
    assert _state(repo) == before and not (root / "signoffs").exists()

    assert main(["signoff", "--tag", "v1.2", "--thresholds", str(tmp_path / "nowhere" / "t.yaml")]) == EXIT_USAGE
    assert "not inside a git work tree" in capsys.readouterr().err
    empty = tmp_path / "empty"
    git.Repo.init(empty)
    assert main(["signoff", "--tag", "v1", "--thresholds", str(empty / "thresholds.yaml")]) == EXIT_USAGE
    assert "no commit yet" in capsys.readouterr().err
    assert main(["signoff", "--tag", "bad..tag"]) == EXIT_USAGE
    assert "not a valid git tag name" in capsys.readouterr().err
    assert main(["signoff", "--verify", "v9"]) == EXIT_USAGE
    assert "no tag 'v9'" in capsys.readouterr().err
    repo.git.stash("-u")
    repo.create_tag("v0", message="not a sign-off")
    assert main(["signoff", "--verify", "v0"]) == EXIT_USAGE
    assert "holds no signoffs/v0.json" in capsys.readouterr().err
    assert main(["signoff", "--tag", "v1.2", "--mode", "significant"]) == EXIT_USAGE
    assert "always runs the gate in strict mode" in capsys.readouterr().err


def test_refuses_without_identity(repo: git.Repo, capsys: pytest.CaptureFixture[str]) -> None:
    repo.git.config("--unset", "user.email")
    assert main(["signoff", "--tag", "v1.2"]) == EXIT_USAGE
    assert "user.email is not set" in capsys.readouterr().err


def test_signoff_then_verify(repo: git.Repo, capsys: pytest.CaptureFixture[str]) -> None:
    root = Path(repo.working_tree_dir or ".")
    start = repo.head.commit.hexsha
    assert main(["signoff", "--tag", "v1.2", "--message", "first release"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "mm-gate verdict: PASSED" in out and RECORD in out and "annotated tag v1.2" in out

    head = repo.head.commit
    assert head.message.startswith("Sign off v1.2") and head.parents[0].hexsha == start
    assert RECORD in [item.path for item in head.tree.traverse()]
    assert repo.git.status("--porcelain") == ""
    tag = repo.tags["v1.2"]
    assert tag.tag is not None and tag.commit == head  # annotated, on the sign-off commit
    sha = checkpoint_sha256(str(root / "ckpt"))
    assert sha in tag.tag.message and "PASSED in strict mode" in tag.tag.message
    assert load_suite(root / "golden" / "tiny").fingerprint in tag.tag.message
    assert "clipscore" in tag.tag.message and "first release" in tag.tag.message

    data = json.loads((root / RECORD).read_text())
    assert data["tag"] == "v1.2" and data["commit"] == start and data["created"].endswith("+00:00")
    assert data["checkpoint"]["sha256"] == sha and data["checkpoint"]["path"] == "ckpt"
    assert data["verdict"]["passed"] and data["verdict"]["mode"] == "strict"
    regressions = [c for c in data["verdict"]["checks"] if c["rule"]["kind"] not in ("min", "max")]
    assert regressions and all(c["rule"]["mode"] == "strict" for c in regressions)
    assert {c["id"] for c in data["verdict"]["checks"]} >= {"tiny::clipscore::min"}
    assert data["suites"]["tiny"] == {"label": "golden/tiny", "samples": 6,
                                      "fingerprint": load_suite(root / "golden" / "tiny").fingerprint}
    assert set(data["metrics"]["tiny"]) == {"clipscore", "refclipscore", "cosine"}
    assert read_record(root / "thresholds.yaml", "v1.2")[0].checkpoint.sha256 == sha

    assert main(["signoff", "--tag", "v1.2"]) == EXIT_USAGE
    assert "already exists" in capsys.readouterr().err
    assert repo.head.commit == head

    assert main(["signoff", "--verify", "v1.2"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "MISMATCH" not in out and "ok        metric tiny/clipscore" in out and "verified" in out

    weights = root / "ckpt" / "open_clip_model.safetensors"
    original = weights.read_bytes()
    flipped = bytearray(original)
    flipped[-4] ^= 0x01  # lowest mantissa byte of the last float32: still loads
    weights.write_bytes(bytes(flipped))
    assert main(["signoff", "--verify", "v1.2"]) == EXIT_FAILED
    out = capsys.readouterr().out
    assert f"MISMATCH  checkpoint ckpt sha256: recorded {sha}, now " in out
    assert "ok        suite tiny" in out and "does NOT verify" in out
    weights.write_bytes(original)

    manifest = root / "golden" / "tiny" / "manifest.yaml"
    manifest.write_text(manifest.read_text().replace("a red square", "a crimson square"))
    write_hashes(root / "golden" / "tiny")
    assert main(["signoff", "--verify", "v1.2", "--no-rescore"]) == EXIT_FAILED
    out = capsys.readouterr().out
    assert "ok        checkpoint ckpt" in out and "MISMATCH  suite tiny (golden/tiny) fingerprint" in out
    assert "metric" not in out


def test_failing_strict_verdict_writes_nothing(repo: git.Repo, capsys: pytest.CaptureFixture[str]) -> None:
    root = Path(repo.working_tree_dir or ".")
    thresholds = root / "thresholds.yaml"
    thresholds.write_text(thresholds.read_text().replace("min: 0.0, max_drop", "min: 2.4, max_drop"))
    repo.git.commit("-am", "raise the floor")
    before = _state(repo)
    assert main(["signoff", "--tag", "v1.2"]) == EXIT_FAILED
    out = capsys.readouterr().out
    assert "FAILED" in out and "tiny::clipscore::min" in out and "sign-off refused" in out
    assert _state(repo) == before and not (root / "signoffs").exists()


def test_rollback_when_tag_creation_fails(repo: git.Repo, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    root = Path(repo.working_tree_dir or ".")
    before = _state(repo)

    def refuse(self: git.Repo, *args: object, **kwargs: object) -> None:
        raise git.GitCommandError(["git", "tag"], 128, stderr="fatal: cannot lock ref 'refs/tags/v1.2'")

    monkeypatch.setattr(git.Repo, "create_tag", refuse)
    assert main(["signoff", "--tag", "v1.2"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "cannot lock ref" in err and "rolled back" in err
    assert _state(repo) == before and not (root / "signoffs").exists()
    with pytest.raises(SignoffError, match="no tag"):
        read_record(root / "thresholds.yaml", "v1.2")
