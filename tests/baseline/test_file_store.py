"""The file baseline store: round trip, atomic writes, clear errors."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from support.runs import make_run

from qa_gate.baseline.changes import Changes
from qa_gate.baseline.file import FileBaselineStore
from qa_gate.baseline.resolve import resolve_baseline
from qa_gate.baseline.run_json import dumps
from qa_gate.baseline.store import open_store
from qa_gate.config.model import GateConfig, ModelConfig
from qa_gate.errors import BaselineError


def test_missing_file_means_no_baseline(tmp_path: Path) -> None:
    assert FileBaselineStore(tmp_path / "none.json").read() is None


def test_round_trip_keeps_values_statistics_and_fingerprints(tmp_path: Path) -> None:
    run = make_run({"clipscore": [0.1, 0.2, 0.3, 0.4], "cosine": [0.5, 0.6, 0.7, 0.8]})
    store = FileBaselineStore(tmp_path / "sub" / "baseline.json")
    store.write(run)
    back = store.read()
    assert back is not None
    suite, orig = back.suites[0], run.suites[0]
    assert suite.fingerprint == orig.fingerprint
    assert [s.id for s in suite.samples] == [s.id for s in orig.samples]
    assert dict(suite.samples[0].tags) == {"colour": "red"}
    for name in ("clipscore", "cosine"):
        assert suite.metrics[name].value == orig.metrics[name].value
        assert suite.metrics[name].fingerprint == orig.metrics[name].fingerprint
        np.testing.assert_array_equal(suite.metrics[name].stats, orig.metrics[name].stats)
    assert back.checkpoint == run.checkpoint
    assert dumps(back) == dumps(run)


def test_failed_write_leaves_the_old_baseline_and_no_temp_files(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "baseline.json"
    store = FileBaselineStore(path)
    store.write(make_run({"clipscore": [1.0] * 4}))
    before = path.read_bytes()

    def broken_replace(src, dst):  # the rename fails: disk full, permissions, interrupt
        raise OSError("simulated failure")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(BaselineError, match=r"baseline not updated: cannot write .*baseline.json: simulated failure"):
        store.write(make_run({"clipscore": [0.0] * 4}))
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["baseline.json", "baseline.samples.npz"]


@pytest.mark.parametrize(("text", "expected"), [
    ("{not json", "invalid JSON at line 1"),
    ('{"format": "other"}', "not a qa_gate baseline"),
    ('{"format": "qa-gate-baseline", "version": 99}', "version 99"),
    ('{"format": "qa-gate-baseline", "version": 1, "suites": {}}', "malformed baseline"),
])
def test_bad_files_name_the_file_and_the_problem(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "baseline.json"
    path.write_text(text)
    with pytest.raises(BaselineError) as err:
        FileBaselineStore(path).read()
    assert str(path) in str(err.value)
    assert expected in str(err.value)


def test_a_file_store_sees_no_changes_and_keeps_no_history(tmp_path: Path) -> None:
    store = FileBaselineStore(tmp_path / "baseline.json")
    store.write(make_run({"clipscore": [0.5] * 4}))
    assert store.changes([tmp_path / "golden" / "shapes"]) == Changes()
    assert store.history() == [] and store.history(3) == []


def test_open_store_outside_git_is_the_file_store_and_resolution_reads_it(tmp_path: Path) -> None:
    path = tmp_path / "baselines" / "baseline.json"
    FileBaselineStore(path).write(make_run({"clipscore": [0.5] * 4}))
    config = GateConfig(tmp_path / "thresholds.yaml", 1, ModelConfig("open_clip", "x"), (), path, None)
    store = open_store(config)
    assert isinstance(store, FileBaselineStore) and store.describe() == str(path)
    context = resolve_baseline(config, [tmp_path / "golden" / "shapes"])
    assert context.source == str(path) and context.changes == () and context.history == ()
    assert context.baseline is not None and context.baseline.suites[0].metrics["clipscore"].value == 0.5
