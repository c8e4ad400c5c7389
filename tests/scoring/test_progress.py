"""Progress of the model's work: plain bounded lines off a terminal, tqdm on one, nothing when quiet."""

from __future__ import annotations

import io
import re
import subprocess
import sys

from qa_gate.scoring.progress import Progress

LINE = re.compile(r"^mm-gate: shapes: decode \+ encode images: \d+/\d+ \(\d+%\), [\d.]+ samples/s, .+$")


class Clock:
    """A clock the test moves."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _run(progress: Progress, clock: Clock, batches: int, size: int = 64, seconds: float = 0.5) -> None:
    bar = progress.bar("shapes", "decode + encode images")
    bar.grow(batches * size)
    for _ in range(batches):
        clock.now += seconds
        bar.update(size)
    progress.end_suite()


def test_off_a_terminal_lines_are_plain_and_about_one_per_tenth() -> None:
    clock, out = Clock(), io.StringIO()
    _run(Progress(out, tty=False, clock=clock), clock, batches=400)
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue() and "\x1b" not in out.getvalue()
    assert all(LINE.match(line) for line in lines), lines
    assert 9 <= len(lines) <= 11 + 200 // 30  # a tenth each, one every 30 s at most, the last
    assert lines[-1].startswith("mm-gate: shapes: decode + encode images: 25600/25600 (100%)")
    assert "done in 3 min 20 s" in lines[-1]


def test_a_slow_operation_prints_every_30_seconds_between_tenths() -> None:
    clock, out = Clock(), io.StringIO()
    _run(Progress(out, tty=False, clock=clock), clock, batches=20, seconds=20.0)  # 400 s, 5% a batch
    lines = out.getvalue().splitlines()
    assert 10 <= len(lines) <= 11 + 400 // 30
    assert "left" in lines[0]


def test_a_short_operation_prints_one_line() -> None:
    clock, out = Clock(), io.StringIO()
    _run(Progress(out, tty=False, clock=clock), clock, batches=3, seconds=0.1)
    assert len(out.getvalue().splitlines()) == 1


def test_quiet_prints_nothing_but_warnings() -> None:
    clock, out = Clock(), io.StringIO()
    progress = Progress(out, quiet=True, clock=clock)
    _run(progress, clock, batches=50)
    assert out.getvalue() == ""
    progress.warn("mm-gate: warning: x")
    assert out.getvalue() == "mm-gate: warning: x\n"


def test_on_a_terminal_it_is_a_tqdm_bar() -> None:
    clock, out = Clock(), io.StringIO()
    _run(Progress(out, tty=True, clock=clock), clock, batches=5)
    text = out.getvalue()
    assert "\r" in text and "shapes: decode + encode images" in text and "320/320" in text


def test_progress_and_tqdm_import_no_torch() -> None:
    code = "import qa_gate.scoring.progress, tqdm.auto, sys; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip() == "False"
