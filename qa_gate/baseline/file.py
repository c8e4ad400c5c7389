"""A baseline kept in one JSON file, written atomically."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from qa_gate.baseline.changes import Changes, HistoryPoint
from qa_gate.baseline.run_json import dumps, run_from_json
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
            raise BaselineError(f"{self.path}: invalid JSON at line {exc.lineno} column {exc.colno}: "
                                f"{exc.msg}") from None
        return run_from_json(data, str(self.path))

    def write(self, run: RunResult) -> str:
        """Write atomically (temporary file beside the target, fsync, rename)."""
        return str(write_atomic(self.path, dumps(run).encode("utf-8")))

    def changes(self, suite_paths: Sequence[Path]) -> Changes:
        """Nothing: a plain file has no target branch to compare with."""
        return Changes()

    def history(self, limit: int = 10) -> list[HistoryPoint]:
        """Nothing: a plain file keeps no earlier versions."""
        return []
