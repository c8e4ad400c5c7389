"""What prepare refuses about a whole suite before any model loads, and the golden section it reads."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.project import write_thresholds, write_tiny_suite

from qa_gate.config.model import DEFAULT_MAX_PIXELS
from qa_gate.errors import GoldenError
from qa_gate.golden.suite import write_hashes
from qa_gate.pipeline import Prepared, prepare

MODEL = {"adapter": "open_clip", "checkpoint": "ckpt"}


@pytest.fixture(autouse=True)
def _cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def _prepare(tmp_path: Path, metrics: dict, **sections: object) -> Prepared:
    if not (tmp_path / "golden" / "tiny").exists():
        write_tiny_suite(tmp_path / "golden" / "tiny")  # three colours, two samples each
    return prepare(write_thresholds(tmp_path, MODEL, {"tiny": {"metrics": metrics}}, **sections))


@pytest.mark.parametrize(("metric", "k"), [("zeroshot_top5", 5), ("zeroshot_top1", 1)])
def test_top_k_over_k_classes_or_fewer_is_refused(tmp_path: Path, metric: str, k: int) -> None:
    manifest = write_tiny_suite(tmp_path / "golden" / "tiny") / "manifest.yaml"
    manifest.write_text(manifest.read_text().replace("tags: {colour: ", "tags: {shape: square, colour: "))
    write_hashes(manifest.parent)  # one shape, three colours
    tag = "colour" if k == 5 else "shape"
    with pytest.raises(GoldenError) as info:
        _prepare(tmp_path, {metric: {"label_tag": tag, "min": 0.5}})
    classes = "3 classes (values of tag 'colour': 'blue', 'green', 'red')" if k == 5 else \
        "1 class (values of tag 'shape': 'square')"
    assert str(info.value) == (
        f"golden/tiny: suite 'tiny' has {classes}, so every sample ranks its class within the top {k} whatever "
        f"the model and the value is always 1; expected at least {k + 1} classes, which metric '{metric}' "
        "(suites.tiny.metrics) needs")


def test_top_1_over_three_classes_is_accepted(tmp_path: Path) -> None:
    prepared = _prepare(tmp_path, {"zeroshot_top1": {"label_tag": "colour", "min": 0.5}})
    assert prepared.suites[0].name == "tiny"


def test_golden_max_pixels_reaches_every_suite(tmp_path: Path) -> None:
    metrics = {"clipscore": {"min": 0.0}}
    assert _prepare(tmp_path, metrics).suites[0].max_pixels == DEFAULT_MAX_PIXELS == 40_000_000
    assert _prepare(tmp_path, metrics, golden={"max_pixels": 1000}).suites[0].max_pixels == 1000
