"""The pack format of the output cache: exact round trips, and any damage detected."""

from __future__ import annotations

import numpy as np
import pytest

from qa_gate.scoring.cache import OutputStore
from qa_gate.scoring.cache_key import default_dir, entry_key
from qa_gate.scoring.cache_pack import CorruptEntry, decode_pack, encode_pack

KEYS = [entry_key("image encoding", f"{i:064x}") for i in range(5)]


def test_float32_rows_are_stored_narrow_and_come_back_exactly() -> None:
    rows = np.random.default_rng(0).standard_normal((5, 7)).astype(np.float32).astype(np.float64)
    data = encode_pack("image encoding", KEYS, list(rows))
    header, keys, values = decode_pack(data)
    assert header["dtype"] == "<f4" and keys == KEYS
    assert np.array_equal(np.stack(values), rows)
    wide = encode_pack("image encoding", KEYS, list(rows + 1e-12))  # not float32: kept float64
    assert len(wide) - len(data) == 5 * 7 * 4


def test_float64_rows_that_float32_would_change_stay_float64() -> None:
    rows = np.random.default_rng(1).standard_normal((5, 3))
    header, _, values = decode_pack(encode_pack("label scores", KEYS, list(rows)))
    assert header["dtype"] == "<f8" and np.array_equal(np.stack(values), rows)


def test_texts_round_trip() -> None:
    texts = ["a red square", "", "ümlaut ☃", "x" * 1000, "two\nlines"]
    _, keys, values = decode_pack(encode_pack("generation", KEYS, texts))
    assert values == texts and keys == KEYS


@pytest.mark.parametrize("cut", [0, 1, 20, -1, -33])
def test_a_truncated_pack_is_refused(cut: int) -> None:
    data = encode_pack("generation", KEYS, ["a", "b", "c", "d", "e"])
    with pytest.raises(CorruptEntry):
        decode_pack(data[:cut])


def test_every_flipped_byte_is_detected() -> None:
    data = encode_pack("image encoding", KEYS[:2], [np.ones(3), np.zeros(3)])
    for at in range(len(data)):
        damaged = bytearray(data)
        damaged[at] ^= 0x40
        with pytest.raises(CorruptEntry):
            decode_pack(bytes(damaged))


def test_many_packs_are_merged_into_one(tmp_path) -> None:
    warnings: list[str] = []
    store = OutputStore(tmp_path / "ns", warnings.append)
    for i in range(20):
        store.add("text encoding", [entry_key("text encoding", str(i))], [np.full(4, float(i))])
    packs = list((tmp_path / "ns").rglob("*.pack"))
    assert 1 <= len(packs) < 16 and not warnings
    again = OutputStore(tmp_path / "ns", warnings.append)
    found = again.lookup("text encoding", [entry_key("text encoding", str(i)) for i in range(21)])
    assert [None if f is None else f[0] for f in found] == [float(i) for i in range(20)] + [None]


def test_the_default_folder_follows_xdg_cache_home(tmp_path) -> None:
    assert default_dir({"XDG_CACHE_HOME": str(tmp_path)}) == tmp_path / "qa_gate" / "outputs"
    assert default_dir({}).parts[-3:] == (".cache", "qa_gate", "outputs")
    assert default_dir({"XDG_CACHE_HOME": "relative"}).parts[-3:] == (".cache", "qa_gate", "outputs")


def test_pruning_keeps_the_most_recently_used_namespaces(tmp_path) -> None:
    import os

    from qa_gate.scoring.cache import prune

    for age in range(12):
        folder = tmp_path / f"ns{age:02d}"
        folder.mkdir()
        os.utime(folder, (1_000_000 - age, 1_000_000 - age))
    removed = prune(tmp_path, keep=8, spare=tmp_path / "ns11")
    kept = sorted(p.name for p in tmp_path.iterdir())
    assert kept == [f"ns{i:02d}" for i in range(7)] + ["ns11"]
    assert len(removed) == 4


def test_tests_never_use_the_users_cache() -> None:
    import os
    from pathlib import Path

    from qa_gate.scoring.cache_key import default_dir

    assert default_dir().is_relative_to(Path(os.environ["XDG_CACHE_HOME"]))
    assert not default_dir().is_relative_to(Path.home() / ".cache")


def test_transformers_loading_bars_are_off_while_a_model_loads() -> None:
    from transformers.utils import logging as hf_logging

    from qa_gate.scoring.cached_model import quiet_loading

    hf_logging.enable_progress_bar()
    with quiet_loading("transformers"):
        assert not hf_logging.is_progress_bar_enabled()
    assert hf_logging.is_progress_bar_enabled()


def test_a_large_write_is_split_into_bounded_packs(tmp_path, monkeypatch) -> None:
    import qa_gate.scoring.cache as cache

    monkeypatch.setattr(cache, "PACK_ENTRIES", 10)
    store = OutputStore(tmp_path / "ns", print)
    keys = [entry_key("image encoding", str(i)) for i in range(25)]
    store.add("image encoding", keys, [np.full(3, float(i)) for i in range(25)])
    sizes = sorted(decode_pack(p.read_bytes())[0]["count"] for p in (tmp_path / "ns").rglob("*.pack"))
    assert sizes == [5, 10, 10]
    found = OutputStore(tmp_path / "ns", print).lookup("image encoding", keys)
    assert [f[0] for f in found] == [float(i) for i in range(25)]
