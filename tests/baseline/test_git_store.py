"""The git baseline store, on real throwaway repositories: merge-base reads, target resolution, PR changes."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import git
import pytest
from support.runs import make_run

from qa_gate.baseline.changes import BaselineChange, GoldenChange
from qa_gate.baseline.file import FileBaselineStore
from qa_gate.baseline.git import GitBaselineStore
from qa_gate.baseline.resolve import resolve_baseline
from qa_gate.baseline.run_json import dumps
from qa_gate.baseline.store import open_store
from qa_gate.config.model import GateConfig, ModelConfig
from qa_gate.errors import BaselineError
from qa_gate.gitrepo import GitFailed, commit_of, run
from qa_gate.golden.suite import load_suite, write_hashes

BASELINE = "baselines/baseline.json"
MANIFEST = "version: 1\nsamples:\n  - {id: a, image: a.png, caption: a red square}\n" \
           "  - {id: b, image: b.png, caption: a blue circle}\n"


@pytest.fixture(autouse=True)
def isolated_git(monkeypatch: pytest.MonkeyPatch) -> None:
    """The host's git config and CI variables must not matter."""
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for name in ("GITHUB_BASE_REF", "GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY"):
        monkeypatch.delenv(name, raising=False)


def baseline(value: float, metric: str = "clipscore") -> str:
    return dumps(make_run({metric: [value] * 4}))


def configure(repo: git.Repo) -> git.Repo:
    with repo.config_writer() as cfg:
        cfg.set_value("user", "name", "Gate Test")
        cfg.set_value("user", "email", "gate@example.com")
        cfg.set_value("commit", "gpgsign", "false")
    return repo


def init_repo(path: Path, branch: str = "main") -> git.Repo:
    return configure(git.Repo.init(path, initial_branch=branch))


