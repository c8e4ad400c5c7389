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
