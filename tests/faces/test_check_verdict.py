"""`mm-gate check-verdict` against a PR whose conftest.py rewrites pytest's exit status, in a real git repository
with the demo's good checkpoint on main and its regressed one on the PR branch."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from support.project import build_tiny_project
from support.scripts import INTERRUPTING_ADAPTER

import qa_gate

DEMO = Path(qa_gate.__file__).parent / "demo" / "checkpoints"
GATE = ("--mm-gate", "-p", "no:cacheprovider")
CLI = ("import sys; from qa_gate.cli import main; code = main(sys.argv[1:]); print('torch' in sys.modules); "
       "sys.exit(code)")
"""``mm-gate ARGS`` in a child process that says, last, whether torch was imported."""
SLICE = """\
    slices:
      colour=red:
        clipscore: {min: 0.0}
"""
FORGING_CONFTEST = '''
import json, re
from pathlib import Path

import pytest


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session, exitstatus):
    session.exitstatus = 0  # the PR's own code turns the failed gate green


def pytest_unconfigure(config):  # after the JUnit XML and the verdict file were written: forged copies of both
    text = Path("junit.xml").read_text()
    text = re.sub(r"<failure .*?</failure>", "", text, flags=re.S).replace('failures="2"', 'failures="0"')
    Path("junit-forged.xml").write_text(text)
    verdict = json.loads(Path("mm-gate-verdict.json").read_text())
    verdict["passed"], verdict["counts"]["failed"] = True, 0
    for check in verdict["checks"]:
        check["outcome"], check["status"] = "passed", "pass"
    Path("verdict-forged.json").write_text(json.dumps(verdict))
'''


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, text=True).stdout


def mm_gate(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``mm-gate ARGS`` run in ``root``; its stdout ends with whether torch was imported."""
    return subprocess.run([sys.executable, "-c", CLI, *args], cwd=root, capture_output=True, text=True,
                          timeout=600, env=ENV)


