"""Generated answers and classifier scores from the output cache: a warm run loads no transformers model
and gives the cold run's outputs, values and definitions (decoding settings and labels come from its card)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from support.predictions import demo_suite
from support.project import write_thresholds
from support.tiny_models import build_tiny_blip_vqa, build_tiny_multilabel_classifier

import qa_gate.adapters.load as load
from qa_gate.config.model import Overrides
from qa_gate.golden.suite import load_suite
from qa_gate.pipeline import prepare, score

REPO = Path(__file__).resolve().parents[2]
MODEL = {"adapter": "transformers", "checkpoint": "ckpt", "device": "cpu", "batch_size": 4,
         "options": {"max_new_tokens": 6}}


def _project(root: Path, suite: str, build: Callable[[Path], Any], metrics: dict, keep: int) -> Path:
    """The first ``keep`` samples of a demo suite, a tiny checkpoint ``ckpt`` and thresholds gating ``metrics``."""
    demo_suite(root, suite, keep)
    build(root / "ckpt")
    return write_thresholds(root, model=MODEL, suites={suite: {"metrics": metrics}}, baseline={"path": "b.json"})


@pytest.mark.parametrize("kind", ["vqa", "multilabel"])
def test_a_warm_generator_run_loads_nothing_and_equals_the_cold_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                    kind: str) -> None:
    loads: list[str] = []
    real = load.load_model

    def counted(model: Any, *args: Any) -> Any:
        loads.append(model.checkpoint)
        return real(model, *args)

    monkeypatch.setattr(load, "load_model", counted)
    monkeypatch.chdir(tmp_path)
    if kind == "vqa":
        path = _project(tmp_path, "vqa", build_tiny_blip_vqa, {"vqa_accuracy": {"min": 0.0}}, keep=6)
    else:
        labels = list(load_suite(REPO / "golden" / "multilabel").labels)
        path = _project(tmp_path, "multilabel", lambda f: build_tiny_multilabel_classifier(f, [*labels, "x"]),
                        {"f1_micro": {"threshold": 0.5}, "f1_macro": {"threshold": 0.5}}, keep=6)
    options = Overrides(cache_dir=str(tmp_path / "cache"), quiet=True)
    cold = score(prepare(path, options))
    warm = score(prepare(path, options))
    assert len(loads) == 1  # the warm run loaded no model
    assert warm.checkpoint == cold.checkpoint
    assert [s.output for s in warm.suites[0].samples] == [s.output for s in cold.suites[0].samples]
    for name, metric in cold.suites[0].metrics.items():
        other = warm.suites[0].metrics[name]
        assert other.value == metric.value and np.array_equal(other.stats, metric.stats)
        assert other.fingerprint == metric.fingerprint and dict(other.definition) == dict(metric.definition)
