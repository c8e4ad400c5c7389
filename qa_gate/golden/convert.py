"""``mm-gate golden convert``: a suite's manifest rewritten in the other format, ``SHA256SUMS`` and fingerprint kept.

The suite is verified first (every file hashed, no cache); the new manifest is written from the
parsed samples, read back and compared with them before it replaces the old one, so a conversion
never changes a sample. ``SHA256SUMS`` then lists the new manifest's sha256 and keeps the
fingerprint with its ``qa_gate-fingerprint`` line (``golden.sums``): a baseline recorded on the
old manifest stays comparable. Both files are written atomically; the old manifest is removed
between the two.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from qa_gate.errors import GoldenError
from qa_gate.golden.manifest import MANIFESTS, Head, Sample, sample_entry
from qa_gate.golden.manifest_files import FORMATS, content_digest, read_manifest, render_manifest
from qa_gate.golden.problems import Problems, display
from qa_gate.golden.suite import Checked, check_suite
from qa_gate.golden.sums import HASHES, SCRATCH, Alias, listing_fingerprint, render_sums


@dataclass(frozen=True)
class Converted:
    """What :func:`convert_suite` did."""

    source: Path
    target: Path
    fingerprint: str

    def line(self) -> str:
        """What ``mm-gate golden convert`` prints."""
        return (f"wrote {display(self.target)} (from {self.source.name}) and {HASHES}; "
                f"fingerprint unchanged: {self.fingerprint}")


def _ignored(root: Path, where: str, target: str, force: bool) -> tuple[str, ...]:
    """The file to leave out while verifying (a target that ``--force`` overwrites), after the refusals."""
    present = [name for name in MANIFESTS if (root / name).is_file()]
    if target not in present or force:
        return (target,) if target in present and len(present) > 1 else ()
    if len(present) == 1:
        raise GoldenError(f"{where}: the manifest is already {target}; nothing converted (--force rewrites it in "
                          "the canonical layout)")
    other = next(name for name in present if name != target)
    raise GoldenError(f"{where}: holds both {other} and {target}; {target} is not overwritten without --force "
                      f"(which converts {other} over it)")


def _read_back(path: Path, name: str, root: Path, checked: Checked) -> None:
    """Refuse (nothing replaced) a written manifest that does not read back as the suite's samples."""
    problems = Problems(display(root))
    head, samples = read_manifest(path, name, problems,
                                  lambda label, image: root.joinpath(*PurePosixPath(image).parts))
    differ = _first_difference(checked.head, checked.suite.samples, head, samples)
    if problems.items or differ:
        raise GoldenError(f"{display(root)}: the converted manifest does not read back as {checked.manifest} "
                          f"({problems.items[0] if problems.items else differ}); nothing converted")


def _first_difference(head: Head, samples: tuple[Sample, ...], got_head: Head, got: list[Sample]) -> str | None:
    if (head.description or None, head.labels) != (got_head.description or None, got_head.labels):
        return "the description or label set differs"
    if len(samples) != len(got):
        return f"{len(got)} samples instead of {len(samples)}"
    return next((f"sample {a.id!r} differs" for a, b in zip(samples, got) if a != b), None)


def convert_suite(path: Path, to: str, force: bool = False) -> Converted:
    """Rewrite the suite's manifest as ``to`` (``jsonl`` or ``yaml``); refuse to overwrite an existing manifest of
    that format without ``force``. The suite fingerprint is unchanged."""
    if to not in FORMATS:
        raise GoldenError(f"--to {to!r}: expected one of {', '.join(FORMATS)}")
    where, root, target = display(Path(path)), Path(path).resolve(), FORMATS[to]
    if not root.is_dir():
        raise GoldenError(f"{where}: golden suite folder does not exist or is not a folder")
    checked = check_suite(root, ignore=_ignored(root, where, target, force))
    source, samples = checked.manifest, checked.suite.samples
    data = render_manifest(target, checked.head, (sample_entry(sample) for sample in samples))
    listed = {rel: sha for rel, sha in checked.listed.items() if rel not in MANIFESTS}
    listed[target] = hashlib.sha256(data).hexdigest()
    alias: Alias | None = checked.alias or Alias(source, checked.listed[source],
                                                 content_digest(checked.head, samples))
    if alias is not None and alias.name == target and alias.sha256 == listed[target]:
        alias = None  # back to the very file the fingerprint counts
    if listing_fingerprint(listed, alias) != checked.suite.fingerprint:  # cannot happen: the alias keeps it
        raise GoldenError(f"{where}: converting would change the suite fingerprint; nothing converted")
    scratch, sums = root / f".{target}.convert.tmp", root / SCRATCH
    try:
        scratch.write_bytes(data)
        _read_back(scratch, target, root, checked)
        sums.write_text(render_sums(listed, alias), encoding="utf-8")
        os.replace(scratch, root / target)
        if source != target:  # a crash before this line leaves both: convert --force again
            (root / source).unlink()
        os.replace(sums, root / HASHES)
    finally:
        scratch.unlink(missing_ok=True)
        sums.unlink(missing_ok=True)
    return Converted(root / source, root / target, checked.suite.fingerprint)
