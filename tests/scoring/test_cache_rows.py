"""Cached rows as a run holds them: embeddings come back float32 (not a float64 copy twice their size), other
outputs float64, the same numbers either way; a store forgets what it read when released."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from qa_gate.scoring.cache import OutputStore
from qa_gate.scoring.cache_pack import decode_pack, encode_pack

KEYS = [bytes([i]) * 32 for i in range(4)]


def test_embeddings_are_read_as_float32_and_other_rows_as_float64() -> None:
    rows = np.random.default_rng(0).standard_normal((4, 6)).astype(np.float32)
    for operation, dtype in (("image encoding", np.float32), ("text encoding", np.float32),
                             ("classification", np.float64)):
        _, keys, values = decode_pack(encode_pack(operation, KEYS, list(rows.astype(np.float64))))
        assert keys == KEYS and {v.dtype for v in values} == {np.dtype(dtype)}
        np.testing.assert_array_equal(np.stack(values).astype(np.float64), rows.astype(np.float64))
    wide = rows.astype(np.float64) + 1e-12  # not float32-exact: stored and read as float64, unchanged
    _, _, values = decode_pack(encode_pack("image encoding", KEYS, list(wide)))
    assert values[0].dtype == np.float64 and np.array_equal(np.stack(values), wide)


def test_a_released_store_reads_its_folder_again(tmp_path: Path) -> None:
    store = OutputStore(tmp_path / "ns", lambda line: None)
    rows = list(np.eye(4, dtype=np.float32))
    store.add("text encoding", KEYS, rows)
    store.release()
    found = store.lookup("text encoding", KEYS)  # read back from the packs on disk
    np.testing.assert_array_equal(np.stack(found), np.eye(4))


def test_warm_image_embeddings_are_gathered_into_one_matrix_with_the_computed_rows(tmp_path: Path,
                                                                                   monkeypatch) -> None:
    import tracemalloc

    from qa_gate.scoring import cache
    from qa_gate.scoring.cache_plan import ImagePlan
    from qa_gate.scoring.progress import QUIET

    monkeypatch.setattr(cache, "PACK_ENTRIES", 512)  # several packs
    n, d = 3000, 512
    rows = np.random.default_rng(1).standard_normal((n, d)).astype(np.float32)
    keys = [i.to_bytes(32, "big") for i in range(n)]
    missing = [5, 6, 700, n - 1]
    kept = [i for i in range(n) if i not in missing]
    OutputStore(tmp_path / "ns", lambda line: None).add("image encoding", [keys[i] for i in kept], list(rows[kept]))
    store = OutputStore(tmp_path / "ns", lambda line: None)
    tracemalloc.start()
    plan = ImagePlan(store, "image encoding", keys, None, QUIET.bar("s", "x"), store.gather("image encoding", keys))
    assert plan.todo == missing
    merged = plan.merge([rows[missing[:2]], rows[missing[2:]]])  # the computed rows, in two batches
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert len(merged) == 1 and merged[0] is plan.matrix and merged[0].dtype == np.float32
    np.testing.assert_array_equal(merged[0], rows)
    assert peak < 1.6 * rows.nbytes  # the matrix, the pack being read and the index (a copy per pack was 1.8x)
