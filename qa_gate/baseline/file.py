"""A baseline kept in one JSON file, written atomically."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from qa_gate.baseline.base import dumps, run_from_json
from qa_gate.errors import BaselineError
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
        """Write to a temporary file beside the target, fsync, then rename over it."""
        text = dumps(run)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return str(self.path)