def commit(repo: git.Repo, message: str, files: dict[str, str | None] | None = None, date: str | None = None) -> str:
    """Write (or, for None, delete) files, then commit everything; returns the full sha."""
    root = Path(repo.working_tree_dir)
    for rel, text in (files or {}).items():
        if text is None:
            (root / rel).unlink()
        else:
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_text(text)
    repo.git.add(A=True)
    env = {"GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date} if date else {}
    repo.git.commit("-m", message, "--allow-empty", env=env)
    return repo.head.commit.hexsha


def value(run) -> float:
    return run.suites[0].metrics["clipscore"].value


def clone(source: Path | str, target: Path, **kwargs) -> git.Repo:
    return configure(git.Repo.clone_from(str(source), str(target), **kwargs))


def test_a_pr_lowering_its_own_baseline_is_judged_against_the_merge_base(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    fork = commit(repo, "baseline 0.9", {BASELINE: baseline(0.9)})
    repo.git.checkout("-b", "feature")
    commit(repo, "lower the bar", {BASELINE: baseline(0.7)})
    repo.git.checkout("main")
    commit(repo, "main moves on", {BASELINE: baseline(0.95)})
    repo.git.checkout("feature")
    path = tmp_path / "repo" / BASELINE
    path.write_text(baseline(0.5))  # and lowers it further, uncommitted

    store = GitBaselineStore(path, environ={})
    assert store.target_ref() == "main"
    assert store.merge_base() == fork
    assert store.describe() == f"{BASELINE} at merge-base {fork[:7]} of HEAD and main"
    assert value(store.read()) == pytest.approx(0.9)

    change = store.baseline_change()
    assert isinstance(change, BaselineChange)
    assert change.path == BASELINE
    assert value(change.old) == pytest.approx(0.9) and value(change.new) == pytest.approx(0.5)
    [(suite, metric, old, new)] = change.changed_values()
    assert (suite, metric) == ("shapes", "clipscore")
    assert (old, new) == (pytest.approx(0.9), pytest.approx(0.5))
    assert "0.9000 → 0.5000" in change.summary()

    repo.git.checkout("--", BASELINE)  # the committed PR version still differs from the merge-base
    assert value(GitBaselineStore(path, environ={}).baseline_change().new) == pytest.approx(0.7)


def test_an_unchanged_baseline_is_no_change_and_write_never_commits(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    head = commit(repo, "baseline", {BASELINE: baseline(0.9)})
    store = GitBaselineStore(tmp_path / "repo" / BASELINE, environ={})
    assert store.baseline_change() is None

    assert store.write(make_run({"clipscore": [0.8] * 4})).startswith(f"{tmp_path / 'repo' / BASELINE} and ")
    assert repo.head.commit.hexsha == head and repo.is_dirty()
    assert value(FileBaselineStore(tmp_path / "repo" / BASELINE).read()) == pytest.approx(0.8)
    assert value(store.read()) == pytest.approx(0.9)  # still the committed one
    assert not list((tmp_path / "repo" / "baselines").glob("*.tmp"))


def test_no_baseline_at_the_merge_base_reads_none_and_reports_the_addition(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    commit(repo, "start", {"README.md": "hello\n"})
    repo.git.checkout("-b", "feature")
    path = tmp_path / "repo" / BASELINE
    path.parent.mkdir()
    path.write_text(baseline(0.9))

    store = GitBaselineStore(path, environ={})
    assert store.read() is None
    change = store.baseline_change()
    assert change.old is None and value(change.new) == pytest.approx(0.9)
    assert change.changed_values() == [("shapes", "clipscore", None, pytest.approx(0.9))]
    assert "adds the baseline" in change.summary()

    path.unlink()
    assert store.baseline_change() is None  # absent on both sides


def test_target_resolution_order(tmp_path: Path) -> None:
    upstream = init_repo(tmp_path / "upstream")
    commit(upstream, "start", {"README.md": "hello\n"})
    upstream.git.checkout("-b", "release")
    commit(upstream, "release work")
    upstream.git.checkout("main")
    clone(tmp_path / "upstream", tmp_path / "origin.git", bare=True)
    clone(tmp_path / "origin.git", tmp_path / "work")

    def target(where: str, ref: str | None = None, **env: str) -> str:
        return GitBaselineStore(tmp_path / where / BASELINE, ref, environ=env).target_ref()

    assert target("work") == "origin/main"
    assert target("work", GITHUB_BASE_REF="") == "origin/main"  # a push event in Actions
    assert target("work", GITHUB_BASE_REF="release") == "origin/release"
    assert target("work", "main", GITHUB_BASE_REF="release") == "main"  # explicit wins
    assert target("work", "origin/release") == "origin/release"
    assert target("upstream") == "main"  # no remote
    assert target("upstream", GITHUB_BASE_REF="release") == "release"

    with pytest.raises(BaselineError, match=r"'release' is not a commit .*did you mean 'origin/release'"):
        target("work", "release")
    with pytest.raises(BaselineError,
                       match=r"GITHUB_BASE_REF='nope': neither 'origin/nope' nor 'nope' .*fetch-depth: 0"):
        target("work", GITHUB_BASE_REF="nope")

    trunk = init_repo(tmp_path / "trunk", branch="trunk")
    commit(trunk, "start")
    with pytest.raises(BaselineError, match=r"tried 'origin/main' and 'main'; pass --mm-baseline-ref"):
        target("trunk")
    assert target("trunk", "trunk") == "trunk"


def test_a_golden_suite_changed_on_the_pr_branch_is_listed_with_both_fingerprints(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    shapes, other = tmp_path / "repo" / "golden" / "shapes", tmp_path / "repo" / "golden" / "other"
    for suite in (shapes, other):
        suite.mkdir(parents=True)
        (suite / "manifest.yaml").write_text(MANIFEST)
        (suite / "a.png").write_bytes(b"image a")
        (suite / "b.png").write_bytes(b"image b")
        write_hashes(suite)
    commit(repo, "golden suites")
    old_fp = load_suite(shapes).fingerprint
    repo.git.checkout("-b", "feature")
    store = GitBaselineStore(tmp_path / "repo" / BASELINE, environ={})
    assert store.golden_changes([shapes, other]) == []

    (shapes / "a.png").write_bytes(b"image a, redrawn")
    write_hashes(shapes)  # deliberate, uncommitted
    new_fp = load_suite(shapes).fingerprint
    assert new_fp != old_fp
    [change] = store.golden_changes([shapes, other])
    assert change == GoldenChange("golden/shapes", old_fp, new_fp, ("a.png",))
    assert old_fp in change.summary() and new_fp in change.summary()

    commit(repo, "redraw a")  # committed on the PR branch: the same change
    (shapes / "b.png").write_bytes(b"tampered, not rehashed")
    (shapes / "c.png").write_bytes(b"untracked")
    [change] = store.golden_changes([shapes, other])
    assert change == GoldenChange("golden/shapes", old_fp, new_fp, ("a.png", "b.png", "c.png"))

    added = tmp_path / "repo" / "golden" / "added"
    added.mkdir()
    (added / "manifest.yaml").write_text(MANIFEST.split("  - {id: b")[0])
    (added / "a.png").write_bytes(b"image a")
    write_hashes(added)
    changes = {c.suite_path: c for c in store.golden_changes([added, other, tmp_path / "elsewhere"])}
    assert list(changes) == ["golden/added"]
    assert changes["golden/added"].old_fingerprint is None
    assert changes["golden/added"].new_fingerprint == load_suite(added).fingerprint
    assert changes["golden/added"].files_changed == ("a.png", "manifest.yaml")


@pytest.fixture
def diverged_origin(tmp_path: Path) -> Path:
    """A bare origin whose ``feature`` forked from ``main`` three commits back."""
    upstream = init_repo(tmp_path / "upstream")
    commit(upstream, "baseline 0.9", {BASELINE: baseline(0.9)})
    upstream.git.checkout("-b", "feature")
    commit(upstream, "feature work", {"model.txt": "v2\n"})
    upstream.git.checkout("main")
    commit(upstream, "main 2", {"README.md": "2\n"})
    commit(upstream, "main 3", {"README.md": "3\n"})
    clone(tmp_path / "upstream", tmp_path / "origin.git", bare=True)
    return tmp_path / "origin.git"


def test_a_shallow_clone_missing_the_merge_base_says_which_fetch_depth_to_use(tmp_path: Path,
                                                                              diverged_origin: Path) -> None:
    work = clone(diverged_origin.as_uri(), tmp_path / "work", depth=1, no_single_branch=True)
    work.git.checkout("feature")
    store = GitBaselineStore(tmp_path / "work" / BASELINE, environ={"GITHUB_BASE_REF": "main"})
    assert store.target_ref() == "origin/main"
    with pytest.raises(BaselineError, match=r"^shallow clone: the merge-base of HEAD and origin/main is not fetched; "
                                            r"use actions/checkout with fetch-depth: 0"):
        store.read()
    assert "(unresolved)" in store.describe()

    work.git.fetch("--unshallow")  # what the message recommends
    assert value(GitBaselineStore(tmp_path / "work" / BASELINE, environ={}).read()) == pytest.approx(0.9)


def test_a_shallow_clone_holding_the_merge_base_works(tmp_path: Path, diverged_origin: Path) -> None:
    work = clone(diverged_origin.as_uri(), tmp_path / "work", depth=1)
    work.git.checkout("-b", "mine")
    commit(work, "my change", {"model.txt": "v3\n"})
    assert GitBaselineStore(tmp_path / "work" / BASELINE, environ={}).read() is not None


def test_a_detached_head_still_resolves_the_merge_base(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    fork = commit(repo, "baseline 0.9", {BASELINE: baseline(0.9)})
    repo.git.checkout("-b", "feature")
    tip = commit(repo, "lower", {BASELINE: baseline(0.5)})
    repo.git.checkout("main")
    main_tip = commit(repo, "main moves on", {"README.md": "2\n"})
    path = tmp_path / "repo" / BASELINE

    repo.git.checkout("--detach", tip)
    assert repo.head.is_detached
    store = GitBaselineStore(path, environ={})
    assert store.merge_base() == fork
    assert value(store.read()) == pytest.approx(0.9)

    # What actions/checkout does for a pull_request: a detached merge of the PR into its target.
    repo.git.checkout("--detach", "main")
    repo.git.merge("--no-ff", "-m", "merge feature", "feature")
    store = GitBaselineStore(path, environ={"GITHUB_BASE_REF": "main"})
    assert store.merge_base() == main_tip
    assert value(store.read()) == pytest.approx(0.9)
    assert value(store.baseline_change().new) == pytest.approx(0.5)


def test_a_repository_without_commits_or_common_history_is_a_clear_error(tmp_path: Path) -> None:
    empty = init_repo(tmp_path / "empty")
    with pytest.raises(BaselineError, match="HEAD has no commit yet"):
        GitBaselineStore(tmp_path / "empty" / BASELINE, environ={}).read()

    commit(empty, "start", {"README.md": "1\n"})
    empty.git.checkout("--orphan", "unrelated")
    commit(empty, "other history", {"README.md": "2\n"})
    with pytest.raises(BaselineError, match="HEAD and main have no common ancestor"):
        GitBaselineStore(tmp_path / "empty" / BASELINE, environ={}).merge_base()


def test_outside_a_git_work_tree_discover_returns_none(tmp_path: Path) -> None:
    plain = tmp_path / "plain" / BASELINE
    plain.parent.mkdir(parents=True)
    assert GitBaselineStore.discover(plain) is None
    with pytest.raises(BaselineError, match="not inside a git work tree"):
        GitBaselineStore(plain)

    repo = init_repo(tmp_path / "repo")
    # Before the first commit there is no target branch to hold a baseline: the file store is used.
    assert GitBaselineStore.discover(tmp_path / "repo" / "not" / "yet" / "baseline.json") is None
    commit(repo, "first")
    found = GitBaselineStore.discover(tmp_path / "repo" / "not" / "yet" / "baseline.json")
    assert isinstance(found, GitBaselineStore)
    assert found.rel == "not/yet/baseline.json"


def test_history_is_the_last_baselines_on_the_target_branch_oldest_first(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    shas = {}
    for day, content in enumerate([baseline(0.1), None, baseline(0.2), "{ broken", baseline(0.4), "DELETE",
                                   baseline(0.5)], start=1):
        date = f"2026-01-0{day}T12:00:00+00:00"
        if content is None:
            commit(repo, "unrelated", {"README.md": f"{day}\n"}, date)
        else:
            shas[day] = commit(repo, f"day {day}", {BASELINE: None if content == "DELETE" else content}, date)
    repo.git.checkout("-b", "feature")
    commit(repo, "PR baseline", {BASELINE: baseline(0.9)})

    store = GitBaselineStore(tmp_path / "repo" / BASELINE, environ={})
    points = store.history(limit=3)
    assert [value(p.run) for p in points] == pytest.approx([0.2, 0.4, 0.5])
    assert [p.date for p in points] == ["2026-01-03", "2026-01-05", "2026-01-07"]
    assert [p.commit for p in points] == [shas[3][:7], shas[5][:7], shas[7][:7]]
    assert [value(p.run) for p in store.history()] == pytest.approx([0.1, 0.2, 0.4, 0.5])
    assert store.history(limit=0) == []


def test_importing_the_store_imports_neither_git_nor_torch() -> None:
    code = "import sys, qa_gate.baseline.git; print('git' in sys.modules, 'torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def _config(path: Path, **kwargs: object) -> GateConfig:
    return GateConfig(path.parent / "thresholds.yaml", 1, ModelConfig("open_clip", "x"), (), path, None, **kwargs)


def test_open_store_picks_git_in_a_work_tree_unless_the_path_was_given(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    path = tmp_path / "repo" / BASELINE
    assert isinstance(open_store(_config(path)), FileBaselineStore)  # no commit yet: no target branch
    commit(repo, "baseline", {BASELINE: baseline(0.9)})
    assert isinstance(open_store(_config(path)), GitBaselineStore)
    assert isinstance(open_store(_config(path, baseline_explicit=True)), FileBaselineStore)


def test_resolution_judges_against_the_merge_base_unless_the_change_is_accepted(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    commit(repo, "baseline 0.9", {BASELINE: baseline(0.9)})
    repo.git.checkout("-b", "feature")
    commit(repo, "lower the bar", {BASELINE: baseline(0.7)})
    path = tmp_path / "repo" / BASELINE

    judged = resolve_baseline(_config(path), [])
    assert value(judged.baseline) == pytest.approx(0.9)
    assert judged.source.startswith(f"{BASELINE} at merge-base ")
    assert "0.9000 → 0.7000" in judged.bar[0] and "accept-bar-change to accept" in judged.bar[1]
    assert [value(p.run) for p in judged.history] == pytest.approx([0.9])

    accepted = resolve_baseline(_config(path, accept_bar_change=True), [])
    assert value(accepted.baseline) == pytest.approx(0.7)
    assert "is accepted (--accept-bar-change, from the command line)" in accepted.bar[1]


def test_a_failing_git_command_is_one_line_naming_it(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    commit(repo, "start", {"README.md": "hello\n"})
    with pytest.raises(GitFailed) as info:
        run(repo, "cat-file", "-p", "no-such-object")
    assert str(info.value).startswith("git cat-file failed: fatal: ") and "\n" not in str(info.value)
    assert info.value.status == 128
    assert commit_of(repo, "no-such-branch") is None and commit_of(repo, "--all") is None
    assert commit_of(repo, "main") == repo.head.commit.hexsha


def test_files_that_can_change_the_verdict_are_listed_when_the_pr_edits_them(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    root = tmp_path / "repo"
    commit(repo, "main", {BASELINE: baseline(0.9), "thresholds.yaml": "version: 1\n", "src/model.py": "x = 1\n",
                          "adapters/mine.py": "def make(m, d): ...\n", "README.md": "hello\n"})
    repo.git.checkout("-b", "feature")
    path = root / BASELINE
    assert resolve_baseline(_config(path), []).changes == ()  # nothing edited yet: nothing listed
    commit(repo, "loosen the gate", {"conftest.py": "def pytest_sessionfinish(session): session.exitstatus = 0\n",
                                     ".github/workflows/gate.yml": "on: pull_request\n",
                                     "src/model.py": "x = 2\n", "README.md": "bye\n"})
    (root / "thresholds.yaml").write_text("version: 1\n# uncommitted edit\n")
    (root / "adapters" / "mine.py").write_text("def make(m, d): return None\n")
    (root / "signoffs").mkdir()
    (root / "signoffs" / "v9.json").write_text("{}\n")  # untracked
    (root / "tests").mkdir()
    (root / "tests" / "pytest.ini").write_text("[pytest]\n")

    config = dataclasses.replace(_config(path), source=root / "thresholds.yaml",
                                 model=ModelConfig("adapters.mine:make", "ckpt"))
    [line] = resolve_baseline(config, []).changes
    assert line.startswith("This change also edits files that can change the gate's verdict: ")
    listed = line.split(": ", 1)[1].split(". Review")[0].split(", ")
    assert listed == [".github/workflows/gate.yml", "adapters/mine.py", "conftest.py", "signoffs/v9.json",
                      "tests/pytest.ini", "thresholds.yaml"]  # not src/model.py or README.md
