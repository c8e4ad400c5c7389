"""The baseline as two files (``baseline.json`` + ``baseline.samples.npz``): round trip, compactness, the pair
written safely (a writer killed between its renames loses nothing), and one clear line per broken pair."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pytest
from support.runs import make_run

from qa_gate.baseline.file import FileBaselineStore, backup_path, samples_path
from qa_gate.baseline.resolve import WAY_OUT, resolve_baseline
from qa_gate.baseline.run_json import VERSION, UnreadableBaseline, dumps, encode
from qa_gate.config.model import GateConfig, ModelConfig
from qa_gate.errors import BaselineError
from qa_gate.results import CheckpointInfo, MetricResult, RunResult, SampleInfo, SuiteResult

COLOURS = ("red", "green", "blue", "yellow", "purple")


def demo_like_run(n: int, seed: int = 0, created: str = "2026-01-01T00:00:00") -> RunResult:
    """``n`` samples with five tags and the column kinds of the demo's metrics: continuous scores (clipscore,
    cosine, refclipscore), 0/1 hits with class indices (zero-shot), ranks (retrieval), few-valued accuracies (VQA)
    and a generated output on some samples."""
    rng = np.random.default_rng(seed)
    cos = np.clip(rng.normal(0.3, 0.05, n), -1, 1)
    ref = np.clip(rng.normal(0.6, 0.1, n), -1, 1)
    clip = 2.5 * np.maximum(cos, 0)
    refclip = np.where(clip > 0, 2 * clip * ref / (clip + ref), 0.0)
    labels = rng.integers(0, 4, n)
    hits = (rng.random(n) < 0.9).astype(float)
    ranks = rng.geometric(0.4, n).astype(float)
    vqa = rng.choice([0.0, 0.3, 0.6, 0.9, 1.0], n) * (10 / 3) / (10 / 3)  # not float32 numbers
    columns = {
        "clipscore": (clip[:, None], clip),
        "cosine": (cos[:, None], cos),
        "refclipscore": (np.stack([refclip, clip, ref], axis=1), refclip),
        "zeroshot_top1": (np.stack([hits, labels], axis=1), hits),
        "t2i_median_rank": (np.stack([ranks, ranks, np.ones(n)], axis=1), ranks),
        "vqa_accuracy": (vqa[:, None], vqa),
    }
    metrics = {name: MetricResult(name, float(per.mean()), name != "t2i_median_rank", f"fp-{name}",
                                  MappingProxyType({"metric": name}), stats, tuple(per.tolist()))
               for name, (stats, per) in columns.items()}
    samples = tuple(SampleInfo(f"s-{i:06d}", f"a {COLOURS[i % 5]} shape number {i}",
                               MappingProxyType({"colour": COLOURS[i % 5], "shape": ("circle", "square")[i % 2],
                                                 "size": "small", "bg": ("light", "dark")[i % 2],
                                                 **({"split": f"s{i % 3}"} if i % 4 else {})}),
                               f"out {i}" if i % 7 == 0 else None) for i in range(n))
    suite = SuiteResult("big", "golden/big", "suite-fp", samples, MappingProxyType(metrics),
                        MappingProxyType({"meteor": "Java is missing"}))
    return RunResult(CheckpointInfo("open_clip", "ckpt", "ab" * 32, "tiny"),
                     MappingProxyType({"torch": "2.5"}), (suite,), created)


def _config(tmp_path: Path, baseline: Path) -> GateConfig:
    return GateConfig(tmp_path / "thresholds.yaml", 1, ModelConfig("open_clip", "x"), (), baseline, None)


def test_the_pair_gives_back_samples_exactly_and_scores_to_float32(tmp_path: Path) -> None:
    run = demo_like_run(600)
    store = FileBaselineStore(tmp_path / "baseline.json")
    assert store.write(run) == f"{tmp_path / 'baseline.json'} and {tmp_path / 'baseline.samples.npz'}"
    back = store.read()
    assert back is not None
    suite, orig = back.suites[0], run.suites[0]
    assert suite.samples == orig.samples  # ids, texts, tags (a missing key stays missing), outputs
    assert dict(suite.skipped) == {"meteor": "Java is missing"} and back.checkpoint == run.checkpoint
    for name, metric in orig.metrics.items():
        got = suite.metrics[name]
        assert (got.value, got.fingerprint, got.higher_is_better) == (metric.value, metric.fingerprint,
                                                                      metric.higher_is_better)
        assert got.stats.dtype == np.float64 and got.stats.shape == metric.stats.shape
        exact = name not in ("clipscore", "cosine", "refclipscore")
        if exact:  # hits, class indices, ranks and few-valued accuracies: bit for bit
            np.testing.assert_array_equal(got.stats, metric.stats)
            assert got.per_sample == metric.per_sample
        else:  # continuous scores: float32, at most 2**-24 relative
            np.testing.assert_allclose(got.stats, metric.stats, rtol=2.0 ** -24, atol=0)
            np.testing.assert_allclose(got.per_sample, metric.per_sample, rtol=2.0 ** -24, atol=0)
            assert not np.array_equal(got.stats, metric.stats)  # really rounded: the check above could fail
    head = json.loads((tmp_path / "baseline.json").read_text())
    assert head["version"] == VERSION == 2 and head["suites"]["big"]["samples"] == 600
    precision = {m: body["per_sample_precision"] for m, body in head["suites"]["big"]["metrics"].items()}
    assert precision == {"clipscore": "float32", "cosine": "float32", "refclipscore": "float32",
                         "zeroshot_top1": "exact", "t2i_median_rank": "exact", "vqa_accuracy": "exact"}
    assert "stats" not in json.dumps(head) and "s-000001" not in json.dumps(head)  # no per-sample data in the JSON
    blob = (tmp_path / "baseline.samples.npz").read_bytes()
    assert head["samples_file"] == {"name": "baseline.samples.npz", "bytes": len(blob),
                                    "sha256": hashlib.sha256(blob).hexdigest()}


def test_the_per_sample_file_is_an_npz_numpy_opens(tmp_path: Path) -> None:
    FileBaselineStore(tmp_path / "b.json").write(demo_like_run(50))
    with np.load(tmp_path / "b.samples.npz", allow_pickle=False) as archive:
        index = json.loads(archive["index"].tobytes())
        assert index["format"] == "qa-gate-samples" and index["suites"][0]["samples"] == 50
        ids = json.loads(archive[index["suites"][0]["ids"]].tobytes())
    assert ids[:2] == ["s-000000", "s-000001"]


def test_the_same_run_writes_the_same_bytes(tmp_path: Path) -> None:
    run = demo_like_run(300)
    first, second = encode(run, "baseline.samples.npz"), encode(run, "baseline.samples.npz")
    assert first == second  # no zip timestamps: re-recording an unchanged run changes nothing in git
    assert encode(demo_like_run(300, seed=1), "baseline.samples.npz").samples != first.samples


def test_a_large_suite_stays_small(tmp_path: Path) -> None:
    n = 20_000
    run = demo_like_run(n)
    FileBaselineStore(tmp_path / "baseline.json").write(run)
    pair = (tmp_path / "baseline.json").stat().st_size + (tmp_path / "baseline.samples.npz").stat().st_size
    single = len(dumps(run).encode())
    assert single / n > 400  # the single-file form: several hundred bytes a sample
    assert pair / n < 60, pair / n  # ids, texts, five tags, six metrics' statistics


def test_a_writer_killed_between_its_two_renames_leaves_the_old_baseline_readable(tmp_path: Path) -> None:
    path = tmp_path / "baseline.json"
    store = FileBaselineStore(path)
    store.write(make_run({"clipscore": [0.5] * 4}))
    killer = ("import os, sys\nfrom pathlib import Path\nfrom support.runs import make_run\n"
              "from qa_gate.baseline.file import FileBaselineStore\n"
              "real, calls = os.replace, []\n"
              "def replace(src, dst):\n"
              "    calls.append(dst)\n"
              "    if len(calls) == 2:\n"
              "        os.kill(os.getpid(), 9)  # the per-sample file is renamed, the JSON not yet\n"
              "    real(src, dst)\n"
              "os.replace = replace\n"
              "FileBaselineStore(Path(sys.argv[1])).write(make_run({'clipscore': [0.9] * 4}))\n")
    tests = Path(__file__).resolve().parents[1]
    killed = subprocess.run([sys.executable, "-c", killer, str(path)], check=False,
                            env={**os.environ, "PYTHONPATH": os.pathsep.join([str(tests), os.environ.get(
                                "PYTHONPATH", "")])})
    assert killed.returncode == -signal.SIGKILL
    assert backup_path(samples_path(path)).exists()  # the old per-sample file, kept

    back = store.read()  # the old JSON with the old per-sample file, found by its sha256
    assert back is not None and back.suites[0].metrics["clipscore"].value == pytest.approx(0.5)
    assert back.suites[0].metrics["clipscore"].per_sample == (0.5,) * 4

    store.write(make_run({"clipscore": [0.7] * 4}))  # the next write settles and replaces the pair
    assert sorted(p.name for p in tmp_path.iterdir()) == ["baseline.json", "baseline.samples.npz"]
    assert store.read().suites[0].metrics["clipscore"].per_sample == (0.7,) * 4


def test_a_failed_json_rename_puts_the_old_pair_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "baseline.json"
    store = FileBaselineStore(path)
    store.write(make_run({"clipscore": [0.5] * 4}))
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    real = os.replace

    def replace(src, dst):
        if Path(dst) == path:
            raise OSError(28, "No space left on device")
        real(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(BaselineError, match="baseline not updated: cannot write .*baseline.json: .*No space left"):
        store.write(make_run({"clipscore": [0.9] * 4}))
    monkeypatch.setattr(os, "replace", real)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before  # nothing new, nothing left over
    assert store.read().suites[0].metrics["clipscore"].value == pytest.approx(0.5)


def test_a_first_write_that_fails_leaves_no_per_sample_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "baseline.json"
    real = os.replace

    def replace(src, dst):
        if Path(dst) == path:
            raise OSError("simulated")
        real(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(BaselineError, match="simulated"):
        FileBaselineStore(path).write(make_run({"clipscore": [0.9] * 4}))
    assert list(tmp_path.iterdir()) == []


def _broken(tmp_path: Path, how: str) -> Path:
    path = tmp_path / "baselines" / "baseline.json"
    FileBaselineStore(path).write(make_run({"clipscore": [0.5] * 4}))
    samples = samples_path(path)
    if how == "missing":
        samples.unlink()
    elif how == "other run":
        other = encode(make_run({"clipscore": [0.9] * 4}), samples.name).samples
        samples.write_bytes(other)
    elif how == "truncated":
        samples.write_bytes(samples.read_bytes()[:100])
    elif how == "garbage with its digest":  # a file that matches the JSON's record yet is no npz
        head = json.loads(path.read_text())
        samples.write_bytes(b"not a zip")
        head["samples_file"]["sha256"] = hashlib.sha256(b"not a zip").hexdigest()
        path.write_text(json.dumps(head))
    elif how == "bad name":
        head = json.loads(path.read_text())
        head["samples_file"]["name"] = "../elsewhere.npz"
        path.write_text(json.dumps(head))
    return path


@pytest.mark.parametrize(("how", "expected"), [
    ("missing", "{samples}: missing; {path} keeps its per-sample statistics there (a baseline is two files: "
                "commit baseline.samples.npz with it)"),
    ("other run", "{samples}: does not belong to {path} (sha256 "),
    ("truncated", "{samples}: does not belong to {path} (sha256 "),
    ("garbage with its digest", "{samples}: not a readable .npz file (BadZipFile"),
    ("bad name", "{path}: malformed baseline (samples_file: expected a file name ending in .npz beside it"),
])
def test_a_broken_pair_is_one_line_naming_the_file_and_the_way_out(tmp_path: Path, how: str, expected: str) -> None:
    path = _broken(tmp_path, how)
    with pytest.raises(UnreadableBaseline) as err:
        resolve_baseline(_config(tmp_path, path), [])
    message = str(err.value)
    assert message.startswith(expected.format(samples=samples_path(path), path=path)), message
    assert message.endswith(WAY_OUT) and "\n" not in message
    if how in ("other run", "truncated"):
        assert "the two files were not written or committed together; restore both from one commit" in message


def test_a_baseline_update_replaces_a_broken_pair(tmp_path: Path) -> None:
    path = _broken(tmp_path, "missing")
    context = resolve_baseline(_config(tmp_path, path), [], replacing=True)
    assert context.baseline is None and "this baseline update replaces it" in context.changes[0]
    FileBaselineStore(path).write(make_run({"clipscore": [0.6] * 4}))
    assert FileBaselineStore(path).read().suites[0].metrics["clipscore"].value == pytest.approx(0.6)


def test_the_single_file_form_is_still_read_and_a_write_turns_it_into_a_pair(tmp_path: Path) -> None:
    path = tmp_path / "baseline.json"
    run = make_run({"clipscore": [0.1, 0.2, 0.3, 0.4]})
    path.write_text(dumps(run))  # version 1, as every baseline before this one
    assert json.loads(path.read_text())["version"] == 1
    back = FileBaselineStore(path).read()
    assert back is not None and dumps(back) == dumps(run)
    FileBaselineStore(path).write(back)
    assert json.loads(path.read_text())["version"] == 2 and samples_path(path).exists()
    assert dumps(FileBaselineStore(path).read()) == dumps(run)  # four distinct values: stored exactly


def test_a_read_racing_a_finished_write_reads_the_new_pair(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import qa_gate.baseline.file as file_module

    path = tmp_path / "baseline.json"
    store = FileBaselineStore(path)
    store.write(make_run({"clipscore": [0.5] * 4}))
    real, raced = file_module.files_beside, []

    def racing(json_path: Path):
        load = real(json_path)

        def sample_files(name: str):
            if not raced:  # another update replaces the whole pair after this read took the old JSON
                raced.append(True)
                FileBaselineStore(path).write(make_run({"clipscore": [0.9] * 4}))
            return load(name)
        return sample_files

    monkeypatch.setattr(file_module, "files_beside", racing)
    back = store.read()
    assert raced and back is not None and back.suites[0].metrics["clipscore"].per_sample == (0.9,) * 4
