"""Progress of the model's work: one bar per suite and operation, with samples/s and the time left.

On a terminal each (suite, operation) gets a ``tqdm`` bar. Elsewhere (a CI log) a bar prints plain
lines, no carriage returns: one when its work crosses each further tenth, or after
:data:`EVERY_SECONDS` without one, never two within :data:`MIN_SECONDS`, and one when it ends.
``quiet`` (pytest's ``-q``, ``mm-gate --quiet``) prints nothing. A bar's total may grow while it
runs (texts are encoded in several calls per suite); it ends when its suite's work is done.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import IO, Any

EVERY_SECONDS = 30.0
MIN_SECONDS = 1.0
STEPS = 10
UNIT = "sample"


def _duration(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"
    minutes, rest = divmod(int(seconds + 0.5), 60)
    return f"{minutes} min {rest:02d} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"


class Bar:
    """The progress of one operation on one suite."""

    def __init__(self, progress: Progress, label: str) -> None:
        self._progress, self.label = progress, label
        self.total = self.done = 0
        self._began = self._last = progress.clock()
        self._step = 0
        self._bar: Any = None
        self.lines = 0
        self.closed = False

    def grow(self, count: int) -> None:
        """``count`` more samples (or texts) to do."""
        self.total += count
        if self._bar is not None:
            self._bar.total = self.total
            self._bar.refresh()

    def update(self, count: int) -> None:
        """``count`` of them done."""
        self.done += count
        progress = self._progress
        if progress.quiet:
            return
        if progress.tty:
            if self._bar is None:
                from tqdm.auto import tqdm

                self._bar = tqdm(total=self.total, desc=self.label, unit=UNIT, file=progress.stream, leave=True,
                                 dynamic_ncols=True, initial=self.done - count)
            self._bar.update(count)
            return
        now = progress.clock()
        step = int(STEPS * self.done / self.total) if self.total else STEPS
        due = (step > self._step and now - self._last >= MIN_SECONDS) or now - self._last >= EVERY_SECONDS
        if due and self.done < self.total:
            self._step = step
            self._line(now)

    def close(self) -> None:
        """The work is done: the last line (or the bar left standing on a terminal)."""
        if self.closed:
            return
        self.closed = True
        if self._bar is not None:
            self._bar.close()
        elif not self._progress.quiet and not self._progress.tty and self.done:
            self._line(self._progress.clock(), final=True)

    def _line(self, now: float, final: bool = False) -> None:
        elapsed = now - self._began
        rate = self.done / elapsed if elapsed > 0 else 0.0
        shown = f"{rate:.1f}" if rate < 100 else f"{rate:.0f}"
        if final:
            tail = f"done in {_duration(elapsed)}"
        else:
            left = (self.total - self.done) / rate if rate > 0 else 0.0
            tail = f"{_duration(elapsed)} so far, about {_duration(left)} left"
        pct = 100 * self.done // self.total if self.total else 100
        self._progress.write(f"mm-gate: {self.label}: {self.done}/{self.total} ({pct}%), {shown} {UNIT}s/s, {tail}")
        self._last = now
        self.lines += 1


class Progress:
    """Where bars go: ``stream`` (stdout, beside the verdict: stderr holds only an error's one line), whether it
    is a terminal, or nowhere (``quiet``)."""

    def __init__(self, stream: IO[str] | None = None, *, quiet: bool = False, tty: bool | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.stream = sys.stdout if stream is None else stream
        self.quiet = quiet
        isatty = getattr(self.stream, "isatty", None)
        self.tty = bool(isatty()) if tty is None and callable(isatty) else bool(tty)
        self.clock = clock
        self._bars: dict[tuple[str, str], Bar] = {}

    def bar(self, suite: str, operation: str) -> Bar:
        """The bar of ``operation`` on ``suite`` (one per pair, open until :meth:`end_suite`)."""
        key = (suite, operation)
        if key not in self._bars or self._bars[key].closed:
            self._bars[key] = Bar(self, f"{suite}: {operation}")
        return self._bars[key]

    def end_suite(self, suite: str | None = None) -> None:
        """Close the bars of ``suite`` (every bar when ``None``)."""
        for (name, _), bar in list(self._bars.items()):
            if suite is None or name == suite:
                bar.close()

    def write(self, line: str) -> None:
        """One line to the stream (nothing when quiet)."""
        if self.quiet:
            return
        self.stream.write(line + "\n")
        self.stream.flush()

    def warn(self, line: str) -> None:
        """A warning line: printed even when quiet (it says the run is not what it would be)."""
        self.stream.write(line + "\n")
        self.stream.flush()


QUIET = Progress(quiet=True)
"""A progress that prints nothing: the default of code that is not a face."""
