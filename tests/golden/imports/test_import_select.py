"""``--limit N --seed K`` and ``--stratify TAG``: deterministic, order-free samples that keep each tag value's share."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from qa_gate.golden.imports.run import ImportSettings, import_suite
from qa_gate.golden.imports.select import quotas
from qa_gate.golden.suite import load_suite


def _rows(tmp: Path, picture, order: list[int]) -> Path:
    picture(tmp / "p.png")
    colours = ["red"] * 12 + ["blue"] * 6 + ["green"] * 2
    source = tmp / f"t{order[0]}.jsonl"
    source.write_text("".join(json.dumps({"id": f"s{i:02d}", "image": "p.png", "caption": "c",
                                          "tags": {"colour": colours[i]}}) + "\n" for i in order))
    return source


def test_quotas_are_largest_remainder_shares_capped_by_counts() -> None:
    assert quotas({"red": 12, "blue": 6, "green": 2}, 10) == {"red": 6, "blue": 3, "green": 1}
    assert quotas({"a": 1, "b": 1, "c": 1}, 2) == {"a": 1, "b": 1, "c": 0}  # ties by name
    assert quotas({"a": 5}, 9) == {"a": 5}


def test_a_seeded_sample_is_deterministic_and_ignores_source_order(tmp_path: Path, picture) -> None:
    forward = _rows(tmp_path, picture, list(range(20)))
    backward = _rows(tmp_path, picture, list(range(19, -1, -1)))
    def take(source: Path, out: str, seed: int, stratify: str | None = None) -> list[str]:
        done = import_suite(ImportSettings("jsonl", (source,), tmp_path / out, limit=10, seed=seed,
                                           stratify=stratify), progress=None)
        return [s.id for s in load_suite(done.out).samples]
    first, again, reordered = take(forward, "a", 1), take(forward, "b", 1), take(backward, "c", 1)
    assert first == again and sorted(first) == sorted(reordered) and len(first) == 10
    assert first == sorted(first)  # written in source order
    assert take(forward, "d", 2) != first
    stratified = take(forward, "e", 1, "colour")
    colours = Counter(load_suite(tmp_path / "e").samples[i].tags["colour"] for i in range(len(stratified)))
    assert colours == {"red": 6, "blue": 3, "green": 1}
    record = json.loads((tmp_path / "e" / "provenance.json").read_text())
    assert record["taken"]["strata"] == {"red": 6, "blue": 3, "green": 1} and record["settings"]["seed"] == 1
