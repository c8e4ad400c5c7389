"""A sign-off that proves something: the record holds its rules and results, `--verify` re-judges them, forged
records fail naming what they got wrong, and tags are signed (SSH keys, offline) when git has a key."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import git
import pytest
from support.project import build_tiny_project

import qa_gate
from qa_gate.baseline.file import FileBaselineStore
from qa_gate.baseline.run_json import run_to_json
from qa_gate.cli import EXIT_FAILED, EXIT_OK, main
from qa_gate.config.model import Overrides
from qa_gate.files import checkpoint_sha256
from qa_gate.pipeline import prepare, score
from qa_gate.verdict.record import run_digest

DEMO = Path(qa_gate.__file__).parent / "demo" / "checkpoints"


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> git.Repo:
    """The tiny project on the demo's good checkpoint with its baseline, committed on main; the cwd is its root."""
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    for var in ("GITHUB_BASE_REF", "GITHUB_STEP_SUMMARY", "CI", *(f"GIT_{who}_{what}" for who in ("AUTHOR", "COMMITTER")
                                                                 for what in ("NAME", "EMAIL"))):
        monkeypatch.delenv(var, raising=False)
    root = build_tiny_project(tmp_path / "project", DEMO / "good")
    (root / ".gitignore").write_text("report.md\nreport.comment.md\nmm-gate-verdict.json\n")
    repo = git.Repo.init(root, initial_branch="main")
    repo.git.config("user.name", "Release Bot")
    repo.git.config("user.email", "release@example.com")
    monkeypatch.chdir(root)
    assert main(["baseline", "update"]) == EXIT_OK
    repo.git.add("-A")
    repo.git.commit("-m", "tiny gate project and its baseline")
    capsys.readouterr()
    return repo