def pytest_in(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``pytest --mm-gate ARGS`` run in ``root`` (its conftest.py included)."""
    return subprocess.run([sys.executable, "-m", "pytest", *GATE, *args], cwd=root, capture_output=True,
                          text=True, timeout=600, env=ENV)


ENV = {k: v for k, v in os.environ.items()
       if k not in ("GITHUB_BASE_REF", "GITHUB_STEP_SUMMARY", "PYTEST_ADDOPTS", "CI", "PYTEST_XDIST_WORKER")}
ENV.update(GIT_CONFIG_GLOBAL=os.devnull, GIT_CONFIG_NOSYSTEM="1")


@pytest.fixture(scope="module")
def main_branch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """main: a tiny project gating the demo's good checkpoint, its baseline committed (and its passing verdict
    file left, ignored, beside it). Each test works in its own clone."""
    ENV["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("cache"))
    root = tmp_path_factory.mktemp("main")
    build_tiny_project(root, DEMO / "good")
    (root / "thresholds.yaml").write_text((root / "thresholds.yaml").read_text() + SLICE)
    (root / ".gitignore").write_text("report.md\nreport.comment.md\nmm-gate-verdict.json\n*.xml\n*-forged.json\n"
                                     "__pycache__/\n")
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.name", "Test"), git(root, "config", "user.email", "test@example.com")
    recorded = pytest_in(root, "--mm-update-baseline")
    assert recorded.returncode == 0, recorded.stdout + recorded.stderr
    git(root, "add", "-A")
    git(root, "commit", "-qm", "project and baseline")
    return root


@pytest.fixture
def clone(main_branch: Path, tmp_path: Path) -> Path:
    root = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(main_branch), str(root))
    git(root, "config", "user.name", "Test"), git(root, "config", "user.email", "test@example.com")
    return root


def test_a_conftest_that_fakes_the_exit_status_is_caught(clone: Path) -> None:
    root = clone
    git(root, "checkout", "-qb", "pr")
    git(root, "rm", "-rq", "ckpt")
    subprocess.run(["cp", "-r", str(DEMO / "regressed"), str(root / "ckpt")], check=True)
    (root / "conftest.py").write_text(FORGING_CONFTEST)
    git(root, "add", "-A")
    git(root, "commit", "-qm", "swap in the regressed checkpoint; tidy conftest")

    result = pytest_in(root, "--junitxml=junit.xml")
    assert "2 failed, 3 passed" in result.stdout
    assert result.returncode == 0  # pytest's exit status is the PR's to rewrite

    cases = {(c.get("classname"), c.get("name")): c for c in ET.parse(root / "junit.xml").iter("testcase")}
    for check_id, names in {"tiny::clipscore::max_drop": ("tiny.clipscore", "max_drop"),
                            "tiny[colour=red]::clipscore::min": ("tiny[colour=red].clipscore", "min")}.items():
        props = {p.get("name"): p.get("value") for p in cases[names].iter("property")}
        assert props == {"mm_gate_check": check_id}  # pytest's testcase names, and the check id as a property
    assert cases[("tiny.clipscore", "max_drop")].find("failure") is not None

    checked = mm_gate(root, "check-verdict", "--junit", "junit.xml")
    assert checked.returncode == 1, checked.stdout + checked.stderr
    out = checked.stdout.splitlines()
    assert out[-1] == "False"  # check-verdict imported no torch (and ran no pytest code)
    assert any(line.startswith("mm-gate check-verdict: verdict FAILED (2 of 5 checks failed") for line in out)
    assert "mm-gate check-verdict: the verdict file agrees with junit.xml (5 gate testcases of 5)" in out
    assert mm_gate(root, "check-verdict").returncode == 1

    forged_junit = mm_gate(root, "check-verdict", "--junit", "junit-forged.xml")
    assert forged_junit.returncode == 1
    failing = [c["id"] for c in json.loads((root / "mm-gate-verdict.json").read_text())["checks"]
               if c["outcome"] == "failed"]
    assert len(failing) == 2
    for check_id in failing:
        assert (f"mm-gate check-verdict: DISAGREE  {check_id}: the verdict says failed, junit-forged.xml says "
                "passed") in forged_junit.stdout

    # The residual: PR code that forges both files wins against check-verdict. The shipped workflow therefore
    # takes its verdict from `mm-gate run`, which runs no conftest.py (only review of the workflow closes the rest).
    both = mm_gate(root, "check-verdict", "--verdict", "verdict-forged.json", "--junit", "junit-forged.xml")
    assert both.returncode == 0, both.stdout
    gate = mm_gate(root, "run")
    assert gate.returncode == 1 and "mm-gate verdict: FAILED" in gate.stdout
    assert mm_gate(root, "check-verdict").returncode == 1


def test_a_run_that_stops_early_leaves_no_pass_behind(main_branch: Path, clone: Path) -> None:
    root = clone
    for name in ("mm-gate-verdict.json", "elsewhere.json"):  # the baseline update's passing verdict
        shutil.copy(main_branch / "mm-gate-verdict.json", root / name)
    passed = mm_gate(root, "check-verdict")
    assert passed.returncode == 0, passed.stdout + passed.stderr
    thresholds = root / "thresholds.yaml"
    text = thresholds.read_text()

    thresholds.write_text(text.replace("version: 1", "version: 9"))
    assert pytest_in(root).returncode == pytest.ExitCode.USAGE_ERROR
    stale = mm_gate(root, "check-verdict")
    assert stale.returncode == 4 and "no verdict: the run that wrote it did not finish" in stale.stderr

    thresholds.write_text(text)
    (root / "interrupting.py").write_text(INTERRUPTING_ADAPTER)
    assert mm_gate(root, "check-verdict", "--verdict", "elsewhere.json").returncode == 0
    interrupted = mm_gate(root, "run", "--adapter", "interrupting:make", "--verdict", "elsewhere.json")
    assert interrupted.returncode == 2, interrupted.stderr
    assert mm_gate(root, "check-verdict", "--verdict", "elsewhere.json").returncode == 4

    refused = mm_gate(root, "run", "--verdict", "thresholds.yaml")
    assert refused.returncode == 4 and thresholds.read_text() == text
    assert re.search(r"--verdict \S*thresholds.yaml: refused: the verdict file would overwrite an input",
                     refused.stderr)
