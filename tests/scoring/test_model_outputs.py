"""Every model call is held to one contract (``qa_gate.scoring.inputs``): an exception is one line naming
the adapter, the method and the batch; outputs are finite rows, one per input, of one width for images
and texts; numpy arrays and lists of rows are as good as tensors.

The adapter is a user module (written to a temporary folder) around the real tiny open_clip model,
with one fault chosen by ``model.options.fault``.
"""

from __future__ import annotations

import itertools
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from support.project import build_tiny_project, write_thresholds

from qa_gate.errors import AdapterError
from qa_gate.pipeline import prepare, score

ADAPTER = '''
import numpy as np
import open_clip
import torch


class Faulty:
    """The tiny open_clip model, with the fault named by model.options['fault']."""

    def __init__(self, model_config, device):
        name = f"local-dir:{model_config.checkpoint}"
        self.model, _, self.preprocess = open_clip.create_model_and_transforms(name)
        self.model.eval()
        self.tokenizer = open_clip.get_tokenizer(name)
        self.fault = model_config.options.get("fault")

    def _out(self, rows):
        if self.fault == "numpy":
            return rows.numpy()
        if self.fault == "lists":
            return rows.tolist()
        return rows

    def encode_images(self, images):
        if self.fault == "raise_images":
            raise ValueError("image tower exploded\\nat layer 3")
        if self.fault == "interrupt":
            raise KeyboardInterrupt
        rows = self.model.encode_image(torch.stack([self.preprocess(img) for img in images]))
        pixels = [np.asarray(img, dtype=np.float32).mean(axis=(0, 1)) for img in images]
        if self.fault == "nan_red_and_blue":  # red in the first batch, blue in the second
            rows[torch.tensor([p[0] > 150 or p[2] > 150 for p in pixels]), 0] = float("nan")
        if self.fault == "inf_images":
            rows[:, 1] = float("inf")
        if self.fault == "widths":
            rows = rows[:, :16]
        if self.fault == "ragged_images":
            return [row.tolist()[: 1 + k] for k, row in enumerate(rows)]
        return self._out(rows)

    def encode_texts(self, texts):
        if self.fault == "raise_texts":
            raise RuntimeError("tokenizer vocabulary missing")
        rows = self.model.encode_text(self.tokenizer(list(texts)))
        if self.fault == "nan_blue_texts":
            rows[torch.tensor(["blue" in t for t in texts])] = float("nan")
        if self.fault == "widths":
            rows = rows[:, :8]
        return self._out(rows)
'''
METRICS = {"clipscore": {"min": 0.0}, "refclipscore": {"min": 0.0}, "cosine": {"min": -1.0}}
_names = itertools.count()


@pytest.fixture
def adapter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The ``module:attr`` of the faulty adapter, importable for this test."""
    name = f"qa_gate_faulty_adapter_{next(_names)}"
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(ADAPTER), encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield f"{name}:Faulty"
    sys.modules.pop(name, None)


@pytest.fixture
def run(tmp_path: Path, tiny_open_clip: Path, adapter: str) -> Callable[..., object]:
    """Score the tiny project's suite (6 samples, batches of 4) with the adapter and a ``fault``."""
    build_tiny_project(tmp_path / "project", tiny_open_clip)

    def scored(fault: str | None) -> object:
        model = {"adapter": adapter, "checkpoint": tmp_path / "project" / "ckpt", "device": "cpu",
                 "batch_size": 4, "options": {"fault": fault}}
        path = write_thresholds(tmp_path / "project", model=model,
                                suites={"tiny": {"path": "golden/tiny", "metrics": METRICS}})
        return score(prepare(path)).suite("tiny")

    return scored


def test_an_exception_in_encode_images_names_adapter_method_and_batch(run, adapter: str) -> None:
    with pytest.raises(AdapterError) as info:
        run("raise_images")
    assert str(info.value) == (f"model.adapter: '{adapter}' raised ValueError in encode_images() during image "
                               "encoding of the batch of 4 images from sample 'red-0': image tower exploded")
    assert isinstance(info.value.__cause__, ValueError)


def test_an_exception_in_encode_texts_names_the_texts(run, adapter: str) -> None:
    with pytest.raises(AdapterError, match=rf"^model\.adapter: '{adapter}' raised RuntimeError in encode_texts\(\) "
                                           r"during text encoding of \d texts from '.+': tokenizer vocabulary "
                                           r"missing$"):
        run("raise_texts")


def test_a_keyboard_interrupt_passes_untouched(run) -> None:
    with pytest.raises(KeyboardInterrupt):
        run("interrupt")


def test_image_and_text_embeddings_of_different_widths(run, adapter: str) -> None:
    with pytest.raises(AdapterError) as info:
        run("widths")
    assert str(info.value) == (f"model.adapter: '{adapter}': its image embeddings have 16 dimensions but its text "
                               "embeddings 8; expected one width for both (a dual encoder embeds images and texts "
                               "into one space)")


@pytest.mark.parametrize("fault", ["numpy", "lists"])
def test_numpy_arrays_and_lists_of_rows_score_as_tensors_do(run, fault: str) -> None:
    expected, got = run(None), run(fault)
    for name in METRICS:
        assert got.metrics[name].per_sample == pytest.approx(expected.metrics[name].per_sample, abs=1e-9)
    assert len(set(expected.metrics["cosine"].per_sample)) > 1  # real, different numbers


def test_rows_of_different_lengths_are_refused(run, adapter: str) -> None:
    with pytest.raises(AdapterError) as info:
        run("ragged_images")
    assert str(info.value).startswith(
        f"model.adapter: '{adapter}': its image encoding returned list that is no array of numbers (rows of "
        "different lengths, or not numbers) for 4 inputs from 'red-0'; expected a 2-d tensor, array or list of rows")


def test_nan_image_embeddings_name_the_count_and_the_first_samples(run, adapter: str) -> None:
    with pytest.raises(AdapterError) as info:
        run("nan_red_and_blue")
    assert str(info.value) == (
        f"model.adapter: '{adapter}': its image encoding returned 4 non-finite value(s) (NaN or inf) for 4 of 6 "
        "samples ('red-0', 'red-1', 'blue-0', ...); expected finite numbers: the model's weights or inputs are "
        "broken")


def test_inf_image_embeddings_are_refused(run) -> None:
    with pytest.raises(AdapterError, match=r"image encoding returned 6 non-finite value\(s\) \(NaN or inf\) for "
                                           r"6 of 6 samples \('red-0', 'red-1', 'green-0', \.\.\.\)"):
        run("inf_images")


def test_nan_text_embeddings_name_the_texts(run) -> None:
    with pytest.raises(AdapterError) as info:
        run("nan_blue_texts")
    message = str(info.value)
    assert "its text encoding returned " in message
    assert "'A photo depicts a blue square'" in message
    assert "red" not in message.split("(NaN or inf)")[1].split(";")[0]  # only the blue texts are named
