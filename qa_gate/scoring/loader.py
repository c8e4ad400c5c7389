"""A suite's images decoded and prepared in worker threads, batches ahead of the model.

Pillow's decode and resize and torch's tensor conversions release the GIL, so a small
thread pool keeps the model fed without the process start-up, pickling and changed error
types of a multi-process ``DataLoader`` (measured on 2 cores: threads and ``DataLoader``
workers within noise of each other on 64-px images; see ``benchmarks/bench_scoring.py``).

Each batch is cut into one chunk per worker; a chunk's samples are loaded in order by one
thread. Batches come back in sample order whatever the number of workers, and each item is
computed by the same code on the same input, so the outputs do not depend on it. While the
model runs on one batch, the workers load up to ``ahead`` further batches; ``ahead=0`` (used
when the model is handed full-size decodes) only spreads the current batch over the workers,
so no more decoded images are alive at once than the batch itself. An exception raised while
loading (a ``GoldenError`` naming the suite and the sample) is raised, as it is, where that
batch is taken; pending chunks are cancelled.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Generator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any, TypeVar

from qa_gate.threads import usable_cpus

T = TypeVar("T")

PREFETCH_BATCHES = 2
"""How many batches beyond the one the model is running on the workers prepare."""


def default_workers(device_type: str = "cuda") -> int:
    """Image workers when ``model.workers`` is not set: none on the CPU (decoded in the model's thread),
    ``min(4, usable CPUs)`` elsewhere.

    On the CPU the model's forward pass already has every core (torch's intra-op threads), so a
    decoding thread only competes with it: on 2 cores with 32-px PNGs, the image stage of a fresh
    ``mm-gate run`` at 10k took 2.10-2.18 s decoding in the model's thread against 2.39-2.54 s with
    one worker and more with two (3 runs each, alternating; ``benchmarks/bench_scoring.py --workers
    0,1,2`` gives the same order). On an accelerator decoding is what bounds it.
    """
    if device_type == "cpu":
        return 0
    return min(4, usable_cpus())


@dataclass(frozen=True)
class Loaded:
    """One batch: its samples' items in sample order and the seconds their preparing took (summed)."""

    start: int
    """The index of the batch's first sample."""
    items: list[Any]
    seconds: float


Load = Callable[[T], tuple[Any, float]]
"""Loads one sample: its item and the seconds of the part that counts as preparing."""


def _chunk(load: Load[T], samples: Sequence[T], context: Callable[[], AbstractContextManager[Any]]
           ) -> tuple[list[Any], float]:
    items, seconds = [], 0.0
    with context():  # thread-local state (inference mode) holds per thread
        for sample in samples:
            item, took = load(sample)
            items.append(item)
            seconds += took
    return items, seconds


def load_batches(samples: Sequence[T], batch_size: int, load: Load[T], *, workers: int, ahead: int = PREFETCH_BATCHES,
                 context: Callable[[], AbstractContextManager[Any]] = nullcontext) -> Generator[Loaded, None, None]:
    """``load`` over ``samples`` in ``workers`` threads, batch by batch in order, ``ahead`` batches ahead;
    ``workers=0``: in the calling thread, each batch when it is taken.

    ``context`` is entered around each chunk in its worker thread. Closing the iterator early
    (an exception in the model call) cancels what is pending and waits for running chunks.
    """
    starts = list(range(0, len(samples), batch_size))
    if workers == 0:  # inline: each batch loaded in the calling thread when it is taken
        for start in starts:
            yield Loaded(start, *_chunk(load, samples[start:start + batch_size], context))
        return
    per_chunk = max(1, -(-batch_size // workers))
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="qa-gate-images")
    pending: deque[tuple[int, list[Future[tuple[list[Any], float]]]]] = deque()
    submitted = 0

    def submit_up_to(last: int) -> None:
        nonlocal submitted
        while submitted < min(last, len(starts)):
            start = starts[submitted]
            batch = samples[start:start + batch_size]
            pending.append((start, [pool.submit(_chunk, load, batch[i:i + per_chunk], context)
                                    for i in range(0, len(batch), per_chunk)]))
            submitted += 1

    try:
        for index in range(len(starts)):
            submit_up_to(index + 1 + max(0, ahead))
            start, futures = pending.popleft()
            items: list[Any] = []
            seconds = 0.0
            for future in futures:
                chunk, took = future.result()
                items.extend(chunk)
                seconds += took
            yield Loaded(start, items, seconds)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
