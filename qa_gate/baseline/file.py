"""A baseline kept in one JSON file, written atomically under a writer's lock."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from qa_gate.baseline.changes import Changes, HistoryPoint
from qa_gate.baseline.run_json import UnreadableBaseline, dumps, run_from_json
from qa_gate.errors import BaselineError, first_line
from qa_gate.files import FileBusy, file_lock, file_sha256, stale_temps, write_atomic
from qa_gate.results import RunResult


class Unchecked:
    """The type of :data:`UNCHECKED`: "write whatever the file holds now"."""


UNCHECKED = Unchecked()


def content_digest(path: Path) -> str | None:
    """The sha256 of the file at ``path`` (``None`` when there is none): what a writer expects to replace.

    A path that cannot be read gives ``"unreadable: <reason>"``, so taking a digest never fails.
    """
    try:
        return file_sha256(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        return f"unreadable: {exc.strerror or type(exc).__name__}"


class FileBaselineStore:
    """The baseline at ``path``; a missing file means "no baseline yet"."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def describe(self) -> str:
        """The file's path."""
        return str(self.path)

    def read(self) -> RunResult | None:
        """Parse the file, or ``None`` when it does not exist; :class:`UnreadableBaseline` when it is corrupt."""
        if not self.path.exists():
            return None
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            raise UnreadableBaseline(f"{self.path}: cannot read baseline: {first_line(exc)}") from None
        except json.JSONDecodeError as exc:
            raise UnreadableBaseline(f"{self.path}: invalid JSON at line {exc.lineno} column {exc.colno}: "
                                     f"{exc.msg}") from None
        return run_from_json(data, str(self.path))

    def write(self, run: RunResult, expected: str | None | Unchecked = UNCHECKED) -> str:
        """Write atomically (temporary file beside the target, fsync, rename) while holding the file's lock.

        With ``expected`` (a :func:`content_digest` taken when the run started; ``None``: no
        file then), the write is refused when the file changed since: another update
        finished first, and its baseline is kept rather than silently replaced. Temporary
        files left by a killed writer are removed. Raises :class:`BaselineError`.
        """
        try:
            with file_lock(self.path):
                for leftover in stale_temps(self.path):
                    leftover.unlink(missing_ok=True)
                if not isinstance(expected, Unchecked) and content_digest(self.path) != expected:
                    raise BaselineError(
                        f"baseline not updated: {self.path} changed while this run was scoring (another baseline "
                        "update finished first?); its new content is kept: run the update again to replace it")
                return str(write_atomic(self.path, dumps(run).encode("utf-8")))
        except FileBusy as exc:
            raise BaselineError(f"baseline not updated: {exc}") from None
        except OSError as exc:
            raise BaselineError(f"baseline not updated: cannot write {self.path}: {first_line(exc)}") from None

    def changes(self, suite_paths: Sequence[Path], watched: Sequence[Path] = ()) -> Changes:
        """Nothing: a plain file has no target branch to compare with."""
        return Changes()

    def history(self, limit: int = 10) -> list[HistoryPoint]:
        """Nothing: a plain file keeps no earlier versions."""
        return []
