"""The git store reads a baseline pair (JSON + per-sample file) from git objects: at the merge-base, in the
branch's working tree, and in the target branch's history, old single-file versions included."""

from __future__ import annotations

import os
from pathlib import Path

import git
import pytest
from support.runs import make_run

from qa_gate.baseline.file import FileBaselineStore, samples_path
from qa_gate.baseline.git import GitBaselineStore
from qa_gate.baseline.run_json import UnreadableBaseline, dumps, encode

BASELINE = "baselines/baseline.json"
SAMPLES = "baselines/baseline.samples.npz"


@pytest.fixture(autouse=True)
def isolated_git(monkeypatch: pytest.MonkeyPatch) -> None:
    """The host's git config and CI variables must not matter."""
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for name in ("GITHUB_BASE_REF", "GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY"):
        monkeypatch.delenv(name, raising=False)


def init_repo(path: Path) -> git.Repo:
    repo = git.Repo.init(path, initial_branch="main")
    with repo.config_writer() as cfg:
        cfg.set_value("user", "name", "Gate Test")
        cfg.set_value("user", "email", "gate@example.com")
        cfg.set_value("commit", "gpgsign", "false")
    return repo


def record(repo: git.Repo, value: float, message: str, rel: str = BASELINE) -> str:
    """Write a baseline pair with ``value`` on every sample through the file store and commit both files."""
    FileBaselineStore(Path(repo.working_tree_dir) / rel).write(make_run({"clipscore": [value] * 4}))
    repo.git.add(A=True)
    repo.git.commit("-m", message)
    return repo.head.commit.hexsha


def value(run) -> float:
    return run.suites[0].metrics["clipscore"].per_sample[0]


def test_the_merge_base_pair_comes_from_git_objects_not_the_working_tree(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    fork = record(repo, 0.9, "baseline 0.9")
    repo.git.checkout("-b", "feature")
    record(repo, 0.7, "lower the bar")
    path = tmp_path / "repo" / BASELINE
    store = GitBaselineStore(path, environ={})
    assert store.merge_base() == fork and value(store.read()) == pytest.approx(0.9)

    samples_path(path).unlink()  # the working tree's per-sample file is not what the merge-base reads
    assert value(GitBaselineStore(path, environ={}).read()) == pytest.approx(0.9)
    repo.git.checkout("--", SAMPLES)

    change = GitBaselineStore(path, environ={}).baseline_change()
    assert change is not None
    assert value(change.old) == pytest.approx(0.9) and value(change.new) == pytest.approx(0.7)
    assert "0.9000 → 0.7000" in change.summary()


def test_a_baseline_at_the_repository_root_finds_its_per_sample_file(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    record(repo, 0.6, "baseline", rel="baseline.json")
    assert value(GitBaselineStore(tmp_path / "repo" / "baseline.json", environ={}).read()) == pytest.approx(0.6)


def test_a_json_committed_without_its_per_sample_file_says_to_commit_both(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    path = tmp_path / "repo" / BASELINE
    FileBaselineStore(path).write(make_run({"clipscore": [0.5] * 4}))
    repo.git.add(BASELINE)  # the per-sample file forgotten
    repo.git.commit("-m", "baseline")
    sha = repo.head.commit.hexsha[:7]
    with pytest.raises(UnreadableBaseline) as err:
        GitBaselineStore(path, environ={}).read()
    assert str(err.value) == (f"{SAMPLES} at {sha}: missing; {BASELINE} at {sha} keeps its per-sample statistics "
                              "there (a baseline is two files: commit baseline.samples.npz with it)")


def test_a_per_sample_file_in_git_lfs_is_named_as_such(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    record(repo, 0.5, "baseline")
    pointer = b"version https://git-lfs.github.com/spec/v1\noid sha256:" + b"0" * 64 + b"\nsize 123\n"
    (tmp_path / "repo" / SAMPLES).write_bytes(pointer)
    repo.git.commit("-am", "lfs")
    with pytest.raises(UnreadableBaseline, match=rf"^{SAMPLES} at [0-9a-f]{{7}}: is a Git LFS pointer; keep the "
                                                 r"baseline out of LFS \(in .gitattributes: baseline.samples.npz "):
        GitBaselineStore(tmp_path / "repo" / BASELINE, environ={}).read()


def test_history_reads_the_aggregates_of_single_file_and_pair_versions(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    path = tmp_path / "repo" / BASELINE
    path.parent.mkdir(parents=True)
    path.write_text(dumps(make_run({"clipscore": [0.6] * 4})))  # a baseline from before the per-sample file
    repo.git.add(A=True)
    repo.git.commit("-m", "single file")
    record(repo, 0.7, "pair 0.7")
    stale = encode(make_run({"clipscore": [0.75] * 4}), "baseline.samples.npz")
    path.write_bytes(stale.text)  # the JSON changed, its per-sample file did not: a point still, never a bar
    repo.git.commit("-am", "json only")
    record(repo, 0.8, "pair 0.8")
    path.write_text("{broken")
    repo.git.commit("-am", "broken json")
    record(repo, 0.85, "pair 0.85")

    history = GitBaselineStore(path, environ={}).history()
    assert [p.run.suites[0].metrics["clipscore"].value for p in history] == pytest.approx([0.6, 0.7, 0.75, 0.8, 0.85])
    assert len({p.commit for p in history}) == 5  # the broken JSON is no point
    assert all(p.run.suites[0].samples == () and p.run.suites[0].metrics["clipscore"].stats.shape == (0, 1)
               for p in history)  # aggregates only: no per-sample data kept in memory


def test_the_same_run_in_either_version_is_no_baseline_change(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    path = tmp_path / "repo" / BASELINE
    path.parent.mkdir(parents=True)
    run = make_run({"clipscore": [0.1, 0.2, 0.3, 0.4]})
    path.write_text(dumps(run))
    repo.git.add(A=True)
    repo.git.commit("-m", "single file")
    FileBaselineStore(path).write(run)  # rewritten as a pair, same content
    assert GitBaselineStore(path, environ={}).baseline_change() is None
    FileBaselineStore(path).write(make_run({"clipscore": [0.1, 0.2, 0.3, 0.5]}))
    change = GitBaselineStore(path, environ={}).baseline_change()
    assert change is not None and change.changed_values()[0][2:] == (pytest.approx(0.25), pytest.approx(0.275))
