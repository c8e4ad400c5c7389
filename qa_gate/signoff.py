"""Release sign-off: a strict gate run recorded in ``signoffs/<tag>.json``, committed and tagged.

``sign_off`` refuses a dirty or unborn tree and an existing tag, runs the gate in strict mode and, only
when it passes, writes the record (the verdict, the rules it was judged by, the scored results), commits it
(``Sign off <tag>``) and creates an annotated tag, signed when git has a signing key
(:mod:`qa_gate.signed_tags`); a failure after the write is rolled back. :func:`read_record` reads a record
from its tag's commit; :mod:`qa_gate.signoff_verify` re-checks and re-judges it. git is reached through
``qa_gate.gitrepo`` (gitpython imported lazily).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from qa_gate.config.model import Overrides
from qa_gate.files import write_atomic
from qa_gate.gitrepo import (
    GitFailed,
    GitUnavailable,
    NotAFile,
    blob_at,
    commit_of,
    one_line_errors,
    open_repo,
    run,
    succeeds,
    work_tree,
)
from qa_gate.signed_tags import signing_configured
from qa_gate.signoff_record import FOLDER, MODE, SignoffError, SignoffRecord
from qa_gate.verdict.checks import Verdict

if TYPE_CHECKING:
    import git

LISTED = 10
_KINDS = {"M": "modified", "A": "added", "D": "deleted", "R": "renamed", "C": "copied", "T": "type changed",
          "U": "unmerged"}


@dataclass(frozen=True)
class SignedOff:
    """What ``sign_off`` did: the verdict, and the record, its file and commit when it passed."""

    verdict: Verdict
    record: SignoffRecord | None = None
    path: Path | None = None
    commit: str | None = None
    signed: bool = False
    """Whether the tag was signed (``git tag -s``): git has a signing key, or signs every tag."""


def repository(thresholds: Path) -> tuple[git.Repo, Path]:
    """The repository holding the thresholds file, and its work tree root."""
    folder = Path(thresholds).absolute().parent
    try:
        repo = open_repo(folder)
    except GitUnavailable as exc:
        raise SignoffError(f"git cannot be run ({exc}); a sign-off needs git") from None
    if repo is None:
        raise SignoffError(f"{folder}: not inside a git work tree; a sign-off commits a record and tags it")
    root = work_tree(repo)
    if root is None:
        raise SignoffError(f"{folder}: a bare repository has no work tree to sign off")
    return repo, root


def _check_ready(repo: git.Repo, root: Path, tag: str, path: Path) -> None:
    """Refuse an invalid or existing tag, an unborn HEAD, a missing identity or a dirty tree."""
    if not succeeds(repo, "check-ref-format", f"refs/tags/{tag}") or tag.startswith("-"):
        raise SignoffError(f"--tag {tag!r} is not a valid git tag name")
    if not repo.head.is_valid():
        raise SignoffError(f"{root}: HEAD has no commit yet (empty repository or unborn branch); commit first")
    if any(t.name == tag for t in repo.tags):
        raise SignoffError(f"tag {tag} already exists in {root}; a sign-off is never replaced, choose a new tag")
    if path.exists():
        raise SignoffError(f"{path} already exists; remove it or choose a new tag")
    for key in ("name", "email"):
        try:
            if not (os.environ.get(f"GIT_AUTHOR_{key.upper()}") and os.environ.get(f"GIT_COMMITTER_{key.upper()}")):
                run(repo, "config", "--get", f"user.{key}")
        except GitFailed:
            raise SignoffError(f"no git identity in {root}: user.{key} is not set; the sign-off commit and tag "
                               f"are made in your name: git config user.{key} ...") from None
    dirty, skip = [], False  # modified or staged tracked files, untracked files that are not ignored
    for entry in run(repo, "status", "--porcelain=v1", "-z", "--untracked-files=normal").split("\0"):
        if not skip and entry:
            kind = "untracked" if entry[:2] == "??" else _KINDS.get(entry[:2].strip()[:1], "changed")
            dirty.append(f"{entry[3:]} ({kind})")
        skip = not skip and entry[:1] in ("R", "C")  # a rename's source follows
    if dirty:
        more = f" and {len(dirty) - LISTED} more" if len(dirty) > LISTED else ""
        raise SignoffError(f"the work tree {root} is not clean; commit or stash first: "
                           f"{', '.join(dirty[:LISTED])}{more}")


def sign_off(thresholds: Path, tag: str, overrides: Overrides = Overrides(),
             message: str | None = None) -> SignedOff:
    """Run the gate in strict mode; when it passes, commit ``signoffs/<tag>.json`` and tag that commit."""
    from qa_gate.pipeline import judge, prepare, score

    if overrides.mode not in (None, MODE):
        raise SignoffError(f"--mode {overrides.mode}: a sign-off always runs the gate in {MODE} mode")
    repo, root = repository(thresholds)
    path = root / FOLDER / f"{tag}.json"
    _check_ready(repo, root, tag, path)
    prepared = prepare(thresholds, replace(overrides, mode=MODE, no_cache=True))
    verdict = judge(prepared, score(prepared))
    config = prepared.config
    if not verdict.passed:
        return SignedOff(verdict)
    if verdict.skipped:  # a release verdict must hold every configured check
        skipped = "; ".join(f"{m.id}: {m.reason}" for m in verdict.skipped_metrics())
        raise SignoffError(f"sign-off of {tag} refused: metrics were skipped, not computed ({skipped}); "
                           "a release verdict needs every configured check; fix that, or remove the metric "
                           "from the thresholds file")
    _check_ready(repo, root, tag, path)  # nothing may have changed while scoring
    record = SignoffRecord.from_verdict(tag, repo.head.commit.hexsha, message, verdict, config,
                                        in_work_tree(config.baseline_path, root))
    signed = signing_configured(repo)
    return SignedOff(verdict, record, path, _commit_and_tag(repo, root, record, path, signed), signed)


def in_work_tree(path: Path, root: Path) -> str | None:
    """``path`` relative to the work tree ``root`` (posix), or ``None`` outside it."""
    try:
        return Path(os.path.realpath(path)).relative_to(root).as_posix()
    except ValueError:
        return None


def _commit_and_tag(repo: git.Repo, root: Path, record: SignoffRecord, path: Path, signed: bool) -> str:
    """Write, add, commit and tag (``git tag -s`` when ``signed``); on any failure undo what was done, then raise."""
    rel, subject = path.relative_to(root).as_posix(), f"Sign off {record.tag}"
    made = [p for p in (path.parent, *path.parent.parents) if not p.exists()]  # deepest first
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, record.to_json().encode("utf-8"))  # the record is whole or absent
        run(repo, "add", "--", rel)
        run(repo, "commit", "-m", subject, *(("-m", record.message) if record.message else ()), "--", rel)
        commit = repo.head.commit.hexsha
        with one_line_errors("tag"):
            repo.create_tag(record.tag, ref=commit, message=record.summary(), **({"sign": True} if signed else {}))
    except BaseException as exc:
        _rollback(repo, record.commit, subject, rel, (path,), made)
        if isinstance(exc, GitFailed):
            raise SignoffError(f"sign-off of {record.tag} failed ({exc.said}); "
                               "rolled back: nothing was committed or tagged") from None
        raise
    return commit


def _rollback(repo: git.Repo, head: str, subject: str, rel: str, files: Sequence[Path], made: Sequence[Path]) -> None:
    """Drop the sign-off commit (only ours: its subject, parent ``head``), unstage and remove the files."""
    with suppress(GitFailed, ValueError):
        top = repo.head.commit
        if top.hexsha != head and top.summary == subject and [p.hexsha for p in top.parents] == [head]:
            run(repo, "reset", "--soft", head)
    with suppress(GitFailed):
        run(repo, "reset", "-q", head, "--", rel)
    for file in files:
        file.unlink(missing_ok=True)
    for folder in made:
        with suppress(OSError):
            folder.rmdir()


def read_record(thresholds: Path, tag: str) -> tuple[SignoffRecord, str]:
    """The record as committed at ``tag`` (git objects, not the work tree) and the tagged commit's sha."""
    repo, root = repository(thresholds)
    commit = commit_of(repo, f"refs/tags/{tag}")
    if commit is None:
        raise SignoffError(f"no tag {tag!r} in {root}; sign off with: mm-gate signoff --tag {tag}")
    rel = f"{FOLDER}/{tag}.json"
    try:
        blob = blob_at(repo, commit, rel)
    except NotAFile as exc:
        raise SignoffError(f"{exc} at tag {tag}: not an mm-gate sign-off") from None
    if blob is None:
        raise SignoffError(f"tag {tag} (commit {commit[:7]}) holds no {rel}: not an mm-gate sign-off")
    try:
        data = json.loads(blob.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SignoffError(f"{rel} at tag {tag}: not JSON ({exc})") from None
    return SignoffRecord.from_json(data, f"{rel} at tag {tag}"), commit