def _verify(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(["signoff", "--verify", *args])
    return code, capsys.readouterr().out


def _tag_forgery(repo: git.Repo, tag: str, data: dict[str, Any]) -> None:
    """Commit ``signoffs/<tag>.json`` as written by hand and tag it ``git tag -a`` (unsigned)."""
    path = Path(repo.working_tree_dir or ".") / "signoffs" / f"{tag}.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps({**data, "tag": tag}, indent=1))
    repo.git.add("-A")
    repo.git.commit("-m", f"Sign off {tag}")
    repo.git.tag("-a", tag, "-m", f"Sign off {tag}")


def test_the_record_proves_its_verdict_and_forged_records_fail(repo: git.Repo,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    root = Path(repo.working_tree_dir or ".")
    assert main(["signoff", "--tag", "v1"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "annotated tag v1 created" in out and "unsigned: git has no signing key" in out
    real = json.loads((root / "signoffs" / "v1.json").read_text())
    assert real["version"] == 2 and real["verdict"]["passed"] is True and real["verdict"]["cautions"] == []
    assert real["gate"] == {"mode": "strict", "confidence": 0.95, "resamples": 10000, "seed": 0,
                            "missing_baseline": "warn", "missing_baseline_why": "the default outside CI"}
    drop = next(c for c in real["verdict"]["checks"] if c["id"] == "tiny::clipscore::max_drop")
    assert drop["rule"] == {"kind": "max_drop", "value": 0.01, "mode": "strict", "confidence": 0.95}
    assert drop["status"] == "pass" and drop["estimate"]["high"] <= 0.01
    stored = FileBaselineStore(root / "baselines" / "baseline.json").read()
    assert real["baseline"] == {"source": real["verdict"]["baseline_source"], "path": "baselines/baseline.json",
                                "sha256": run_digest(stored)}
    assert real["results"]["suites"]["tiny"]["metrics"]["clipscore"]["value"] == drop["value"]

    code, out = _verify(capsys, "v1", "--no-rescore")
    assert code == EXIT_OK, out
    assert "warning   tag v1 signature: unsigned: an annotated tag without a signature" in out
    assert "ok        rules: the 4 recorded rules and the gate settings equal the thresholds file at tag v1" in out
    assert "ok        baseline at tag v1 (baselines/baseline.json) sha256" in out
    assert "ok        re-judged on the recorded results: the recorded rules give the recorded outcome on all 4" in out
    code, out = _verify(capsys, "v1", "--no-rescore", "--require-signed")
    assert code == EXIT_FAILED and "MISMATCH  tag v1 signature: unsigned" in out

    # The attack of the issue: the regressed checkpoint and a hand-written record of its real values.
    regressed = score(prepare(root / "thresholds.yaml", Overrides(checkpoint=str(DEMO / "regressed"))))
    shutil.rmtree(root / "ckpt")
    shutil.copytree(DEMO / "regressed", root / "ckpt")
    values = {m.name: {"value": m.value, "fingerprint": m.fingerprint, "definition": dict(m.definition)}
              for m in regressed.suites[0].metrics.values()}
    sha = checkpoint_sha256(str(root / "ckpt"))
    hand = {"format": "qa-gate-signoff", "version": 1, "created": "2026-01-01T00:00:00+00:00", "message": None,
            "commit": repo.head.commit.hexsha, "environment": {}, "metrics": {"tiny": values},
            "checkpoint": {**real["checkpoint"], "sha256": sha}, "suites": real["suites"],
            "verdict": {"passed": True, "mode": "strict", "checks": [
                {**c, "value": values[c["metric"]]["value"]} for c in real["verdict"]["checks"]]}}
    _tag_forgery(repo, "v9", hand)
    code, out = _verify(capsys, "v9")
    assert code == EXIT_FAILED, out
    assert f"ok        checkpoint ckpt sha256: {sha}" in out and "ok        metric tiny/clipscore" in out
    assert "MISMATCH  recorded rules and results: none in this record (written by hand, or by an older" in out

    # The same forgery in this version's format, with the regressed run's real per-sample results.
    forged = {**real, "checkpoint": {**real["checkpoint"], "sha256": sha}, "results": run_to_json(regressed),
              "metrics": {"tiny": values}, "verdict": {**real["verdict"], "checks": hand["verdict"]["checks"]}}
    _tag_forgery(repo, "v10", forged)
    code, out = _verify(capsys, "v10", "--no-rescore")
    assert code == EXIT_FAILED
    assert "MISMATCH  tiny::clipscore::max_drop re-judged on the recorded results: recorded pass (value " in out
    assert ", now fail (value " in out and "ok        rules: " in out

    checks = [{**c, "status": "fail"} if c["id"] == "tiny::clipscore::min" else c for c in real["verdict"]["checks"]]
    _tag_forgery(repo, "v11", {**real, "verdict": {**real["verdict"], "checks": checks}})
    code, out = _verify(capsys, "v11", "--no-rescore")
    assert code == EXIT_FAILED
    assert ("MISMATCH  recorded verdict: check tiny::clipscore::min: recorded passed: True, now the record says "
            "passed, but this check is recorded as fail") in out

    loose = [{**c, "rule": {**c["rule"], "value": 5}} if c["id"] == drop["id"] else c
             for c in real["verdict"]["checks"]]
    _tag_forgery(repo, "v12", {**real, "verdict": {**real["verdict"], "checks": loose},
                               "baseline": {**real["baseline"], "sha256": "0" * 64}})
    code, out = _verify(capsys, "v12", "--no-rescore")
    assert code == EXIT_FAILED
    assert ("MISMATCH  rule tiny::clipscore::max_drop: recorded max_drop 5 (strict, 95%), now thresholds file at "
            "tag v12: max_drop 0.01 (strict, 95%)") in out
    assert f"MISMATCH  baseline at tag v12 (baselines/baseline.json) sha256: recorded {'0' * 64}, now " in out


def _ssh_signing() -> str | None:
    """Why SSH signing cannot be tested here, or None."""
    if shutil.which("ssh-keygen") is None:
        return "ssh-keygen is not installed"
    version = subprocess.run(["git", "--version"], capture_output=True, text=True).stdout.split()[-1]
    major, minor = (int(part) for part in version.split(".")[:2])
    return None if (major, minor) >= (2, 34) else f"git {version} cannot sign with SSH keys (2.34 can)"


@pytest.mark.skipif(_ssh_signing() is not None, reason=str(_ssh_signing()))
def test_a_signing_key_signs_the_tag_and_verify_checks_the_signature(repo: git.Repo, tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    root = Path(repo.working_tree_dir or ".")
    keys = tmp_path / "keys"
    keys.mkdir()
    for name in ("release", "other"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(keys / name)],
                       check=True)
    (keys / "allowed").write_text(f"release@example.com {(keys / 'release.pub').read_text()}")
    (keys / "others").write_text(f"release@example.com {(keys / 'other.pub').read_text()}")
    repo.git.config("gpg.format", "ssh")
    repo.git.config("user.signingkey", str(keys / "release.pub"))
    repo.git.config("gpg.ssh.allowedSignersFile", str(keys / "allowed"))
    thresholds = root / "thresholds.yaml"
    thresholds.write_text(thresholds.read_text().replace("  batch_size: 4", "  batch_size: 4\n  allow_pickle: true"))
    repo.git.commit("-am", "allow pickle")

    assert main(["signoff", "--tag", "v2"]) == EXIT_OK
    assert "signed tag v2 created" in capsys.readouterr().out
    assert "-----BEGIN SSH SIGNATURE-----" in repo.git.cat_file("tag", "v2")
    record = json.loads((root / "signoffs" / "v2.json").read_text())
    assert record["verdict"]["cautions"] and "allow_pickle is on" in record["verdict"]["cautions"][0]
    assert "caution: model.allow_pickle is on" in repo.tags["v2"].tag.message

    code, out = _verify(capsys, "v2", "--no-rescore", "--require-signed")
    assert code == EXIT_OK, out
    assert 'ok        tag v2 signature: signed, good signature (Good "git" signature for release@example.com' in out

    repo.git.config("gpg.ssh.allowedSignersFile", str(keys / "others"))  # the key is not the one trusted here
    code, out = _verify(capsys, "v2", "--no-rescore", "--require-signed")
    assert code == EXIT_FAILED and "MISMATCH  tag v2 signature: signature NOT verified: " in out
    code, out = _verify(capsys, "v2", "--no-rescore")
    assert code == EXIT_OK and "warning   tag v2 signature: signature NOT verified: " in out
