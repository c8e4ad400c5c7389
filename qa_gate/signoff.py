"""Release sign-off: a strict gate run recorded in ``signoffs/<tag>.json``, committed and tagged.

``sign_off`` refuses a dirty or unborn tree and an existing tag, runs the gate in strict mode and, only
when it passes, writes the record, commits it (``Sign off <tag>``) and creates an annotated tag; a failure
after the write is rolled back. ``verify`` reads the record from the tag's commit and re-checks the
checkpoint hash, the golden fingerprints and the metric values. git is reached through ``qa_gate.gitrepo``
(gitpython imported lazily).
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
from qa_gate.errors import AdapterError, GateError, GoldenError, first_line
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
from qa_gate.signoff_record import FOLDER, MODE, SignoffError, SignoffRecord, Verification, VerifyItem
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


def _repo(thresholds: Path) -> tuple[git.Repo, Path]:
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
    repo, root = _repo(thresholds)
    path = root / FOLDER / f"{tag}.json"
    _check_ready(repo, root, tag, path)
    prepared = prepare(thresholds, replace(overrides, mode=MODE))
    verdict = judge(prepared, score(prepared))
    if not verdict.passed:
        return SignedOff(verdict)
    if verdict.skipped:  # a release verdict must hold every configured check
        skipped = "; ".join(f"{m.id}: {m.reason}" for m in verdict.skipped_metrics())
        raise SignoffError(f"sign-off of {tag} refused: metrics were skipped, not computed ({skipped}); "
                           "a release verdict needs every configured check; fix that, or remove the metric "
                           "from the thresholds file")
    _check_ready(repo, root, tag, path)  # nothing may have changed while scoring
    record = SignoffRecord.from_verdict(tag, repo.head.commit.hexsha, message, verdict)
    return SignedOff(verdict, record, path, _commit_and_tag(repo, root, record, path))


def _commit_and_tag(repo: git.Repo, root: Path, record: SignoffRecord, path: Path) -> str:
    """Write, add, commit and tag; on any failure undo what was done, then raise."""
    rel, subject = path.relative_to(root).as_posix(), f"Sign off {record.tag}"
    made = [p for p in (path.parent, *path.parent.parents) if not p.exists()]  # deepest first
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, record.to_json().encode("utf-8"))  # the record is whole or absent
        run(repo, "add", "--", rel)
        run(repo, "commit", "-m", subject, *(("-m", record.message) if record.message else ()), "--", rel)
        commit = repo.head.commit.hexsha
        with one_line_errors("tag"):
            repo.create_tag(record.tag, ref=commit, message=record.summary())
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
    repo, root = _repo(thresholds)
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


def verify(thresholds: Path, tag: str, overrides: Overrides = Overrides(), rescore: bool = True,
           tolerance: float = 1e-6) -> Verification:
    """Re-check a sign-off: checkpoint sha256, golden fingerprints and (``rescore``) metric values.

    The checkpoint is the recorded one, relative to the thresholds folder, unless
    ``overrides.checkpoint`` names another (relative to the current directory).
    """
    from qa_gate.adapters.load import checkpoint_digest
    from qa_gate.golden.suite import load_suite

    if not tolerance >= 0:
        raise SignoffError(f"--tolerance {tolerance}: expected a number >= 0")
    record, tagged = read_record(thresholds, tag)
    base, cp = Path(thresholds).absolute().parent, record.checkpoint
    candidate = (Path.cwd() if overrides.checkpoint else base) / Path(overrides.checkpoint or cp.checkpoint)
    location = str(candidate.resolve()) if candidate.exists() else overrides.checkpoint or cp.checkpoint
    now = checkpoint_digest(overrides.adapter or cp.adapter, location)
    if now.startswith("unhashed:") and not cp.sha256.startswith("unhashed:"):
        now = f"missing ({location})"
    items = [VerifyItem(f"checkpoint {cp.checkpoint} sha256", now == cp.sha256, cp.sha256, now)]
    for name, suite in record.suites.items():
        try:
            found = load_suite(base / suite.label, name).fingerprint
        except GateError as exc:
            found = f"unreadable ({first_line(exc)})"
        items.append(VerifyItem(f"suite {name} ({suite.label}) fingerprint", found == suite.fingerprint,
                                suite.fingerprint, found))
    if rescore:
        given = replace(overrides, checkpoint=location, adapter=overrides.adapter or cp.adapter)
        items.extend(_rescore(thresholds, record, given, tolerance))
    return Verification(record, tagged, tuple(items))


def _rescore(thresholds: Path, record: SignoffRecord, overrides: Overrides, tolerance: float) -> list[VerifyItem]:
    """Score again and compare each recorded metric: same definition, value within ``tolerance``."""
    from qa_gate.pipeline import prepare, score

    try:
        run = score(prepare(thresholds, overrides))
    except (GoldenError, AdapterError) as exc:
        return [VerifyItem("metrics", False, "scored", f"cannot re-score ({first_line(exc)})")]
    items = []
    for name, suite in record.suites.items():
        scored = run.suite(name)
        for metric, was in suite.metrics.items():
            item, value = f"metric {name}/{metric}", f"{was['value']:.6f}"
            now = None if scored is None else scored.metrics.get(metric)
            if now is None:
                items.append(VerifyItem(item, False, value, "not scored (not in the thresholds file)"))
            elif now.fingerprint != was["fingerprint"]:
                items.append(VerifyItem(item, False, f"definition {was['fingerprint']}",
                                        f"definition {now.fingerprint}"))
            else:
                diff = abs(now.value - was["value"])
                items.append(VerifyItem(item, diff <= tolerance, value,
                                        f"{now.value:.6f} (|Δ| {diff:.2g}, tolerance {tolerance:g})"))
    return items
