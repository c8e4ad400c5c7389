"""The baseline a PR is judged against, read from git objects at the merge-base with its target branch.

The working tree's baseline file belongs to the PR under review, so a PR could lower its own bar by
editing it. This store reads the file as committed on the target branch at the merge-base of HEAD and
that branch instead, and reports (``baseline_change``, ``golden_changes``) what the PR changed.
gitpython is imported lazily; every git failure becomes a one-line ``BaselineError``.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from qa_gate.baseline.file import FileBaselineStore
from qa_gate.baseline.store import HistoryPoint, dumps, run_from_json
from qa_gate.errors import BaselineError
from qa_gate.golden.suite import HASHES, SUMS_LINE, listing_fingerprint
from qa_gate.results import RunResult

if TYPE_CHECKING:
    import git

DEFAULT_TARGETS = ("origin/main", "main")
SHALLOW_HINT = "use actions/checkout with fetch-depth: 0 (or git fetch --unshallow)"
_LFS_POINTER = b"version https://git-lfs"
_SCRATCH = f".{HASHES}.tmp"  # golden.write_hashes's scratch file


@dataclass(frozen=True)
class BaselineChange:
    """The PR changed the baseline file: its content at the merge-base and in the working tree."""

    path: str  # repo-relative posix path of the baseline file
    old: RunResult | None  # at the merge-base (None when absent there)
    new: RunResult | None  # in the working tree (None when absent)

    def changed_values(self) -> list[tuple[str, str, float | None, float | None]]:
        """``(suite, metric, old value, new value)`` for every metric whose value differs (None: absent)."""
        old, new = _values(self.old), _values(self.new)
        keys = list(old) + [key for key in new if key not in old]
        return [(suite, metric, old.get((suite, metric)), new.get((suite, metric)))
                for suite, metric in keys if not _same(old.get((suite, metric)), new.get((suite, metric)))]

    def summary(self) -> str:
        """One line for the top of a report: what the PR did to the baseline, with old and new values."""
        if self.new is None:
            return f"This PR deletes the baseline {self.path}."
        values = ", ".join(f"{s}/{m} {_show(a)} → {_show(b)}" for s, m, a, b in self.changed_values())
        if self.old is None:
            head = f"This PR adds the baseline {self.path} (none at the merge-base)"
        else:
            head = f"This PR changes the baseline {self.path}"
        return f"{head}: {values}." if values else f"{head} (metric values unchanged)."


@dataclass(frozen=True)
class GoldenChange:
    """The PR changed a golden suite: fingerprints at the merge-base and in the working tree."""

    suite_path: str  # repo-relative posix folder
    old_fingerprint: str | None  # from SHA256SUMS at the merge-base (None when absent there)
    new_fingerprint: str | None  # from SHA256SUMS in the working tree (None when absent)
    files_changed: tuple[str, ...]  # paths inside the suite that differ

    def summary(self) -> str:
        """One line for the top of a report."""
        files = ", ".join(self.files_changed[:10]) + (" …" if len(self.files_changed) > 10 else "")
        shown = f"; files: {files}" if files else ""
        return (f"This PR changes the golden suite {self.suite_path}: fingerprint "
                f"{self.old_fingerprint or 'none'} → {self.new_fingerprint or 'none'}{shown}.")


def _values(run: RunResult | None) -> dict[tuple[str, str], float]:
    if run is None:
        return {}
    return {(suite.name, name): metric.value for suite in run.suites for name, metric in suite.metrics.items()}


def _same(a: float | None, b: float | None) -> bool:
    return a == b or (a is not None and b is not None and math.isnan(a) and math.isnan(b))


def _show(value: float | None) -> str:
    return "—" if value is None else f"{value:.4f}"


def _sums_fingerprint(text: bytes) -> tuple[str, dict[str, str]]:
    """golden's fingerprint of a SHA256SUMS content, and its listing; lines golden would refuse are skipped."""
    listed: dict[str, str] = {}
    for line in text.decode("utf-8", errors="replace").splitlines():
        match = SUMS_LINE.match(line)
        if match is None:
            continue
        pure = PurePosixPath(match.group(2))
        if not pure.is_absolute() and ".." not in pure.parts:
            listed.setdefault(pure.as_posix(), match.group(1).lower())
    return listing_fingerprint(listed), listed


def _stderr(exc: git.GitCommandError) -> str:
    """The first line of what git said, without gitpython's ``stderr: '...'`` wrapping."""
    text = str(exc.stderr or "").strip().removeprefix("stderr:").strip().strip("'").strip()
    return text.splitlines()[0] if text else ""


def _join(folder: str, name: str) -> str:
    return f"{folder}/{name}" if folder else name


