"""git plumbing shared by the git baseline store and the release sign-off.

Opening the repository that holds a path, running ``git`` with its failures cut to one
line (the first line git wrote on stderr), resolving a ref to a commit, the merge-base
of two commits and a file's content at a commit. gitpython is imported inside the
functions, so importing this module never starts git.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qa_gate.errors import GateError, first_line

if TYPE_CHECKING:
    import git


class GitUnavailable(GateError):
    """gitpython is installed but found no usable git executable; the message says why."""


class GitFailed(GateError):
    """A git command failed; the message is one line: the command and what git said."""

    def __init__(self, command: str, status: object, stderr: str, said: str) -> None:
        super().__init__(f"git {command} failed: {said}")
        self.command = command
        self.status = status
        """git's exit status (gitpython may give another object when git could not be started)."""
        self.stderr = stderr
        """The first line git wrote on stderr ("" when it wrote nothing)."""
        self.said = said
        """``stderr``, or the first line of gitpython's message when git wrote nothing."""


class NotAFile(GateError):
    """A path names a folder (or a submodule) at a commit, not a file."""


def stderr_line(exc: git.GitCommandError) -> str:
    """The first line of what git said, without gitpython's ``stderr: '...'`` wrapping ("" when nothing)."""
    return first_line(str(exc.stderr or "").strip().removeprefix("stderr:").strip().strip("'"))


@contextmanager
def one_line_errors(command: str) -> Iterator[None]:
    """Turn a ``GitCommandError`` raised inside into a one-line :class:`GitFailed` naming ``command``."""
    import git

    try:
        yield
    except git.GitCommandError as exc:
        stderr = stderr_line(exc)
        raise GitFailed(command, exc.status, stderr, stderr or first_line(exc)) from None


def open_repo(folder: Path) -> git.Repo | None:
    """The repository whose tree holds the existing ``folder`` (bare ones included), or None outside one.

    Raises :class:`GitUnavailable` when gitpython cannot run git.
    """
    try:
        import git
    except ImportError as exc:  # gitpython found no usable git executable
        raise GitUnavailable(str(exc)) from None
    try:
        return git.Repo(folder, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        return None


def work_tree(repo: git.Repo) -> Path | None:
    """The real path of the repository's work tree, or None for a bare repository."""
    if repo.bare or repo.working_tree_dir is None:
        return None
    return Path(os.path.realpath(repo.working_tree_dir))


def run(repo: git.Repo, command: str, *args: str, **options: Any) -> str:
    """The output of ``git <command> <args>``; :class:`GitFailed` when it fails."""
    with one_line_errors(command):
        return str(getattr(repo.git, command.replace("-", "_"))(*args, **options))


def succeeds(repo: git.Repo, command: str, *args: str) -> bool:
    """Whether ``git <command> <args>`` exits with status 0 (its output is dropped)."""
    method = getattr(repo.git, command.replace("-", "_"))
    return method(*args, with_exceptions=False, with_extended_output=True)[0] == 0


def null_separated(repo: git.Repo, command: str, *args: str) -> list[str]:
    """The non-empty NUL-separated items of the output of ``git <command> <args>`` (pass ``-z``)."""
    return [item for item in run(repo, command, *args).split("\0") if item]


def commit_of(repo: git.Repo, ref: str) -> str | None:
    """The full sha of the commit ``ref`` names, or None when it names none (an option is never run)."""
    if ref.startswith("-"):
        return None
    try:
        return run(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}").strip() or None
    except GitFailed:  # not a commit
        return None


def merge_base(repo: git.Repo, one: str, other: str) -> str:
    """The full sha of the merge-base of two commits; :class:`GitFailed` (status 1, no stderr) when none."""
    return run(repo, "merge-base", one, other).split()[0]


def is_shallow(repo: git.Repo) -> bool:
    """Whether the clone is shallow (its history stops before the root commits)."""
    return Path(repo.common_dir, "shallow").exists()


def blob_at(repo: git.Repo, commit: str, rel: str) -> bytes | None:
    """The content of the repo-relative posix path ``rel`` at ``commit``, or None when it is absent there."""
    try:
        obj = repo.commit(commit).tree / rel
    except KeyError:
        return None
    if obj.type != "blob":
        raise NotAFile(f"{rel} at {commit[:7]} is a {obj.type}, not a file")
    data: bytes = obj.data_stream.read()
    return data
