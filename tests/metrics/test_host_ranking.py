"""The numpy ranks a torch-free run uses, against the float64 reference and against the torch tiles.

The same cases as ``test_ranking.py`` (exact ties, near ties, heavy tie rows, both dtypes, odd blocks);
``positive_ranks`` takes this path on the CPU only while torch is not loaded, which a child process shows.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from support.ranking_cases import CASES, normalise, reference_positive_ranks, suite

from qa_gate.metrics import host_ranking
from qa_gate.metrics.host_ranking import host_positive_ranks


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(f"{k}{v}" for k, v in c.items()))
def test_numpy_ranks_equal_the_float64_reference(case: dict, dtype: str) -> None:
    images, captions, owner = suite(dtype=dtype, **case)
    want_t2i, want_i2t = reference_positive_ranks(captions, images, owner)
    for block in (4096, 64, 37):
        t2i, i2t = host_positive_ranks(captions, images, owner, block=block)
        np.testing.assert_array_equal(t2i, want_t2i)
        np.testing.assert_array_equal(i2t, want_i2t)
    fwd, rev = host_positive_ranks(captions, images, owner, block=64, reverse=False)
    np.testing.assert_array_equal(fwd, want_t2i)
    assert not rev.any()


@pytest.mark.parametrize("threads", [1, 2, 4])
def test_tiles_shared_among_threads_rank_as_the_reference(threads: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each thread counts its own tiles (taken as they come) into its own counts; the sums are the reference's,
    whatever the number of threads and however the tiles fell to them."""
    monkeypatch.setattr(host_ranking, "SWEEP_THREADS", threads)
    monkeypatch.setattr(host_ranking, "usable_cpus", lambda: 8)
    seen: set[int] = set()
    real = host_ranking.Masks.counts

    def spy(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        seen.add(threading.get_ident())
        time.sleep(0.001)  # every thread gets tiles
        return real(self, *args, **kwargs)

    monkeypatch.setattr(host_ranking.Masks, "counts", spy)
    for case in CASES:
        images, captions, owner = suite(dtype="float32", **case)
        want = reference_positive_ranks(captions, images, owner)
        for block in (64, 37):
            got = host_positive_ranks(captions, images, owner, block=block)
            np.testing.assert_array_equal(got[0], want[0])
            np.testing.assert_array_equal(got[1], want[1])
    assert seen == {threading.get_ident()} if threads == 1 else len(seen) >= threads


def test_a_failing_thread_stops_the_others(monkeypatch: pytest.MonkeyPatch) -> None:
    """The error of one tile is raised, and the tiles not yet taken are left: no thread runs the sweep out."""
    monkeypatch.setattr(host_ranking, "SWEEP_THREADS", 2)
    monkeypatch.setattr(host_ranking, "usable_cpus", lambda: 2)
    images, captions, owner = suite(dtype="float32", **CASES[0])
    done = []
    real = host_ranking.Masks.counts

    def failing(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        done.append(threading.get_ident())
        if done[-1] != done[0]:  # the second thread's first tile: before, the first ran every tile out first
            raise MemoryError("tile")
        time.sleep(0.002)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(host_ranking.Masks, "counts", failing)
    with pytest.raises(MemoryError, match="tile"):
        host_positive_ranks(captions, images, owner, block=8)  # 38 x 38 tiles, two counts each
    assert len(done) < 20


def _spy_redone(monkeypatch: pytest.MonkeyPatch) -> tuple[list[int], list[int]]:
    """Counts of the lines ``redone`` recomputes by a whole float64 row (``heavy``) and of its single entries."""
    heavy: list[int] = []
    single: list[int] = []
    real = host_ranking.redone

    def spy(pairs, lines, first, thr, vectors, right, weight=None):  # type: ignore[no-untyped-def]
        per_line = np.bincount(pairs[:, 0], minlength=lines)
        heavy.append(int((per_line >= host_ranking.HEAVY_ROW).sum()))
        single.append(int(per_line[(per_line > 0) & (per_line < host_ranking.HEAVY_ROW)].sum()))
        return real(pairs, lines, first, thr, vectors, right, weight)

    monkeypatch.setattr(host_ranking, "redone", spy)
    return heavy, single


def test_numpy_ranks_equal_the_torch_tiles_on_a_tie_heavy_suite(monkeypatch: pytest.MonkeyPatch) -> None:
    """Three distinct texts shared by 300 images: every tie is a bitwise duplicate, so each direction counts
    against the distinct rows and almost nothing is recomputed in float64."""
    from qa_gate.metrics.ranking import tiled_positive_ranks

    images, captions, owner = suite(seed=5, n=300, d=8, dtype="float32", texts=3)
    heavy, single = _spy_redone(monkeypatch)
    got = host_positive_ranks(captions, images, owner, block=256)
    want = tiled_positive_ranks(captions, images, owner, block=256, device="cpu")  # the torch tiles
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])
    reference = reference_positive_ranks(captions, images, owner)
    np.testing.assert_array_equal(got[0], reference[0])
    np.testing.assert_array_equal(got[1], reference[1])
    tied = int((reference[1] > 1).sum())
    assert tied > 200 and sum(heavy) == 0 and sum(single) < 50  # without distinct rows: ~90k entries redone


