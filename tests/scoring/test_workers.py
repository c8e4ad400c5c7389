"""The image loader's workers change nothing but speed; texts go shortest first; the hot path does no
needless work (CUDA synchronised only for efficiency metrics, backend versions read without importing).

Outputs are compared bitwise with 1 and 4 workers on the demo's good checkpoint and its shapes suite.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from support.project import write_thresholds

from qa_gate.adapters.load import LoadedModel
from qa_gate.adapters.open_clip import load_open_clip
from qa_gate.config.load import load_config
from qa_gate.config.model import MetricConfig, ModelConfig, Overrides, SuiteConfig
from qa_gate.errors import AdapterError, ConfigError, GoldenError
from qa_gate.golden.suite import load_suite, write_hashes
from qa_gate.results import CheckpointInfo
from qa_gate.scoring.inputs import SuiteInputs
from qa_gate.scoring.runner import timed
from qa_gate.scoring.stopwatch import Stopwatch

REPO = Path(__file__).resolve().parents[2]
GOOD = REPO / "qa_gate" / "demo" / "checkpoints" / "good"
SHAPES = REPO / "golden" / "shapes"
CPU = torch.device("cpu")


def _inputs(suite: Any, workers: int, batch_size: int = 16, **capabilities: Any) -> SuiteInputs:
    model = LoadedModel(CheckpointInfo("open_clip", str(GOOD), "0" * 64, "demo"), **capabilities)
    return SuiteInputs(suite, model, batch_size, CPU, None, {}, workers=workers)


@pytest.fixture(scope="module")
def encoder() -> Any:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield load_open_clip(ModelConfig("open_clip", str(GOOD), device="cpu"), CPU)[0]
    torch.set_num_threads(threads)


@pytest.mark.parametrize("few", [0, 1])
def test_no_or_one_and_four_workers_give_the_same_outputs_bitwise(encoder: Any, few: int) -> None:
    suite = load_suite(SHAPES)
    one, four = _inputs(suite, few, encoder=encoder), _inputs(suite, 4, encoder=encoder)
    images = one.image_embeddings()
    assert images.shape == (len(suite.samples), 32)
    assert np.array_equal(images, four.image_embeddings())
    assert np.array_equal(one.caption_embeddings("A photo depicts "), four.caption_embeddings("A photo depicts "))
    assert len({row.tobytes() for row in images}) > len(images) // 2  # real, different rows
    sizes = [size for _, size in four.stopwatches["image encoding"].batches]
    assert sizes == [16] * (len(suite.samples) // 16) + ([len(suite.samples) % 16] if len(suite.samples) % 16 else [])


def test_metrics_sharing_texts_read_one_matrix_and_a_shared_reference_is_one_row(encoder: Any) -> None:
    """CLIPScore and RefCLIPScore read the same captions' matrix; the shapes suite's 600 references are a few
    distinct texts (40), kept as those rows: RefCLIPScore is the same, bitwise, as from every reference stacked."""
    from qa_gate.metrics.clip import RefCLIPScore, max_reference_cosine

    prefix = "A photo depicts "
    inputs = _inputs(load_suite(SHAPES), 0, encoder=encoder)
    captions = inputs.caption_embeddings(prefix)
    assert inputs.caption_embeddings(prefix) is captions and not captions.flags.writeable
    refs, owner, which = inputs.reference_rows(prefix)
    texts = [prefix + r for s in inputs.suite.samples for r in s.references]
    assert len(texts) == 600 and len(refs) == len(set(texts)) == 40
    assert owner.tolist() == [i for i, s in enumerate(inputs.suite.samples) for _ in s.references]
    stacked = _inputs(load_suite(SHAPES), 0, encoder=encoder).encode_texts(texts)  # every reference, a row each
    assert np.array_equal(refs[which], stacked) and np.array_equal(inputs.reference_embeddings(prefix)[0], stacked)
    got = RefCLIPScore().per_sample(inputs, {"prefix": prefix, "w": 2.5})
    assert np.array_equal(got[:, 2], max_reference_cosine(captions, stacked, owner))


def test_a_decode_failure_in_a_worker_names_the_suite_and_the_sample(encoder: Any, tmp_path: Path) -> None:
    folder = tmp_path / "shapes"
    shutil.copytree(SHAPES, folder)
    suite = load_suite(folder)
    broken = suite.samples[37]
    broken.image_path.write_bytes(b"not an image")
    write_hashes(folder)
    with pytest.raises(GoldenError) as info:
        _inputs(load_suite(folder), 4, encoder=encoder).image_embeddings()
    assert f"shapes: sample '{broken.id}': image '{broken.image}' cannot be decoded" in str(info.value)
    assert "\n" not in str(info.value)


def test_an_exception_in_a_workers_prepare_image_names_the_sample(encoder: Any) -> None:
    class Broken:
        def prepare_image(self, image: Any) -> Any:
            raise ValueError("bad transform")

        def encode_images(self, images: Any) -> np.ndarray:
            return np.ones((len(images), 3))

        def encode_texts(self, texts: Any) -> np.ndarray:
            return np.ones((len(texts), 3))

    suite = load_suite(SHAPES)
    with pytest.raises(AdapterError, match=r"ValueError in prepare_image\(\) during image encoding of sample "
                                           rf"'{suite.samples[0].id}': bad transform"):
        _inputs(suite, 4, encoder=Broken()).image_embeddings()


class Recording:
    """A plain user adapter that embeds a text as (length, 1, 0) and records its batches."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []

    def encode_images(self, images: Any) -> np.ndarray:
        return np.ones((len(images), 3))

    def encode_texts(self, texts: Any) -> np.ndarray:
        self.batches.append(list(texts))
        return np.array([[len(t), 1.0, 0.0] for t in texts])


