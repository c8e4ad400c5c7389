"""Collecting every problem of one golden suite, then raising them as one ``GoldenError``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol

from qa_gate.errors import GoldenError

MAX_SHOWN = 20
"""How many problems one error lists before "... and N more"."""


class ProblemSink(Protocol):
    """Where parsing reports what it refuses (:class:`Problems`)."""

    def add(self, message: str) -> None:
        """Record one problem."""
        ...


def display(path: Path) -> str:
    """The path relative to the current directory when it lies inside it, else absolute."""
    absolute = Path(os.path.abspath(path))
    try:
        return absolute.relative_to(Path.cwd()).as_posix()
    except ValueError:
        return absolute.as_posix()


class Problems:
    """Collects every problem found in one suite (``where`` is the folder as shown), then raises them as one error."""

    def __init__(self, where: str) -> None:
        self.where = where
        self.items: list[str] = []
        self.paths: set[str] = set()  # files already reported through a sample
        self.hint = f"if the change is deliberate run: mm-gate golden hash {where}"

    def add(self, message: str) -> None:
        """Record one problem."""
        self.items.append(f"{self.where}: {message}")

    def raise_if_any(self, note: str = "") -> None:
        """Raise the problems recorded so far as one ``GoldenError`` (``note`` follows the first line)."""
        if len(self.items) == 1:
            raise GoldenError(self.items[0] + note)
        if self.items:
            lines = [f"  - {item.removeprefix(self.where + ': ')}" for item in self.items[:MAX_SHOWN]]
            if len(self.items) > MAX_SHOWN:
                lines.append(f"  ... and {len(self.items) - MAX_SHOWN} more")
            head = f"{self.where}: {len(self.items)} problems in the golden suite{note}:"
            raise GoldenError("\n".join([head, *lines]))
