"""A baseline kept in one JSON file, written atomically."""

from __future__ import annotations

import json
from pathlib import Path

from qa_gate.baseline.store import dumps, run_from_json
from qa_gate.errors import BaselineError
from qa_gate.files import write_atomic
from qa_gate.results import RunResult


class FileBaselineStore:
    """The baseline at ``path``; a missing file means "no baseline yet"."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def describe(self) -> str:
        """The file's path."""
        return str(self.path)

    def read(self) -> RunResult | None:
        """Parse the file, or ``None`` when it does not exist."""
        if not self.path.exists():
            return None
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            raise BaselineError(f"{self.path}: cannot read baseline: {exc}") from None
        except json.JSONDecodeError as exc:
            raise BaselineError(f"{self.path}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
        return run_from_json(data, str(self.path))

    def write(self, run: RunResult) -> str:
        """Write atomically (temporary file beside the target, fsync, rename)."""
        return str(write_atomic(self.path, dumps(run).encode("utf-8")))