def _open_repo(path: Path) -> git.Repo | None:
    """The non-bare repository whose work tree holds ``path`` (which need not exist yet), or None."""
    start = Path(os.path.abspath(path)).parent
    while not start.exists() and start != start.parent:
        start = start.parent
    try:
        import git
    except ImportError as exc:  # gitpython found no usable git executable
        if any((folder / ".git").exists() for folder in (start, *start.parents)):
            raise BaselineError(f"{path}: inside a git repository but git cannot be run ({exc}); "
                                "install git, or pass --mm-baseline PATH to use the plain file") from None
        return None
    try:
        repo = git.Repo(start, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        return None
    if repo.bare or repo.working_tree_dir is None:
        return None
    root = os.path.realpath(repo.working_tree_dir)
    if not Path(os.path.realpath(path)).is_relative_to(root):
        return None
    return repo


class GitBaselineStore:
    """The baseline file as committed at the merge-base of HEAD and the target branch."""

    def __init__(self, baseline_path: Path, ref: str | None = None,
                 environ: Mapping[str, str] = os.environ) -> None:
        repo = _open_repo(Path(baseline_path))
        if repo is None:
            raise BaselineError(f"{baseline_path}: not inside a git work tree; use the file baseline store")
        self.path = Path(baseline_path)
        self.ref = ref or None
        self.environ = environ
        self.repo = repo
        self.root = Path(os.path.realpath(repo.working_tree_dir or "."))
        self.rel = Path(os.path.realpath(self.path)).relative_to(self.root).as_posix()
        self._target: str | None = None
        self._merge_base: str | None = None

    @classmethod
    def discover(cls, baseline_path: Path, ref: str | None = None,
                 environ: Mapping[str, str] = os.environ) -> GitBaselineStore | None:
        """A git store, or None (use the file store) outside a git work tree or before its first commit.

        A repository with no commit has no target branch to hold a baseline yet, so it is
        treated like a plain folder rather than as an error.
        """
        repo = _open_repo(Path(baseline_path))
        if repo is None or not repo.head.is_valid():
            return None
        return cls(baseline_path, ref, environ)

    # -- resolving what to compare with ------------------------------------------------------------

    def _commit_of(self, ref: str) -> str | None:
        if ref.startswith("-"):
            return None
        import git

        try:
            return self.repo.git.rev_parse("--verify", "--quiet", f"{ref}^{{commit}}").strip() or None
        except git.GitCommandError:  # not a commit
            return None

    def target_ref(self) -> str:
        """The target branch: explicit ref, else GITHUB_BASE_REF (origin/<name>, <name>), else origin/main, main."""
        if self._target is not None:
            return self._target
        base = (self.environ.get("GITHUB_BASE_REF") or "").strip()
        tried = [self.ref] if self.ref else [f"origin/{base}", base] if base else list(DEFAULT_TARGETS)
        found = next((ref for ref in tried if self._commit_of(ref) is not None), None)
        if found is None and self.ref:
            hint = f" (did you mean 'origin/{self.ref}'?)" if self._commit_of(f"origin/{self.ref}") else ""
            raise BaselineError(f"--mm-baseline-ref {self.ref!r} is not a commit in {self.root}{hint}")
        if found is None and base:
            raise BaselineError(f"GITHUB_BASE_REF={base!r}: neither 'origin/{base}' nor '{base}' exists in this "
                                f"clone; fetch the target branch ({SHALLOW_HINT}) or pass --mm-baseline-ref REF")
        if found is None:
            raise BaselineError(f"no target branch for the baseline in {self.root}: tried 'origin/main' and 'main'; "
                                "pass --mm-baseline-ref REF, or --mm-baseline PATH to use the plain file")
        self._target = found
        return found

    def merge_base(self) -> str:
        """The full sha of the merge-base of HEAD (a branch or a detached commit) and the target branch."""
        if self._merge_base is not None:
            return self._merge_base
        import git

        if not self.repo.head.is_valid():
            raise BaselineError(f"{self.root}: HEAD has no commit yet (empty repository or unborn branch); "
                                "commit first, or pass --mm-baseline PATH to use the plain file")
        target = self.target_ref()
        try:
            sha = self.repo.git.merge_base("HEAD", target).split()[0]
        except git.GitCommandError as exc:
            if Path(self.repo.common_dir, "shallow").exists():
                raise BaselineError(f"shallow clone: the merge-base of HEAD and {target} is not fetched; "
                                    f"{SHALLOW_HINT}") from None
            if exc.status == 1 and not _stderr(exc):
                raise BaselineError(f"HEAD and {target} have no common ancestor (unrelated histories); "
                                    "pass --mm-baseline-ref REF naming the branch this one targets") from None
            raise BaselineError(f"git merge-base HEAD {target} failed: {_stderr(exc) or exc}") from None
        self._merge_base = sha
        return sha

    def describe(self) -> str:
        """``"baselines/baseline.json at merge-base 1a2b3c4 of HEAD and origin/main"``."""
        try:
            return f"{self.rel} at merge-base {self.merge_base()[:7]} of HEAD and {self.target_ref()}"
        except BaselineError:
            return f"{self.rel} at the merge-base of HEAD and {self.ref or 'the target branch'} (unresolved)"

    # -- reading -------------------------------------------------------------------------------------

    def _blob(self, sha: str, rel: str) -> bytes | None:
        """The content of ``rel`` at commit ``sha``, or None when it is absent there."""
        try:
            obj = self.repo.commit(sha).tree / rel
        except KeyError:
            return None
        if obj.type != "blob":
            raise BaselineError(f"{rel} at {sha[:7]} is a {obj.type}, not a file")
        return obj.data_stream.read()

    @staticmethod
    def _parse(data: bytes, source: str) -> RunResult:
        if data.startswith(_LFS_POINTER):
            raise BaselineError(f"{source}: is a Git LFS pointer; keep the baseline out of LFS")
        try:
            parsed = json.loads(data.decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise BaselineError(f"{source}: not UTF-8 text ({exc})") from None
        except json.JSONDecodeError as exc:
            raise BaselineError(f"{source}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
        return run_from_json(parsed, source)

    def read(self) -> RunResult | None:
        """The baseline as committed at the merge-base, or None when the file does not exist there."""
        sha = self.merge_base()
        data = self._blob(sha, self.rel)
        return None if data is None else self._parse(data, f"{self.rel} at {sha[:7]}")

    def write(self, run: RunResult) -> str:
        """Write the working-tree file atomically (as the file store does); committing is the user's act."""
        return FileBaselineStore(self.path).write(run)

    # -- what the PR changed -----------------------------------------------------------------------

    def baseline_change(self) -> BaselineChange | None:
        """The baseline at the merge-base and in the working tree, or None when they are the same."""
        sha = self.merge_base()
        old_data = self._blob(sha, self.rel)
        new_data = self.path.read_bytes() if self.path.is_file() else None
        if old_data == new_data:
            return None
        old = None if old_data is None else self._parse(old_data, f"{self.rel} at {sha[:7]}")
        new = None if new_data is None else self._parse(new_data, f"{self.rel} (working tree)")
        if old is not None and new is not None and dumps(old) == dumps(new):
            return None  # same content, other formatting (e.g. line endings)
        return BaselineChange(self.rel, old, new)

    def _git_lines(self, command: str, *args: str) -> list[str]:
        """The NUL-separated output of ``git <command> -z ...``."""
        import git

        try:
            out = getattr(self.repo.git, command.replace("-", "_"))(*args)
        except git.GitCommandError as exc:
            raise BaselineError(f"git {command} failed: {_stderr(exc) or exc}") from None
        return [line for line in str(out).split("\0") if line]

    def golden_changes(self, suite_paths: Sequence[Path]) -> list[GoldenChange]:
        """Suites whose SHA256SUMS or files differ between the merge-base and the working tree.

        Uncommitted and untracked (not ignored) files count. A suite outside the work tree is skipped.
        """
        sha = self.merge_base()
        changes = []
        for suite_path in suite_paths:
            real = Path(os.path.realpath(suite_path))
            if not real.is_relative_to(self.root):
                continue
            rel = real.relative_to(self.root).as_posix()
            rel = "" if rel == "." else rel
            old_sums = self._blob(sha, _join(rel, HASHES))
            new_sums = (real / HASHES).read_bytes() if (real / HASHES).is_file() else None
            old_fp, old_listed = _sums_fingerprint(old_sums) if old_sums is not None else (None, {})
            new_fp, new_listed = _sums_fingerprint(new_sums) if new_sums is not None else (None, {})
            differ = {p for p in old_listed.keys() | new_listed.keys() if old_listed.get(p) != new_listed.get(p)}
            spec = f":(literal){rel or '.'}"
            paths = self._git_lines("diff", "--name-only", "-z", "--no-renames", "--no-ext-diff", sha, "--", spec)
            paths += self._git_lines("ls-files", "--others", "--exclude-standard", "-z", "--", spec)
            prefix = f"{rel}/" if rel else ""
            differ |= {p.removeprefix(prefix) for p in paths if p.startswith(prefix)}
            differ -= {HASHES, _SCRATCH}
            if old_fp != new_fp or differ:
                changes.append(GoldenChange(rel or ".", old_fp, new_fp, tuple(sorted(differ))))
        return changes

    # -- history -----------------------------------------------------------------------------------

    def history(self, limit: int = 10) -> list[HistoryPoint]:
        """The last ``limit`` readable versions of the baseline on the target branch, oldest first."""
        points: list[HistoryPoint] = []
        if limit <= 0:
            return points
        target = self.target_ref()
        for commit in self.repo.iter_commits(target, paths=self.rel):
            data = self._blob(commit.hexsha, self.rel)
            if data is None:
                continue  # the commit deleted the file
            try:
                run = self._parse(data, f"{self.rel} at {commit.hexsha[:7]}")
            except BaselineError:
                continue  # a malformed version is no point of the trend
            points.append(HistoryPoint(commit.hexsha[:7], commit.committed_datetime.date().isoformat(), run))
            if len(points) == limit:
                break
        return points[::-1]
