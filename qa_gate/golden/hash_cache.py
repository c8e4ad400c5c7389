"""A local record of golden files already verified, so an unchanged file need not be hashed again.

One JSON file per suite folder under ``$XDG_CACHE_HOME/qa_gate/golden/`` (``~/.cache`` without it)
holds, for the suite's ``SHA256SUMS`` content (its sha256), each file verified against it with its
size, ``mtime_ns``, inode and ``ctime_ns``. A file whose stat still matches its entry is taken as
verified; any difference, or an entry written for another ``SHA256SUMS`` (another suite version),
means hashing it. A file modified in the :data:`RACY_NS` before it was hashed is not recorded (a
rewrite in the same timestamp tick would keep its stat). Strict runs and sign-offs never use it.

A cache folder that cannot be read or written costs one warning line; the run verifies without it.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from qa_gate.config.model import GateConfig, Overrides
from qa_gate.errors import first_line
from qa_gate.files import write_atomic

FORMAT = 1
RACY_NS = 2_000_000_000
"""A file modified less than this before it was hashed is hashed again next time (FAT has 2 s timestamps)."""
Key = tuple[int, int, int, int]
_warned: set[str] = set()


def cache_home(environ: Mapping[str, str] = os.environ) -> Path:
    """``$XDG_CACHE_HOME/qa_gate`` (``~/.cache/qa_gate`` when it is unset or not absolute)."""
    base = environ.get("XDG_CACHE_HOME", "")
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".cache"
    return root / "qa_gate"


def stat_key(st: os.stat_result) -> Key:
    """What must stay the same for a file to count as unchanged: size, mtime_ns, inode, ctime_ns."""
    return (st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns)


def _warn(folder: Path, reason: str) -> None:
    """One warning line per cache folder and process."""
    if str(folder) in _warned:
        return
    _warned.add(str(folder))
    print(f"mm-gate: warning: golden hash cache {folder} not used ({reason}); every golden file is hashed",
          file=sys.stderr)


class HashCache:
    """The verified files of the suite at ``root`` under one ``SHA256SUMS`` (``sums_digest``)."""

    def __init__(self, root: Path, sums_digest: str, folder: Path | None = None) -> None:
        self.root = str(root)
        self.sums_digest = sums_digest
        self.folder = (folder or cache_home()) / "golden"
        self.path = self.folder / f"{hashlib.sha256(self.root.encode('utf-8')).hexdigest()[:32]}.json"
        self.entries: dict[str, tuple[Key, str]] = {}
        self.fresh: dict[str, tuple[Key, str]] = {}  # what this run verified
        self.started_ns = time.time_ns()
        self._read()

    def _read(self) -> None:
        try:
            data = json.loads(self.path.read_bytes())
        except FileNotFoundError:
            return
        except (OSError, ValueError) as exc:  # unreadable or corrupt: trust nothing, rewrite it later
            if isinstance(exc, PermissionError):
                _warn(self.folder, first_line(exc))
            return
        if not (isinstance(data, dict) and data.get("format") == FORMAT and data.get("suite") == self.root
                and data.get("sums") == self.sums_digest and isinstance(data.get("files"), dict)):
            return  # another suite version (or another qa_gate): never trusted
        for rel, item in data["files"].items():
            if (isinstance(item, list) and len(item) == 5 and all(type(x) is int for x in item[:4])
                    and isinstance(item[4], str)):
                self.entries[rel] = ((item[0], item[1], item[2], item[3]), item[4])

    def lookup(self, rel: str, key: Key) -> str | None:
        """The sha256 recorded for ``rel`` when its stat ``key`` is the recorded one, else ``None``."""
        entry = self.entries.get(rel)
        return entry[1] if entry is not None and entry[0] == key else None

    def record(self, rel: str, key: Key, sha256: str) -> None:
        """``rel`` with stat ``key`` matched its listed ``sha256`` in this run."""
        if key[1] < self.started_ns - RACY_NS:
            self.fresh[rel] = (key, sha256)

    def save(self) -> None:
        """Write what this run verified, when it differs from what was read; a failure is one warning line."""
        if self.fresh == self.entries:
            return
        files: dict[str, Any] = {rel: [*key, sha] for rel, (key, sha) in sorted(self.fresh.items())}
        data = {"format": FORMAT, "suite": self.root, "sums": self.sums_digest, "files": files}
        try:
            write_atomic(self.path, json.dumps(data, separators=(",", ":")).encode("utf-8"))
        except OSError as exc:
            _warn(self.folder, exc.strerror or first_line(exc))


def hash_cache_allowed(config: GateConfig, overrides: Overrides) -> bool:
    """Whether a run may take golden files from the cache: never when any rule is judged strictly (``--mm-mode
    strict``, ``gate.mode: strict``, a sign-off) or the output cache is off (``--mm-no-cache``)."""
    metrics = [m for suite in config.suites for m in (*suite.metrics, *(m for s in suite.slices for m in s.metrics))]
    rules = [rule for metric in metrics for rule in metric.rules]
    strict = overrides.mode == "strict" or (overrides.mode is None and config.mode == "strict")
    return not (strict or any(rule.mode == "strict" for rule in rules) or getattr(overrides, "no_cache", False))
