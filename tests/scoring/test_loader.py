"""``load_batches``: batches in sample order whatever the workers, bounded look-ahead, errors as raised."""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from typing import Any

import pytest

from qa_gate.scoring.loader import Loaded, default_workers, load_batches


def _square(x: int) -> tuple[int, float]:
    return x * x, 0.5


@pytest.mark.parametrize("workers", [0, 1, 2, 3, 4, 7])
@pytest.mark.parametrize("ahead", [0, 2])
def test_batches_come_in_sample_order(workers: int, ahead: int) -> None:
    got = list(load_batches(list(range(23)), 5, _square, workers=workers, ahead=ahead))
    assert [b.start for b in got] == [0, 5, 10, 15, 20]
    assert [len(b.items) for b in got] == [5, 5, 5, 5, 3]
    assert [x for b in got for x in b.items] == [x * x for x in range(23)]
    assert [b.seconds for b in got] == [2.5, 2.5, 2.5, 2.5, 1.5]  # the batch's preparing seconds, summed


def test_no_samples_no_batches() -> None:
    assert list(load_batches([], 4, _square, workers=2)) == []


def test_the_workers_run_in_parallel() -> None:
    barrier = threading.Barrier(3, timeout=10)  # three loads that each wait for the others: needs 3 threads

    def meet(x: int) -> tuple[int, float]:
        barrier.wait()
        return x, 0.0

    assert [b.items for b in load_batches([1, 2, 3], 3, meet, workers=3)] == [[1, 2, 3]]


class Started:
    """Records how many loads began before each batch was handed over."""

    def __init__(self) -> None:
        self.count = 0
        self.lock = threading.Lock()

    def load(self, x: int) -> tuple[int, float]:
        with self.lock:
            self.count += 1
        return x, 0.0

    def settle(self, expected: int = 0) -> int:
        """The count once the workers reached ``expected`` (or 5 s passed) and a little more time went by."""
        deadline = time.monotonic() + 5
        while self.count < expected and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(0.05)  # time to overshoot, were the look-ahead unbounded
        return self.count


@pytest.mark.parametrize("ahead", [0, 1, 2])
def test_look_ahead_is_bounded(ahead: int) -> None:
    started = Started()
    seen = []
    expected = [min(40, 4 * (i + 1 + ahead)) for i in range(10)]
    for i, batch in enumerate(load_batches(list(range(40)), 4, started.load, workers=2, ahead=ahead)):
        seen.append(started.settle(expected[i]))
        assert isinstance(batch, Loaded)
    assert seen == expected


def test_an_error_is_raised_as_it_was_and_the_rest_is_cancelled() -> None:
    started = Started()

    def load(x: int) -> tuple[int, float]:
        if x == 6:
            raise ValueError("sample 6 is broken")
        return started.load(x)

    batches = load_batches(list(range(100)), 4, load, workers=2, ahead=2)
    assert next(batches).items == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="^sample 6 is broken$"):
        next(batches)
    assert started.settle() < 40  # nothing after the look-ahead was loaded


def test_closing_early_stops_the_workers() -> None:
    started = Started()
    batches = load_batches(list(range(400)), 4, started.load, workers=2, ahead=1)
    next(batches)
    batches.close()
    count = started.settle()
    assert count <= 12 and started.settle() == count


def test_the_context_is_entered_in_each_worker_thread() -> None:
    local = threading.local()

    @contextmanager
    def context() -> Any:
        local.inside = True
        try:
            yield
        finally:
            local.inside = False

    def load(x: int) -> tuple[bool, float]:
        return getattr(local, "inside", False), 0.0

    assert all(all(b.items) for b in load_batches(list(range(12)), 3, load, workers=3, context=context))


def test_default_workers_is_none_on_the_cpu_and_at_most_four_elsewhere() -> None:
    assert default_workers("cpu") == 0
    assert 1 <= default_workers("cuda") <= 4


def test_no_workers_loads_each_batch_in_the_calling_thread_when_it_is_taken() -> None:
    started = Started()
    threads: set[int] = set()

    def load(x: int) -> tuple[int, float]:
        threads.add(threading.get_ident())
        return started.load(x)

    batches = load_batches(list(range(40)), 4, load, workers=0, ahead=2)
    assert next(batches).items == [0, 1, 2, 3]
    assert started.settle() == 4  # nothing loaded ahead
    assert next(batches).items == [4, 5, 6, 7]
    assert threads == {threading.get_ident()}


def test_no_workers_raises_a_load_error_where_its_batch_is_taken() -> None:
    def load(x: int) -> tuple[int, float]:
        if x == 6:
            raise ValueError("sample 6 is broken")
        return x, 0.0

    batches = load_batches(list(range(100)), 4, load, workers=0)
    assert next(batches).items == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="^sample 6 is broken$"):
        next(batches)
