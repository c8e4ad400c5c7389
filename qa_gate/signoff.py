"""Release sign-off: a strict gate run recorded in ``signoffs/<tag>.json``, committed and tagged.

``sign_off`` refuses a dirty or unborn tree and an existing tag, runs the gate in strict mode and, only
when it passes, writes the record, commits it (``Sign off <tag>``) and creates an annotated tag; a failure
after the write is rolled back. ``verify`` reads the record from the tag's commit and re-checks the
checkpoint hash, the golden fingerprints and the metric values. gitpython is imported lazily.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from qa_gate.config.model import Overrides
from qa_gate.errors import AdapterError, GateError, GoldenError
from qa_gate.files import write_atomic
from qa_gate.results import CheckpointInfo
from qa_gate.verdict.checks import Verdict

if TYPE_CHECKING:
    import git

FORMAT, VERSION, FOLDER, MODE, LISTED = "qa-gate-signoff", 1, "signoffs", "strict", 10
_KINDS = dict(M="modified", A="added", D="deleted", R="renamed", C="copied", T="type changed", U="unmerged")


class SignoffError(GateError):
    """A sign-off cannot be made or verified: no git, dirty tree, existing tag, missing record."""


def _frozen(value: Any) -> Any:
    """JSON data made read-only: mappings become ``MappingProxyType``, lists tuples."""
    if isinstance(value, Mapping):
        return MappingProxyType({k: _frozen(v) for k, v in value.items()})
    return tuple(_frozen(v) for v in value) if isinstance(value, (list, tuple)) else value


@dataclass(frozen=True)
class SuiteRecord:
    """A golden suite as signed off; ``metrics`` maps a name to its value, fingerprint and definition."""

    label: str
    fingerprint: str
    samples: int
    metrics: Mapping[str, Mapping[str, Any]]


@dataclass(frozen=True)
class SignoffRecord:
    """The content of ``signoffs/<tag>.json``; ``commit`` is HEAD before the sign-off commit."""

    tag: str
    created: str
    commit: str
    message: str | None
    verdict: Mapping[str, Any]
    checkpoint: CheckpointInfo
    suites: Mapping[str, SuiteRecord]
    environment: Mapping[str, str]

    @classmethod
    def from_verdict(cls, tag: str, commit: str, message: str | None, verdict: Verdict) -> SignoffRecord:
        """The record of a passing strict ``verdict`` on ``commit``, created now (UTC)."""
        checks = [{"id": c.id, "suite": c.suite, "metric": c.metric, "status": c.status.value, "value": c.value,
                   "baseline": c.baseline, "delta": c.delta, "message": c.message, "rule": {
                       "kind": c.rule.kind, "value": c.rule.value, "mode": None if c.rule.is_floor else c.rule.mode}}
                  for c in verdict.checks]
        suites = {s.name: SuiteRecord(s.label, s.fingerprint, len(s.samples), _frozen({
            m.name: {"value": m.value, "fingerprint": m.fingerprint, "definition": m.definition}
            for m in s.metrics.values()})) for s in verdict.run.suites}
        summary = {"passed": verdict.passed, "mode": MODE, "baseline_source": verdict.baseline_source,
                   "notes": verdict.notes, "checks": checks}
        return cls(tag, datetime.now(timezone.utc).isoformat(timespec="seconds"), commit, message,
                   _frozen(summary), verdict.run.checkpoint, MappingProxyType(suites),
                   _frozen(verdict.run.environment))

    def to_json(self) -> str:
        """The record file's text: stable key order, one trailing newline."""
        cp = self.checkpoint
        data = {"format": FORMAT, "version": VERSION, "tag": self.tag, "created": self.created,
                "commit": self.commit, "message": self.message, "verdict": self.verdict,
                "checkpoint": {"adapter": cp.adapter, "path": cp.checkpoint, "sha256": cp.sha256,
                               "model_name": cp.model_name},
                "suites": {n: {"label": s.label, "fingerprint": s.fingerprint, "samples": s.samples}
                           for n, s in self.suites.items()},
                "metrics": {n: s.metrics for n, s in self.suites.items()}, "environment": self.environment}
        return json.dumps(data, indent=1, sort_keys=True, default=dict) + "\n"

    @classmethod
    def from_json(cls, data: Any, source: str) -> SignoffRecord:
        """Parse a record; ``SignoffError`` naming ``source`` when it is not one."""
        if not isinstance(data, Mapping) or data.get("format") != FORMAT or data.get("version") != VERSION:
            raise SignoffError(f"{source}: not a version {VERSION} mm-gate sign-off record")
        try:
            cp, metrics = data["checkpoint"], data["metrics"]
            suites = {n: SuiteRecord(str(s["label"]), str(s["fingerprint"]), int(s["samples"]), _frozen(
                {m: {"value": float(v["value"]), "fingerprint": str(v["fingerprint"]), "definition": v["definition"]}
                 for m, v in metrics[n].items()})) for n, s in data["suites"].items()}
            checkpoint = CheckpointInfo(*(str(cp[k]) for k in ("adapter", "path", "sha256", "model_name")))
            return cls(str(data["tag"]), str(data["created"]), str(data["commit"]), data.get("message"),
                       _frozen(data["verdict"]), checkpoint, MappingProxyType(suites), _frozen(data["environment"]))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise SignoffError(f"{source}: malformed sign-off record ({type(exc).__name__}: {exc})") from None

    def summary(self) -> str:
        """The annotated tag's message: verdict, checkpoint hash, suite fingerprints, metric values."""
        cp, outcome = self.checkpoint, "PASSED" if self.verdict.get("passed") else "FAILED"
        lines = [f"Sign off {self.tag}: mm-gate verdict {outcome} in {MODE} mode "
                 f"({len(self.verdict.get('checks', ()))} checks)",
                 f"checkpoint {cp.checkpoint} ({cp.adapter}) sha256 {cp.sha256}"]
        for name, s in self.suites.items():
            values = ", ".join(f"{m} {v['value']:.6f}" for m, v in s.metrics.items())
            lines.append(f"suite {name} ({s.label}, {s.samples} samples) fingerprint {s.fingerprint}: {values}")
        lines.append(f"record {FOLDER}/{self.tag}.json; signed-off commit {self.commit}")
        return "\n".join(lines + (["", self.message] if self.message else []))


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
        import git
    except ImportError as exc:  # gitpython found no usable git executable
        raise SignoffError(f"git cannot be run ({exc}); a sign-off needs git") from None
    try:
        repo = git.Repo(folder, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        raise SignoffError(f"{folder}: not inside a git work tree; a sign-off commits a record and tags it") from None
    if repo.bare or repo.working_tree_dir is None:
        raise SignoffError(f"{folder}: a bare repository has no work tree to sign off")
    return repo, Path(os.path.realpath(repo.working_tree_dir))


def _check_ready(repo: git.Repo, root: Path, tag: str, path: Path) -> None:
    """Refuse an invalid or existing tag, an unborn HEAD, a missing identity or a dirty tree."""
    import git

    status = repo.git.check_ref_format(f"refs/tags/{tag}", with_exceptions=False, with_extended_output=True)[0]
    if status != 0 or tag.startswith("-"):
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
                repo.git.config("--get", f"user.{key}")
        except git.GitCommandError:
            raise SignoffError(f"no git identity in {root}: user.{key} is not set; the sign-off commit and tag "
                               f"are made in your name: git config user.{key} ...") from None
    dirty, skip = [], False  # modified or staged tracked files, untracked files that are not ignored
    for entry in repo.git.status("--porcelain=v1", "-z", "--untracked-files=normal").split("\0"):
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
    import git

    rel, subject = path.relative_to(root).as_posix(), f"Sign off {record.tag}"
    made = [p for p in (path.parent, *path.parent.parents) if not p.exists()]  # deepest first
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, record.to_json().encode("utf-8"))  # the record is whole or absent
        repo.git.add("--", rel)
        repo.git.commit("-m", subject, *(("-m", record.message) if record.message else ()), "--", rel)
        commit = repo.head.commit.hexsha
        repo.create_tag(record.tag, ref=commit, message=record.summary())
    except BaseException as exc:
        _rollback(repo, record.commit, subject, rel, (path,), made)
        if isinstance(exc, git.GitCommandError):
            said = str(exc.stderr or exc).strip().removeprefix("stderr:").strip().strip("'").strip()
            raise SignoffError(f"sign-off of {record.tag} failed ({said.splitlines()[0] if said else exc}); "
                               "rolled back: nothing was committed or tagged") from None
        raise
    return commit