def test_near_ties_are_redone_by_whole_rows_and_one_by_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """Captions a few 1e-10 apart (distinct float64 rows float32 cannot tell apart): heavy rows get one float64
    product, the others a dot product per entry, and the ranks equal the float64 reference."""
    images, captions, owner = suite(seed=5, n=300, d=8, dtype="float64", texts=3)
    captions = normalise(captions + np.random.default_rng(1).normal(scale=1e-10, size=captions.shape))
    heavy, single = _spy_redone(monkeypatch)
    got = host_positive_ranks(captions, images, owner, block=256)
    reference = reference_positive_ranks(captions, images, owner)
    np.testing.assert_array_equal(got[0], reference[0])
    np.testing.assert_array_equal(got[1], reference[1])
    assert sum(heavy) > 0 and sum(single) > 0


@pytest.mark.parametrize("side", ["queries", "targets", "both"])
def test_duplicate_rows_on_either_side_rank_as_the_reference(side: str) -> None:
    rng = np.random.default_rng(7)
    images = normalise(rng.normal(size=(60, 6)))
    owner = np.repeat(np.arange(60), 3)
    captions = normalise(images[owner] + rng.normal(scale=0.7, size=(180, 6)))
    if side in ("targets", "both"):
        images[rng.integers(0, 60, size=40)] = images[3]  # one image many times, and owner 3's copies
    if side in ("queries", "both"):
        captions[rng.integers(0, 180, size=90)] = captions[rng.integers(0, 180, size=90)]
    for dtype in ("float32", "float64"):
        q, t = captions.astype(dtype), images.astype(dtype)
        want = reference_positive_ranks(q, t, owner)
        for block in (4096, 16):
            got = host_positive_ranks(q, t, owner, block=block)
            np.testing.assert_array_equal(got[0], want[0])
            np.testing.assert_array_equal(got[1], want[1])
            fwd, _ = host_positive_ranks(q, t, owner, block=block, reverse=False)
            np.testing.assert_array_equal(fwd, want[0])


def test_a_tie_within_tolerance_counts_against_the_model() -> None:
    query = np.array([[1.0, 0.0, 0.0]])
    base = np.array([0.6, 0.8, 0.0])
    other = normalise((base + np.array([0.0, 0.0, 1e-5]))[None])[0]  # cosine 0.6 (1 - 5e-11): a tie
    for targets in (np.stack([base, other]), np.stack([other, base])):  # either one the positive
        fwd, _ = host_positive_ranks(query, targets, np.array([0]), block=4096, reverse=False)
        assert fwd.tolist() == [2]


def test_empty_inputs() -> None:
    fwd, rev = host_positive_ranks(np.zeros((0, 4), np.float32), np.zeros((3, 4), np.float32),
                                   np.zeros(0, np.int64), block=8)
    assert fwd.shape == (0,) and rev.tolist() == [0, 0, 0]


def test_positive_ranks_skips_torch_on_the_cpu_when_torch_is_not_loaded() -> None:
    program = (
        "import sys, numpy as np\n"
        "from qa_gate.metrics.zeroshot import true_class_ranks\n"
        "rng = np.random.default_rng(0)\n"
        "x = rng.normal(size=(40, 6)).astype(np.float32)\n"
        "print(true_class_ranks(x, x[:7], np.arange(40) % 7, device='cpu').tolist())\n"
        "print('torch' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=True)
    ranks, loaded = done.stdout.split("\n")[:2]
    assert loaded == "False"
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 6)).astype(np.float32)
    want, _ = reference_positive_ranks(x, x[:7], np.arange(40) % 7, reverse=False)
    assert ranks == str(want.tolist())
