"""Writing a baseline: one writer at a time, no silent last-writer-wins, no leftovers, and a way out of a
corrupt file."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from support.runs import make_run
from support.scripts import HOLDER, KILLED_WRITER

from qa_gate.baseline.file import FileBaselineStore, content_digest
from qa_gate.baseline.resolve import resolve_baseline
from qa_gate.baseline.run_json import UnreadableBaseline, encode
from qa_gate.config.model import GateConfig, ModelConfig
from qa_gate.errors import BaselineError
from qa_gate.files import lock_path, stale_temps

SAMPLES = "baseline.samples.npz"


def _config(tmp_path: Path, baseline: Path) -> GateConfig:
    return GateConfig(tmp_path / "thresholds.yaml", 1, ModelConfig("open_clip", "x"), (), baseline, None)


def test_two_racing_updates_one_writes_the_other_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "baselines" / "baseline.json"
    FileBaselineStore(path).write(make_run({"clipscore": [0.5] * 4}))
    started_from = content_digest(path)  # what both runs saw when they started
    runs = [make_run({"clipscore": [0.6] * 4}), make_run({"clipscore": [0.7] * 4})]
    barrier = threading.Barrier(2)

    def update(index: int) -> str:
        barrier.wait()
        try:
            return FileBaselineStore(path).write(runs[index], started_from)
        except BaselineError as exc:
            return f"refused: {exc}"

    with ThreadPoolExecutor(2) as pool:
        outcomes = list(pool.map(update, [0, 1]))

    written = [i for i, outcome in enumerate(outcomes) if outcome.startswith(f"{path} and ")]
    assert len(written) == 1, outcomes
    refusal = outcomes[1 - written[0]]
    assert refusal.startswith(f"refused: baseline not updated: {path} changed while this run was scoring")
    assert path.read_bytes() == encode(runs[written[0]], SAMPLES).text  # the winner's whole pair
    assert (path.parent / SAMPLES).read_bytes() == encode(runs[written[0]], SAMPLES).samples
    assert sorted(p.name for p in path.parent.iterdir()) == ["baseline.json", SAMPLES]  # no lock or temp left


def test_an_update_expecting_no_baseline_is_refused_when_one_appeared(tmp_path: Path) -> None:
    path = tmp_path / "baseline.json"
    FileBaselineStore(path).write(make_run({"clipscore": [0.5] * 4}))  # another update, finished meanwhile
    before = path.read_bytes()
    with pytest.raises(BaselineError, match="changed while this run was scoring"):
        FileBaselineStore(path).write(make_run({"clipscore": [0.9] * 4}), expected=None)
    assert path.read_bytes() == before


def test_a_writer_waits_for_another_process_holding_the_lock(tmp_path: Path) -> None:
    path = tmp_path / "baseline.json"
    child = subprocess.Popen([sys.executable, "-c", HOLDER, str(path), "0.5"], stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None and child.stdout.readline() == "locked\n"
    run = make_run({"clipscore": [0.5] * 4})
    assert FileBaselineStore(path).write(run, expected=None).startswith(str(path))  # waited, then wrote
    child.wait()
    assert child.returncode == 0
    assert path.read_bytes() == encode(run, SAMPLES).text and not lock_path(path).exists()


def test_a_write_removes_what_a_killed_writer_left(tmp_path: Path) -> None:
    path = tmp_path / "baseline.json"
    store = FileBaselineStore(path)
    store.write(make_run({"clipscore": [0.5] * 4}))
    killed = subprocess.run([sys.executable, "-c", KILLED_WRITER, str(path)], check=False)
    assert killed.returncode == -signal.SIGKILL
    assert len(stale_temps(path)) == 1
    (tmp_path / ".other.json.abc.tmp").write_text("not ours")

    store.write(make_run({"clipscore": [0.6] * 4}))

    assert stale_temps(path) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == [".other.json.abc.tmp", "baseline.json", SAMPLES]
    back = store.read()
    assert back is not None and back.suites[0].metrics["clipscore"].value == pytest.approx(0.6)


def test_a_corrupt_baseline_stops_a_run_with_the_way_out(tmp_path: Path) -> None:
    path = tmp_path / "baselines" / "baseline.json"
    path.parent.mkdir()
    path.write_text('{"format": "qa-gate-baseline", "version": 1, "suites": {')
    with pytest.raises(UnreadableBaseline) as err:
        resolve_baseline(_config(tmp_path, path), [])
    message = str(err.value)
    assert message.startswith(f"{path}: invalid JSON at line 1")
    assert "to replace it, record a new baseline (mm-gate baseline update" in message
    assert "--mm-update-baseline" in message and "\n" not in message


def test_an_update_goes_on_without_a_corrupt_baseline_and_says_so(tmp_path: Path) -> None:
    path = tmp_path / "baseline.json"
    path.write_text('{"format": "something else"}')
    context = resolve_baseline(_config(tmp_path, path), [], replacing=True)
    assert context.baseline is None and context.source == str(path)
    (note,) = context.changes
    assert note.startswith(f"The stored baseline cannot be read ({path}: not a qa_gate baseline")
    assert note.endswith("this baseline update replaces it.")


def test_an_update_does_not_replace_an_unreadable_file_that_is_not_json(tmp_path: Path) -> None:
    path = tmp_path / "README.md"  # --baseline README.md by mistake: replacing it would lose it
    path.write_text("# my project\n")
    with pytest.raises(UnreadableBaseline, match="not replaced: a baseline update replaces an unreadable baseline "
                                                 "only when its name ends in .json"):
        resolve_baseline(_config(tmp_path, path), [], replacing=True)
    assert path.read_text() == "# my project\n"