def test_texts_are_encoded_shortest_first_and_once_each() -> None:
    adapter = Recording()
    inputs = _inputs(load_suite(SHAPES), 1, batch_size=2, encoder=adapter)
    texts = ["cccc", "a", "bb", "dddddd", "a", "eee"]
    rows = inputs.encode_texts(texts)
    assert adapter.batches == [["a", "bb"], ["eee", "cccc"], ["dddddd"]]
    expected = np.array([[len(t), 1.0, 0.0] for t in texts])
    np.testing.assert_allclose(rows, expected / np.linalg.norm(expected, axis=1, keepdims=True))


class CudaCalls:
    """Stands in for ``torch.cuda``'s synchronisation and peak functions: there is no GPU here."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[str] = []
        for name in ("synchronize", "reset_peak_memory_stats"):
            monkeypatch.setattr(torch.cuda, name, lambda *_, name=name: self.calls.append(name))
        monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda *_: self.calls.append("peak") or 2**20)


@pytest.mark.parametrize("sync", [True, False])
def test_cuda_is_synchronised_around_batches_only_when_timed(monkeypatch: pytest.MonkeyPatch, sync: bool) -> None:
    cuda = CudaCalls(monkeypatch)
    watch = Stopwatch(torch.device("cuda"), sync=sync)
    for size in (4, 4):
        with watch.batch(size):
            pass
    watch.stop()
    assert [size for _, size in watch.batches] == [4, 4]
    expected = ["reset_peak_memory_stats", "synchronize", "synchronize", "synchronize", "synchronize", "peak"]
    assert cuda.calls == (expected if sync else [])


@pytest.mark.parametrize(("metrics", "expected"), [
    ((MetricConfig("clipscore"), MetricConfig("i2t_r1")), False),
    ((MetricConfig("clipscore"), MetricConfig("latency_p95_ms")), True),
    ((MetricConfig("peak_memory_mb"),), True),
])
def test_a_suite_is_timed_when_an_efficiency_metric_reads_it(metrics: tuple[MetricConfig, ...],
                                                             expected: bool) -> None:
    assert timed(SuiteConfig("s", SHAPES, "s", metrics)) is expected


def test_the_environment_reads_backend_versions_without_importing_them() -> None:
    script = ("import sys, importlib.metadata as m, torch\n"
              "from qa_gate.scoring.runner import environment\n"
              "env = environment(torch.device('cpu'), None, 8)\n"
              "assert 'open_clip' not in sys.modules and 'transformers' not in sys.modules, sorted(sys.modules)\n"
              "assert env['open_clip'] == m.version('open_clip_torch'), env\n"
              "assert env['transformers'] == m.version('transformers'), env\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, cwd=REPO)
    assert done.returncode == 0, done.stderr[-2000:]


def test_model_workers_in_the_file_and_as_an_option(tmp_path: Path) -> None:
    model = {"adapter": "open_clip", "checkpoint": str(GOOD), "workers": 2}
    path = write_thresholds(tmp_path, model=model, suites={"shapes": {"path": str(SHAPES), "metrics": {"cosine": {}}}})
    assert load_config(path).model.workers == 2
    assert load_config(path, Overrides(workers="3", option_prefix="--mm-")).model.workers == 3  # type: ignore[arg-type]
    assert load_config(path, Overrides(workers="0", option_prefix="--mm-")).model.workers == 0  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"--mm-workers: expected an integer >= 0, got '-1'"):
        load_config(path, Overrides(workers="-1", option_prefix="--mm-"))  # type: ignore[arg-type]
    del model["workers"]
    assert load_config(write_thresholds(tmp_path, model=model, suites={"shapes": {
        "path": str(SHAPES), "metrics": {"cosine": {}}}})).model.workers is None
