"""The bar-change lines of shadow references: a branch that edits its own production outputs says so.

An agreement metric's definition holds the reference file's sha256, so a changed file never
compares with the baseline as the same metric; its floors (``answer_agreement: {min: 0.97}``)
would still judge against the new file. So the content of every ``shadow.reference`` (and its
sidecars) is compared with the target branch's at the merge-base, and a difference is a
:class:`~qa_gate.baseline.bar.BarChange` in the bar-change block, shown first in every report.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from qa_gate.baseline.bar import BarChange
from qa_gate.baseline.git import GitBaselineStore
from qa_gate.config.model import GateConfig
from qa_gate.errors import GateError
from qa_gate.gitrepo import blob_at


def _digest(data: bytes | None) -> str:
    return "absent" if data is None else f"sha256 {hashlib.sha256(data).hexdigest()[:12]}"


def reference_files(reference: Path) -> list[Path]:
    """The reference file and the sidecars beside it (``<file>.image_embedding.npy``, ``<file>.settings.json``)."""
    import glob

    return [reference, *sorted(reference.parent.glob(glob.escape(reference.name) + ".*"))]


def reference_changes(store: GitBaselineStore, *configs: GateConfig) -> list[BarChange]:
    """One change per shadow reference file of ``configs`` (the branch's, the merged one) whose content differs
    from the target branch's at the merge-base."""
    out: list[BarChange] = []
    try:
        commit = store.merge_base()
    except GateError:
        return out
    seen: set[Path] = set()
    for suite in (s for config in configs for s in config.suites):
        if suite.shadow is None:
            continue
        for path in reference_files(suite.shadow.reference):
            if path in seen:
                continue
            seen.add(path)
            try:
                rel = Path(path).resolve().relative_to(store.root).as_posix()
            except ValueError:  # outside the repository: nothing committed to compare with
                continue
            try:
                committed = blob_at(store.repo, commit, rel)
            except GateError:
                committed = None
            current = path.read_bytes() if path.is_file() else None
            if committed == current:
                continue
            out.append(BarChange(f"suites.{suite.name}.shadow.reference", f"{rel} {_digest(committed)}",
                                 f"{rel} {_digest(current)}",
                                 "changed: other production outputs; the agreement metrics compare with them"))
    return out
