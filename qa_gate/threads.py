"""BLAS thread counts scoped to one stage, restored after it.

The bootstrap's matrix products (``counts @ columns``: resamples x samples against a few columns)
are bound by memory, not arithmetic, so extra BLAS threads gain little on an idle machine; on a busy
one (cores shared with other jobs, or with torch's intra-op pool and the decode workers) OpenBLAS
threads that spin waiting for each other stall it several-fold. ``qa_gate.verdict.resampling`` runs
them on one thread (``benchmarks/bench_bootstrap.py --scale ... --threads`` measures both).

The limit goes through ``threadpoolctl`` (numpy's OpenBLAS, MKL, BLIS); without it installed
nothing changes. Integer counts against integer columns are exact either way; float64 sums may be
split differently by a BLAS running several threads (bounds move in the last bits, ~1e-16), so one
thread also makes a bootstrap independent of the machine's core count.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity mask, which a container's CPU set narrows), else the
    machine's count."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # no affinity on macOS and Windows
        return os.cpu_count() or 1


@contextmanager
def blas_threads(limit: int | None) -> Iterator[None]:
    """The BLAS pools limited to ``limit`` threads inside the block, as they were after it (``None``: as they are)."""
    if limit is None:
        yield
        return
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield
        return
    with threadpool_limits(limits=limit, user_api="blas"):
        yield