def _rollback(repo: git.Repo, head: str, subject: str, rel: str, files: Sequence[Path], made: Sequence[Path]) -> None:
    """Drop the sign-off commit (only ours: its subject, parent ``head``), unstage and remove the files."""
    import git

    with suppress(git.GitCommandError, ValueError):
        top = repo.head.commit
        if top.hexsha != head and top.summary == subject and [p.hexsha for p in top.parents] == [head]:
            repo.git.reset("--soft", head)
    with suppress(git.GitCommandError):
        repo.git.reset("-q", head, "--", rel)
    for file in files:
        file.unlink(missing_ok=True)
    for folder in made:
        with suppress(OSError):
            folder.rmdir()


@dataclass(frozen=True)
class VerifyItem:
    """One re-checked item: whether it matches, and its recorded and current values."""

    item: str
    ok: bool
    recorded: str
    now: str


@dataclass(frozen=True)
class Verification:
    """A sign-off read from its tag, and every item re-checked."""

    record: SignoffRecord
    tagged_commit: str
    items: tuple[VerifyItem, ...]

    @property
    def passed(self) -> bool:
        """True when every item matches."""
        return all(i.ok for i in self.items)

    def lines(self) -> list[str]:
        """A header, one ``ok`` / ``MISMATCH`` line per item, and a conclusion."""
        r, bad = self.record, sum(not i.ok for i in self.items)
        body = [f"ok        {i.item}: {i.now}" if i.ok else f"MISMATCH  {i.item}: recorded {i.recorded}, now {i.now}"
                for i in self.items]
        tail = f"verified: all {len(self.items)} items match" if not bad else \
            f"does NOT verify: {bad} of {len(self.items)} items differ"
        return [f"mm-gate: sign-off {r.tag} (tag on {self.tagged_commit[:7]}, signed-off commit {r.commit[:7]}, "
                f"created {r.created})", *body, f"mm-gate: sign-off {r.tag} {tail}"]


