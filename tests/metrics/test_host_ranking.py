"""The numpy ranks a torch-free run uses, against the float64 reference and against the torch tiles.

The same cases as ``test_ranking.py`` (exact ties, near ties, heavy tie rows, both dtypes, odd blocks);
``positive_ranks`` takes this path on the CPU only while torch is not loaded, which a child process shows.
"""

from __future__ import annotations

import subprocess
import sys

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


def test_numpy_ranks_equal_the_torch_tiles_on_a_tie_heavy_suite(monkeypatch: pytest.MonkeyPatch) -> None:
    """Three distinct texts: most entries are redone in float64, by whole rows and one by one."""
    from qa_gate.metrics.ranking import positive_ranks

    images, captions, owner = suite(seed=5, n=300, d=8, dtype="float32", texts=3)
    heavy, single = [], []
    real = host_ranking.redone

    def spy(pairs, lines, first, thr, vectors, right):  # type: ignore[no-untyped-def]
        per_line = np.bincount(pairs[:, 0], minlength=lines)
        heavy.append(int((per_line >= host_ranking.HEAVY_ROW).sum()))
        single.append(int(per_line[(per_line > 0) & (per_line < host_ranking.HEAVY_ROW)].sum()))
        return real(pairs, lines, first, thr, vectors, right)

    monkeypatch.setattr(host_ranking, "redone", spy)
    got = host_positive_ranks(captions, images, owner, block=256)
    want = positive_ranks(captions, images, owner, block=256)  # torch is loaded here: the torch tiles
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])
    np.testing.assert_array_equal(got[1], reference_positive_ranks(captions, images, owner)[1])
    assert sum(heavy) > 0 and sum(single) > 0


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
