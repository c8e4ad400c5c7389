"""``mm-gate golden verify --provenance``: an imported suite's sources re-hashed against ``provenance.json``.

The suite itself is pinned by ``SHA256SUMS`` (``provenance.json`` among its files); this checks the
other side, that the data it was imported from is still what it was (a dataset re-downloaded or
silently replaced upstream shows here). Source paths are recorded relative to the suite folder.
"""

from __future__ import annotations

import json
from pathlib import Path

from qa_gate.errors import GoldenError
from qa_gate.golden.imports.write import PROVENANCE, sha256_file
from qa_gate.golden.problems import Problems, display


def check_provenance(suite: Path) -> str:
    """One line saying the sources match; ``GoldenError`` listing each source missing or changed."""
    where, path = display(Path(suite)), Path(suite) / PROVENANCE
    if not path.is_file():
        return f"ok {where}: no {PROVENANCE} (not imported): no sources to check"
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        sources = [(str(s["path"]), str(s["sha256"])) for s in record["sources"]]
    except (ValueError, KeyError, TypeError) as exc:
        raise GoldenError(f"{where}: {PROVENANCE} is not an import record ({type(exc).__name__}: {exc}); "
                          "expected the file mm-gate golden import writes") from None
    problems = Problems(where)
    for rel, sha in sources:
        source = Path(suite) / rel
        if not source.is_file():
            problems.add(f"{PROVENANCE}: source {rel!r} is not at {display(source)}; cannot check it was not changed")
        elif (now := sha256_file(source)) != sha:
            problems.add(f"{PROVENANCE}: source {display(source)} changed since the import (sha256 recorded "
                         f"{sha[:12]}…, now {now[:12]}…); re-import it deliberately (--force) if the change is wanted")
    problems.raise_if_any()
    return f"ok {where}: {len(sources)} {record.get('format', '')} source(s) match {PROVENANCE}"
