"""The baseline a PR is judged against, read from git objects at the merge-base with its target branch.

The working tree's baseline file belongs to the PR under review, so a PR could lower its own bar by
editing it. This store reads the file as committed on the target branch at the merge-base of HEAD and
that branch instead, and reports (``changes``: ``baseline_change``, ``golden_changes``) what the PR
changed. gitpython is imported lazily (``qa_gate.gitrepo``); every git failure becomes a one-line
``BaselineError``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from qa_gate.baseline.changes import BaselineChange, Changes, GoldenChange, HistoryPoint
from qa_gate.baseline.file import FileBaselineStore, files_beside
from qa_gate.baseline.run_json import SampleFiles, parse_baseline, same_content
from qa_gate.errors import BaselineError
from qa_gate.gitrepo import (
    GitFailed,
    GitUnavailable,
    NotAFile,
    blob_at,
    commit_of,
    is_shallow,
    merge_base,
    null_separated,
    open_repo,
    work_tree,
)
from qa_gate.golden.suite import HASHES, SCRATCH, SUMS_LINE, find_alias, listing_fingerprint
from qa_gate.results import RunResult

if TYPE_CHECKING:
    import git

DEFAULT_TARGETS = ("origin/main", "main")
SHALLOW_HINT = "use actions/checkout with fetch-depth: 0 (or git fetch --unshallow)"


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
    return listing_fingerprint(listed, find_alias(text.decode("utf-8", errors="replace"))), listed


def _join(folder: str, name: str) -> str:
    return f"{folder}/{name}" if folder else name


def _open_repo(path: Path) -> tuple[git.Repo, Path] | None:
    """The non-bare repository whose work tree holds ``path`` (which need not exist yet) and its root, or None."""
    start = Path(os.path.abspath(path)).parent
    while not start.exists() and start != start.parent:
        start = start.parent
    try:
        repo = open_repo(start)
    except GitUnavailable as exc:
        if any((folder / ".git").exists() for folder in (start, *start.parents)):
            raise BaselineError(f"{path}: inside a git repository but git cannot be run ({exc}); "
                                "install git, or pass --mm-baseline PATH to use the plain file") from None
        return None
    root = None if repo is None else work_tree(repo)
    if repo is None or root is None or not Path(os.path.realpath(path)).is_relative_to(root):
        return None
    return repo, root


class GitBaselineStore:
    """The baseline file as committed at the merge-base of HEAD and the target branch."""

    def __init__(self, baseline_path: Path, ref: str | None = None,
                 environ: Mapping[str, str] = os.environ) -> None:
        found = _open_repo(Path(baseline_path))
        if found is None:
            raise BaselineError(f"{baseline_path}: not inside a git work tree; use the file baseline store")
        self.path = Path(baseline_path)
        self.ref = ref or None
        self.environ = environ
        self.repo, self.root = found
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
        found = _open_repo(Path(baseline_path))
        if found is None or not found[0].head.is_valid():
            return None
        return cls(baseline_path, ref, environ)

    # -- resolving what to compare with ------------------------------------------------------------

    def target_ref(self) -> str:
        """The target branch: explicit ref, else GITHUB_BASE_REF (origin/<name>, <name>), else origin/main, main."""
        if self._target is not None:
            return self._target
        base = (self.environ.get("GITHUB_BASE_REF") or "").strip()
        tried = [self.ref] if self.ref else [f"origin/{base}", base] if base else list(DEFAULT_TARGETS)
        found = next((ref for ref in tried if commit_of(self.repo, ref) is not None), None)
        if found is None and self.ref:
            hint = f" (did you mean 'origin/{self.ref}'?)" if commit_of(self.repo, f"origin/{self.ref}") else ""
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
        if not self.repo.head.is_valid():
            raise BaselineError(f"{self.root}: HEAD has no commit yet (empty repository or unborn branch); "
                                "commit first, or pass --mm-baseline PATH to use the plain file")
        target = self.target_ref()
        try:
            sha = merge_base(self.repo, "HEAD", target)
        except GitFailed as exc:
            if is_shallow(self.repo):
                raise BaselineError(f"shallow clone: the merge-base of HEAD and {target} is not fetched; "
                                    f"{SHALLOW_HINT}") from None
            if exc.status == 1 and not exc.stderr:
                raise BaselineError(f"HEAD and {target} have no common ancestor (unrelated histories); "
                                    "pass --mm-baseline-ref REF naming the branch this one targets") from None
            raise BaselineError(f"git merge-base HEAD {target} failed: {exc.said}") from None
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
            return blob_at(self.repo, sha, rel)
        except NotAFile as exc:
            raise BaselineError(str(exc)) from None

    def _committed_samples(self, sha: str) -> SampleFiles:
        """The per-sample file a baseline JSON names, from the same commit's objects."""
        folder = PurePosixPath(self.rel).parent.as_posix()

        def sample_files(name: str) -> tuple[str, list[bytes]]:
            rel = _join("" if folder == "." else folder, name)
            data = self._blob(sha, rel)
            return f"{rel} at {sha[:7]}", [] if data is None else [data]
        return sample_files

    def _parse(self, data: bytes, sha: str, per_sample: bool = True) -> RunResult:
        """The baseline JSON ``data`` committed at ``sha``, with its per-sample file from the same commit."""
        return parse_baseline(data, f"{self.rel} at {sha[:7]}", self._committed_samples(sha), per_sample=per_sample)

    def read(self) -> RunResult | None:
        """The baseline as committed at the merge-base (JSON and per-sample file from git objects), or None
        when the file does not exist there."""
        sha = self.merge_base()
        data = self._blob(sha, self.rel)
        return None if data is None else self._parse(data, sha)

    def committed(self) -> bytes | None:
        """The file's bytes as committed at the merge-base (any file: the thresholds file too); None when absent."""
        return self._blob(self.merge_base(), self.rel)

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
        old = None if old_data is None else self._parse(old_data, sha)
        new = (None if new_data is None else
               parse_baseline(new_data, f"{self.rel} (working tree)", files_beside(self.path)))
        if old is not None and new is not None and same_content(old, new):
            return None  # same content, other formatting (line endings) or version
        return BaselineChange(self.rel, old, new)

    def _git_lines(self, command: str, *args: str) -> list[str]:
        """The NUL-separated output of ``git <command> -z ...``."""
        try:
            return null_separated(self.repo, command, *args)
        except GitFailed as exc:
            raise BaselineError(str(exc)) from None

    def changes(self, suite_paths: Sequence[Path], watched: Sequence[Path] = ()) -> Changes:
        """What the PR did to the baseline, to the golden suites at ``suite_paths``, and to other files
        that can change the verdict (pytest's own files, workflows, sign-offs, and ``watched``)."""
        return Changes(self.baseline_change(), tuple(self.golden_changes(suite_paths)),
                       tuple(self.verdict_files(watched)))

    def verdict_files(self, watched: Sequence[Path] = ()) -> list[str]:
        """Files changed since the merge-base (uncommitted and untracked ones too) that can change the
        verdict: any ``conftest.py``, pytest's ini files, ``.github/workflows/``, ``signoffs/``, ``watched``."""
        sha = self.merge_base()
        changed = self._git_lines("diff", "--name-only", "-z", "--no-renames", "--no-ext-diff", sha)
        changed += self._git_lines("ls-files", "--others", "--exclude-standard", "-z")
        named = set()
        for path in watched:
            real = Path(os.path.realpath(path))
            if real.is_relative_to(self.root):
                named.add(real.relative_to(self.root).as_posix())
        return sorted({p for p in changed if p in named or _can_change_verdict(p)})

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
            differ -= {HASHES, SCRATCH}
            if old_fp != new_fp or differ:
                changes.append(GoldenChange(rel or ".", old_fp, new_fp, tuple(sorted(differ))))
        return changes

    # -- history -----------------------------------------------------------------------------------

    def history(self, limit: int = 10) -> list[HistoryPoint]:
        """The last ``limit`` readable versions of the baseline on the target branch, oldest first.

        Their aggregates only (a trend's points: ``parse_baseline(per_sample=False)``): no per-sample file
        is read, so ten versions of a 100k-sample baseline cost ten small JSON reads, not ten runs in memory.
        """
        points: list[HistoryPoint] = []
        if limit <= 0:
            return points
        target = self.target_ref()
        for commit in self.repo.iter_commits(target, paths=self.rel):
            data = self._blob(commit.hexsha, self.rel)
            if data is None:
                continue  # the commit deleted the file
            try:
                run = self._parse(data, commit.hexsha, per_sample=False)
            except BaselineError:
                continue  # a malformed version is no point of the trend
            points.append(HistoryPoint(commit.hexsha[:7], commit.committed_datetime.date().isoformat(), run))
            if len(points) == limit:
                break
        return points[::-1]


VERDICT_FILES = frozenset({"conftest.py", "pytest.ini", "pyproject.toml", "setup.cfg", "tox.ini"})
"""File names pytest reads for its plugins, options and hooks: editing one can change a gate's verdict."""


def _can_change_verdict(path: str) -> bool:
    return (PurePosixPath(path).name in VERDICT_FILES or path.startswith((".github/workflows/", "signoffs/")))