def read_record(thresholds: Path, tag: str) -> tuple[SignoffRecord, str]:
    """The record as committed at ``tag`` (git objects, not the work tree) and the tagged commit's sha."""
    repo, root = _repo(thresholds)
    try:
        commit = repo.tags[tag].commit
    except (IndexError, ValueError):
        raise SignoffError(f"no tag {tag!r} in {root}; sign off with: mm-gate signoff --tag {tag}") from None
    rel = f"{FOLDER}/{tag}.json"
    try:
        data = json.loads((commit.tree / rel).data_stream.read().decode("utf-8"))
    except KeyError:
        raise SignoffError(f"tag {tag} (commit {commit.hexsha[:7]}) holds no {rel}: not an mm-gate sign-off") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SignoffError(f"{rel} at tag {tag}: not JSON ({exc})") from None
    return SignoffRecord.from_json(data, f"{rel} at tag {tag}"), commit.hexsha


def verify(thresholds: Path, tag: str, overrides: Overrides = Overrides(), rescore: bool = True,
           tolerance: float = 1e-6) -> Verification:
    """Re-check a sign-off: checkpoint sha256, golden fingerprints and (``rescore``) metric values.

    The checkpoint is the recorded one, relative to the thresholds folder, unless
    ``overrides.checkpoint`` names another (relative to the current directory).
    """
    from qa_gate.files import checkpoint_sha256
    from qa_gate.golden.suite import load_suite

    if not tolerance >= 0:
        raise SignoffError(f"--tolerance {tolerance}: expected a number >= 0")
    record, tagged = read_record(thresholds, tag)
    base, cp = Path(thresholds).absolute().parent, record.checkpoint
    candidate = (Path.cwd() if overrides.checkpoint else base) / Path(overrides.checkpoint or cp.checkpoint)
    location = str(candidate.resolve()) if candidate.exists() else overrides.checkpoint or cp.checkpoint
    now = checkpoint_sha256(location)
    if now.startswith("unhashed:") and not cp.sha256.startswith("unhashed:"):
        now = f"missing ({location})"
    items = [VerifyItem(f"checkpoint {cp.checkpoint} sha256", now == cp.sha256, cp.sha256, now)]
    for name, suite in record.suites.items():
        try:
            found = load_suite(base / suite.label, name).fingerprint
        except GateError as exc:
            found = f"unreadable ({str(exc).splitlines()[0]})"
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
        return [VerifyItem("metrics", False, "scored", f"cannot re-score ({str(exc).splitlines()[0]})")]
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
