"""No more full-size decodes are alive than there are loader workers: each image is prepared right after
decoding (``PreparesImages``) by every built-in backend, in its worker, and the preparing is timed with the
batch. With one worker that is one decode at a time, while the model runs as well.

Decoded images are tracked with weak references around ``open_image`` as ``qa_gate.scoring.inputs``
calls it; the counts are of images still alive when the next one is decoded and when the model runs.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from support.project import write_tiny_suite
from support.tiny_models import build_tiny_blip_captioner, build_tiny_blip_vqa, build_tiny_multilabel_classifier

import qa_gate.scoring.inputs as inputs_module
from qa_gate.adapters.hf.answerer import load_transformers_answerer
from qa_gate.adapters.hf.captioner import load_transformers_captioner
from qa_gate.adapters.hf.classifier import load_transformers_classifier
from qa_gate.adapters.hf.dual_encoder import load_transformers
from qa_gate.adapters.load import LoadedModel
from qa_gate.adapters.open_clip import load_open_clip
from qa_gate.config.model import ModelConfig
from qa_gate.golden.suite import load_suite
from qa_gate.results import CheckpointInfo
from qa_gate.scoring.inputs import SuiteInputs

CPU = torch.device("cpu")
BATCH = 8


class Tracker:
    """Weak references to every image ``open_image`` returned; the most alive at once."""

    def __init__(self) -> None:
        self.refs: list[weakref.ref[Any]] = []  # PIL images are unhashable: no WeakSet
        self.at_decode: list[int] = []
        self.at_call: list[int] = []

    def wrap(self, open_image: Callable[..., Any]) -> Callable[..., Any]:
        def opened(*args: Any, **kwargs: Any) -> Any:
            image = open_image(*args, **kwargs)
            self.refs.append(weakref.ref(image))
            self.at_decode.append(self.alive())
            return image
        return opened

    def alive(self) -> int:
        return sum(ref() is not None for ref in self.refs)

    def seen(self) -> None:
        self.at_call.append(self.alive())


@pytest.fixture
def tracker(monkeypatch: pytest.MonkeyPatch) -> Tracker:
    tracked = Tracker()
    monkeypatch.setattr(inputs_module, "open_image", tracked.wrap(inputs_module.open_image))
    return tracked


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> Any:
    folder = write_tiny_suite(tmp_path_factory.mktemp("suite") / "tiny", per_colour=3)
    loaded = load_suite(folder)
    assert len(loaded.samples) >= BATCH
    return loaded


def _inputs(suite: Any, workers: int = 1, **capabilities: Any) -> SuiteInputs:
    model = LoadedModel(CheckpointInfo("test", "ckpt", "0" * 64, "tiny"), **capabilities)
    return SuiteInputs(suite, model, BATCH, CPU, None, {}, workers=workers)


def _on_call(tracker: Tracker, holder: Any, name: str) -> None:
    """Count live decodes whenever the library model method ``name`` of ``holder`` runs."""
    method = getattr(holder, name)

    def counted(*args: Any, **kwargs: Any) -> Any:
        tracker.seen()
        return method(*args, **kwargs)
    setattr(holder, name, counted)


def _assert_one_at_a_time(tracker: Tracker, count: int, workers: int = 1) -> None:
    """Each decode is dropped before its worker opens the next: at most one per worker alive, also while
    the model runs (a worker may be preparing the next batch then)."""
    assert len(tracker.at_decode) == count
    assert max(tracker.at_decode) <= workers, tracker.at_decode
    assert tracker.at_call and max(tracker.at_call) <= workers, tracker.at_call


@pytest.mark.parametrize("workers", [1, 3])
def test_open_clip_encoder(suite, tracker: Tracker, tiny_open_clip: Path, workers: int) -> None:
    encoder, _ = load_open_clip(ModelConfig("open_clip", str(tiny_open_clip), device="cpu"), CPU)
    _on_call(tracker, encoder.model, "encode_image")
    inputs = _inputs(suite, workers, encoder=encoder)
    rows = inputs.image_embeddings()
    assert rows.shape[0] == len(suite.samples)
    _assert_one_at_a_time(tracker, len(suite.samples), workers)
    assert [size for _, size in inputs.stopwatches["image encoding"].batches] == [BATCH, len(suite.samples) - BATCH]


def test_transformers_encoder(suite, tracker: Tracker, transformers_files) -> None:
    encoder, _ = load_transformers(ModelConfig("transformers", str(transformers_files.folder), device="cpu"), CPU)
    _on_call(tracker, encoder.model, "get_image_features")
    _inputs(suite, encoder=encoder).image_embeddings()
    _assert_one_at_a_time(tracker, len(suite.samples))


def test_transformers_captioner(suite, tracker: Tracker, tmp_path: Path) -> None:
    folder = build_tiny_blip_captioner(tmp_path / "blip")
    captioner, _ = load_transformers_captioner(ModelConfig("transformers", str(folder), device="cpu"), CPU)
    _on_call(tracker, captioner.model, "generate")
    texts = _inputs(suite, captioner=captioner).batched("generation", captioner.generate)
    assert len(texts) == len(suite.samples) and all(isinstance(t, str) for t in texts)
    _assert_one_at_a_time(tracker, len(suite.samples))


def test_transformers_classifier(suite, tracker: Tracker, tmp_path: Path) -> None:
    folder = build_tiny_multilabel_classifier(tmp_path / "vit", ["red", "green", "blue"])
    classifier, _ = load_transformers_classifier(ModelConfig("transformers", str(folder), device="cpu"), CPU)
    classifier.model.register_forward_pre_hook(lambda *_: tracker.seen())
    scores = _inputs(suite, classifier=classifier).batched("classification", classifier.label_scores)
    assert np.concatenate(scores).shape == (len(suite.samples), 3)
    _assert_one_at_a_time(tracker, len(suite.samples))


def test_transformers_answerer(suite, tracker: Tracker, tmp_path: Path) -> None:
    folder = build_tiny_blip_vqa(tmp_path / "vqa")
    answerer, _ = load_transformers_answerer(ModelConfig("transformers", str(folder), device="cpu"), CPU)
    _on_call(tracker, answerer.model, "generate")
    questions = ["what colour?"] * len(suite.samples)
    texts = _inputs(suite, answerer=answerer).batched("answering", answerer.answer, questions)
    assert len(texts) == len(suite.samples) and all(isinstance(t, str) for t in texts)
    _assert_one_at_a_time(tracker, len(suite.samples))


class PlainEncoder:
    """A user adapter with only the plain protocol: it is handed the decoded images, a batch at a time."""

    def __init__(self, seen: Callable[[], None]) -> None:
        self.seen = seen
        self.got: list[type] = []

    def encode_images(self, images: Any) -> np.ndarray:
        self.seen()
        self.got.extend(type(x) for x in images)
        return np.array([np.asarray(x, dtype=np.float64).mean(axis=(0, 1)) for x in images])

    def encode_texts(self, texts: Any) -> np.ndarray:
        return np.ones((len(texts), 3))


def test_a_plain_user_adapter_still_gets_the_images(suite, tracker: Tracker) -> None:
    from PIL import Image

    encoder = PlainEncoder(tracker.seen)
    _inputs(suite, 3, encoder=encoder).image_embeddings()
    assert all(issubclass(t, Image.Image) for t in encoder.got)
    assert len(encoder.got) == len(suite.samples)
    # the whole first batch is alive at the call (the tracker sees it), and nothing ahead is decoded
    assert tracker.at_call == [BATCH, len(suite.samples) - BATCH]


class SlowPreparer(PlainEncoder):
    """Preparing takes 20 ms an image and the call nothing: the batch's time must include the preparing."""

    def prepare_image(self, image: Any) -> np.ndarray:
        time.sleep(0.02)
        return np.asarray(image, dtype=np.float64).mean(axis=(0, 1))

    def encode_images(self, images: Any) -> np.ndarray:
        self.seen()
        self.got.extend(type(x) for x in images)
        return np.stack(images)


def test_preparing_is_timed_with_its_batch_and_gets_prepared_items(suite, tracker: Tracker) -> None:
    encoder = SlowPreparer(tracker.seen)
    inputs = _inputs(suite, encoder=encoder)
    inputs.image_embeddings()
    assert set(encoder.got) == {np.ndarray}
    (first, size), (second, rest) = inputs.stopwatches["image encoding"].batches
    assert (size, rest) == (BATCH, len(suite.samples) - BATCH)
    assert first >= 0.02 * BATCH and second >= 0.02 * rest
    _assert_one_at_a_time(tracker, len(suite.samples))


def test_an_exception_in_prepare_image_names_the_sample(suite) -> None:
    from qa_gate.errors import AdapterError

    class Broken(PlainEncoder):
        def prepare_image(self, image: Any) -> Any:
            raise ValueError("bad transform")

    with pytest.raises(AdapterError, match=r"ValueError in prepare_image\(\) during image encoding of sample "
                                           rf"'{suite.samples[0].id}': bad transform"):
        _inputs(suite, encoder=Broken(lambda: None)).image_embeddings()
