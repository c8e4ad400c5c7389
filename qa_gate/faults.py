"""How both faces end a run that did not finish normally: exit codes, interrupts, internal errors. No pytest here.

The exit codes mean the same for ``pytest --mm-gate`` and ``mm-gate``: 0 the gate passed,
1 it found a failing check, 2 the run was interrupted (Ctrl-C), 4 a usage or input error
(any :class:`~qa_gate.errors.GateError`, an unknown option, a refused baseline update).
An exception that is none of these is a qa_gate bug: also exit 4, reported in one line as an
*internal error*; ``--debug`` (``--mm-debug``) shows its traceback.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from qa_gate.errors import first_line

if TYPE_CHECKING:
    from qa_gate.config.model import GateConfig

EXIT_OK, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_USAGE = 0, 1, 2, 4

Signature = tuple[int, int, int]
"""A file's inode, modification time (ns) and size: any write by the run changes one of them."""


def internal_error_line(error: BaseException, debug_option: str) -> str:
    """One line for an exception qa_gate did not expect: its type, its first line, how to see the traceback."""
    what = type(error).__name__ + (f": {first_line(error)}" if str(error).strip() else "")
    return (f"mm-gate: internal error: {what} (a qa_gate bug, or a failure it does not recognise; "
            f"rerun with {debug_option} for the traceback)")


def _signature(path: Path) -> Signature | None:
    try:
        found = path.stat()
    except OSError:
        return None
    return (found.st_ino, found.st_mtime_ns, found.st_size)


def _shown(path: Path) -> str:
    """``path`` relative to the current directory when inside it."""
    try:
        return Path(path).absolute().relative_to(Path.cwd()).as_posix()
    except ValueError:
        return str(path)


@dataclass(frozen=True)
class Outputs:
    """The files a run may write, each with its state before the run delivered (``None``: absent).

    Compared again after an interrupt, they say what was written and what was not.
    """

    entries: tuple[tuple[str, Path, Signature | None], ...]

    @classmethod
    def of(cls, config: GateConfig, html: Path | None, environ: Mapping[str, str] = os.environ) -> Outputs:
        """The report, the HTML report, the job summary and the baseline of a run of ``config``, as they are now."""
        summary = environ.get("GITHUB_STEP_SUMMARY")
        named = (("report", config.report_path), ("HTML report", html),
                 ("job summary", Path(summary) if summary else None), ("baseline", config.baseline_path))
        return cls(tuple((what, path, _signature(path)) for what, path in named if path is not None))

    def _split(self) -> tuple[list[str], list[str]]:
        written: list[str] = []
        kept: list[str] = []
        for what, path, before in self.entries:
            (kept if _signature(path) == before else written).append(f"{what} {_shown(path)}")
        return written, kept

    def written(self) -> tuple[str, ...]:
        """``"report report.md"`` for each file that changed since the snapshot."""
        return tuple(self._split()[0])

    def interrupted_line(self, stage: str) -> str:
        """One line for a run interrupted ``stage`` (``"while scoring"``): what was written, what was not."""
        written, kept = self._split()
        if not written:
            untouched = f" ({', '.join(kept)} left as they were)" if kept else ""
            return f"mm-gate: interrupted {stage}; nothing was written{untouched}"
        tail = f"; not written: {', '.join(kept)}" if kept else ""
        return f"mm-gate: interrupted {stage}; written before the interrupt: {', '.join(written)}{tail}"


def interrupted_line(outputs: Outputs | None, stage: str) -> str:
    """The line for a run interrupted ``stage``; ``outputs`` is ``None`` before the run knew its files."""
    return f"mm-gate: interrupted {stage}; nothing was written" if outputs is None else outputs.interrupted_line(stage)
