"""``SHA256SUMS``: every file of a suite pinned by its sha256 (``sha256sum -c`` reads it), and the suite fingerprint.

The fingerprint is a digest of the listing (path -> sha256), so it changes whenever any file does. One
comment line may follow the listing (``sha256sum`` skips lines starting with ``#``)::

    # qa_gate-fingerprint: manifest.yaml <sha256 it had> content <sha256 of the samples' canonical form>

``mm-gate golden convert`` writes it: the fingerprint then counts the manifest as the file it was
converted from, so changing a manifest's format (YAML <-> JSON Lines) keeps the fingerprint while
the samples stay the same. The line holds only while the manifest's content (its canonical JSON
Lines form, ``golden.manifest_files.content_digest``) is the recorded one: loading checks that, and
``mm-gate golden hash`` drops a line whose content changed (the fingerprint then changes).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from qa_gate.golden.manifest import MANIFESTS
from qa_gate.golden.problems import ProblemSink

HASHES = "SHA256SUMS"
SCRATCH = f".{HASHES}.tmp"  # write_hashes's own scratch file, never hashed
SUMS_LINE = re.compile(r"^([0-9a-fA-F]{64}) [ *](.+)$")
ALIAS_LINE = re.compile(r"^# qa_gate-fingerprint: (\S+) ([0-9a-f]{64}) content ([0-9a-f]{64})$")


@dataclass(frozen=True)
class Alias:
    """The manifest as the fingerprint counts it: the file ``name`` with ``sha256``, while the manifest's
    canonical content digest is ``content``."""

    name: str
    sha256: str
    content: str

    def line(self) -> str:
        """The comment line of ``SHA256SUMS`` that records it."""
        return f"# qa_gate-fingerprint: {self.name} {self.sha256} content {self.content}"


def find_alias(text: str) -> Alias | None:
    """The alias line of a ``SHA256SUMS`` content, or ``None`` (lenient: for listings read from git objects)."""
    for line in text.splitlines():
        match = ALIAS_LINE.match(line)
        if match and match.group(1) in MANIFESTS:
            return Alias(*match.groups())
    return None


def _posix(path: str) -> PurePosixPath | str:
    """``path`` itself when it is already a normal relative posix path (as written by ``golden hash``), else parsed."""
    if path.startswith("/") or "//" in path or "/./" in f"/{path}/" or "/../" in f"/{path}/":
        return PurePosixPath(path)
    return path


def read_sums(path: Path, problems: ProblemSink) -> tuple[dict[str, str], Alias | None, str]:
    """The listing (posix path -> lowercase sha256), the alias line if any, and the sha256 of the file's bytes."""
    data = path.read_bytes()
    listed: dict[str, str] = {}
    alias: Alias | None = None
    for number, line in enumerate(data.decode("utf-8", errors="replace").splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{HASHES} line {number}"
        if (found := ALIAS_LINE.match(line)) is not None:
            if found.group(1) not in MANIFESTS or alias is not None:
                problems.add(f"{where}: expected one 'qa_gate-fingerprint' line naming {' or '.join(MANIFESTS)}, "
                             f"got {line[:100]!r}")
            alias = Alias(*found.groups())
            continue
        match = SUMS_LINE.match(line)
        pure = _posix(match.group(2)) if match else None
        if match is None or pure is None:
            problems.add(f"{where}: expected '<64 hex digits>  <relative path>', got {line[:100]!r}")
        elif isinstance(pure, PurePosixPath) and (pure.is_absolute() or ".." in pure.parts):
            problems.add(f"{where}: path {match.group(2)!r} leaves the suite folder; expected a relative path")
        elif (rel := pure if isinstance(pure, str) else pure.as_posix()) in listed:
            problems.add(f"{where}: path {match.group(2)!r} is listed twice; expected one line per file")
        else:
            listed[rel] = match.group(1).lower()
    return listed, alias, hashlib.sha256(data).hexdigest()


def listing_fingerprint(listed: Mapping[str, str], alias: Alias | None = None) -> str:
    """The suite fingerprint of a SHA256SUMS listing (path -> sha256): order-independent; with ``alias``, the
    manifest counts as the file the alias names."""
    if alias is not None:
        listed = {rel: sha for rel, sha in listed.items() if rel not in MANIFESTS} | {alias.name: alias.sha256}
    content = "".join(f"{listed[rel]}  {rel}\n" for rel in sorted(listed))
    return hashlib.sha256(content.encode("utf-8")).hexdigest()[:16]


def render_sums(listed: Mapping[str, str], alias: Alias | None = None) -> str:
    """``SHA256SUMS`` text: one ``<sha256>  <path>`` line per file, sorted, then the alias line if any."""
    lines = [f"{listed[rel]}  {rel}\n" for rel in sorted(listed)]
    return "".join(lines) + (alias.line() + "\n" if alias is not None else "")
