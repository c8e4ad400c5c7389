"""Generated texts: one string per image; an empty string is a valid output (scored), anything else
is refused naming the sample.

The adapter is a user module around the real tiny TrOCR model, loaded by the gate's own transformers
loader, with one fault chosen by ``model.options.fault``; the suite is the demo's OCR suite.
"""

from __future__ import annotations

import itertools
import math
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from support.project import write_thresholds
from support.tiny_models import build_tiny_trocr

from qa_gate.errors import AdapterError
from qa_gate.pipeline import prepare, score

REPO = Path(__file__).resolve().parents[2]
READER = '''
from qa_gate.adapters.hf.captioner import load_transformers_captioner


class Reader:
    def __init__(self, model_config, device):
        self.inner, _ = load_transformers_captioner(model_config, device)
        self.settings = self.inner.settings
        self.fault = model_config.options.get("fault")

    def generate(self, images):
        texts = self.inner.generate(images)
        if self.fault == "empty_first":
            texts[0] = ""
        if self.fault == "none_first":
            texts[0] = None
        if self.fault == "one_short":
            texts = texts[:-1]
        return texts
'''
_names = itertools.count()


@pytest.fixture(scope="module")
def trocr(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_trocr(tmp_path_factory.mktemp("trocr") / "ckpt")


@pytest.fixture
def run(tmp_path: Path, trocr: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str | None], object]]:
    """Score ``cer`` on ``golden/words`` (40 samples, batches of 16) with the reader and a ``fault``."""
    module = f"qa_gate_reader_adapter_{next(_names)}"
    (tmp_path / f"{module}.py").write_text(READER, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))

    def scored(fault: str | None) -> object:
        model = {"adapter": f"{module}:Reader", "checkpoint": trocr, "device": "cpu", "batch_size": 16,
                 "options": {"fault": fault, "max_new_tokens": 4}}
        path = write_thresholds(tmp_path, model=model,
                                suites={"words": {"path": REPO / "golden" / "words", "metrics": {"cer": {"max": 1.0}}}})
        return score(prepare(path)).suite("words")

    yield scored
    sys.modules.pop(module, None)


def test_an_empty_text_is_a_valid_output(run) -> None:
    words = run("empty_first")
    assert words.samples[0].output == words.samples[16].output == words.samples[32].output == ""
    assert words.samples[1].output  # the model's own text
    assert math.isfinite(words.metrics["cer"].value)


def test_a_text_that_is_no_string_is_refused_naming_the_sample(run) -> None:
    with pytest.raises(AdapterError, match=r"^model\.adapter: 'qa_gate_reader_adapter_\d+:Reader': its generation "
                                           r"returned a NoneType \(None\) for sample '000-red'; expected one string "
                                           r"per image \(an empty string is a valid output\)$"):
        run("none_first")


def test_a_text_count_other_than_the_batch_is_refused(run) -> None:
    with pytest.raises(AdapterError, match=r"its generation returned 15 items for a batch of 16 images from sample "
                                           r"'000-red'; expected a list with one string per image$"):
        run("one_short")
