"""``suites.X.perturbations``: the metrics it adds, their params and rules, and every bad input's one-line error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from support.project import write_thresholds

from qa_gate.config.load import load_config
from qa_gate.config.model import Perturbation
from qa_gate.errors import ConfigError

MODEL = {"adapter": "open_clip", "checkpoint": "ckpt"}
CLEAN = {"clipscore": {"min": 2.0, "prefix": "A photo of "}, "zeroshot_top1": {"label_tag": "colour"},
         "latency_p50_ms": {"max": 100}}


def _load(tmp_path: Path, perturbations: Any, metrics: dict[str, Any] | None = None, **suite: Any):
    (tmp_path / "golden" / "s").mkdir(parents=True, exist_ok=True)
    body = {"path": "golden/s", "perturbations": perturbations, "metrics": {**CLEAN, **(metrics or {})}, **suite}
    return load_config(write_thresholds(tmp_path, MODEL, {"s": body}, gate={"seed": 5})).suites[0]


def test_each_perturbation_rescores_the_suite_but_efficiency_and_adds_consistency(tmp_path: Path) -> None:
    suite = _load(tmp_path, {"jpeg_q30": {"jpeg": 30}, "caps": {"text_case": "upper"}},
                  {"clipscore@jpeg_q30": {"min": 1.5, "max_drop": 0.1}, "consistency@jpeg_q30": {"min": 0.9}})
    names = [m.name for m in suite.metrics]
    assert names == ["clipscore", "zeroshot_top1", "latency_p50_ms",
                     "clipscore@jpeg_q30", "zeroshot_top1@jpeg_q30", "consistency@jpeg_q30",
                     "clipscore@caps", "consistency@caps"]  # a text perturbation: alignment and retrieval only
    by_name = {m.name: m for m in suite.metrics}
    jpeg = {"name": "jpeg_q30", "kind": "jpeg", "value": 30, "seed": 0}  # not seeded: gate.seed 5 is not in it
    assert dict(by_name["clipscore@jpeg_q30"].params) == {**by_name["clipscore"].params, "perturbation": jpeg}
    assert [(r.kind, r.value) for r in by_name["clipscore@jpeg_q30"].rules] == [("min", 1.5), ("max_drop", 0.1)]
    assert by_name["zeroshot_top1@jpeg_q30"].rules == ()  # scored and reported, not gated
    assert dict(by_name["consistency@jpeg_q30"].params)["of"] == "clipscore"
    assert suite.perturbations == (Perturbation("jpeg_q30", "jpeg", 30, 0), Perturbation("caps", "text_case",
                                                                                         "upper", 0))


def test_only_the_random_kinds_carry_the_gate_seed(tmp_path: Path) -> None:
    # gate.seed is also the bootstrap's: changing it must not make a JPEG or blur baseline incomparable
    suite = _load(tmp_path, {"j": {"jpeg": 30}, "b": {"gaussian_blur": 2}, "n": {"gaussian_noise": 0.1},
                             "t": {"text_typo": 0.1}})
    assert {p.name: p.seed for p in suite.perturbations} == {"j": 0, "b": 0, "n": 5, "t": 5}


def test_a_slice_gates_a_perturbed_metric(tmp_path: Path) -> None:
    suite = _load(tmp_path, {"blur": {"gaussian_blur": 2}}, slices={"colour=red": {"consistency@blur": {"min": 0.5}}})
    (rule,) = suite.slices[0].metrics[0].rules
    assert (suite.slices[0].metrics[0].name, rule.kind, rule.value) == ("consistency@blur", "min", 0.5)


def test_a_parameter_on_a_sliced_perturbed_metric_points_at_the_clean_metric(tmp_path: Path) -> None:
    # suites.s.metrics.clipscore@blur.prefix is refused too: the hint must name the clean metric
    with pytest.raises(ConfigError) as error:
        _load(tmp_path, {"blur": {"gaussian_blur": 2}}, slices={"colour=red": {"clipscore@blur": {"prefix": "x"}}})
    assert "suites.s.slices.colour=red.clipscore@blur.prefix: 'prefix' is a parameter of clipscore@blur; " \
           "parameters belong on the suite metric (suites.s.metrics.clipscore.prefix)" in str(error.value)


@pytest.mark.parametrize(("perturbations", "metrics", "message"), [
    ({"j": {"jpg": 30}}, {}, "suites.s.perturbations.j.jpg: unknown perturbation kind 'jpg' (did you mean 'jpeg'?)"),
    ({"j": {"jpeg": 100}}, {}, "suites.s.perturbations.j.jpeg: expected an integer quality in [1, 95], got 100"),
    ({"j": {"jpeg": 30.5}}, {}, "suites.s.perturbations.j.jpeg: expected an integer quality in [1, 95], got 30.5"),
    ({"b": {"gaussian_blur": 0}}, {}, "suites.s.perturbations.b.gaussian_blur: expected a sigma in (0, 100]"),
    ({"n": {"gaussian_noise": 1.5}}, {}, "suites.s.perturbations.n.gaussian_noise: expected a standard deviation "
                                         "in (0, 1]"),
    ({"c": {"center_crop": 1}}, {}, "suites.s.perturbations.c.center_crop: expected a kept fraction of each side "
                                    "in (0, 1), got 1"),
    ({"c": {"center_crop": True}}, {}, "center_crop: expected a kept fraction of each side in (0, 1), got true"),
    ({"r": {"rotate": 0}}, {}, "suites.s.perturbations.r.rotate: expected degrees in (-360, 360), not 0, got 0"),
    ({"b": {"brightness": -1}}, {}, "suites.s.perturbations.b.brightness: expected a factor > 0"),
    ({"d": {"downscale": 2}}, {}, "suites.s.perturbations.d.downscale: expected a scale factor in (0, 1), got 2"),
    ({"t": {"text_case": "title"}}, {}, "suites.s.perturbations.t.text_case: expected 'lower' or 'upper', got 'title'"),
    ({"t": {"text_typo": 0.9}}, {}, "suites.s.perturbations.t.text_typo: expected a rate in (0, 0.5]"),
    ({"t": {"jpeg": 30, "rotate": 5}}, {}, "suites.s.perturbations.t: expected exactly one perturbation kind"),
    ({"bad name": {"jpeg": 30}}, {}, "suites.s.perturbations.bad name: expected a perturbation name of letters"),
    ({"jpeg30": {"jpeg": 30}}, {"clipscore@jpeg3": {"min": 1}},
     "suites.s.metrics.clipscore@jpeg3: 'jpeg3' is not a perturbation of suite 's' (did you mean 'jpeg30'?); "
     "its perturbations: jpeg30"),
    ({"jpeg30": {"jpeg": 30}}, {"clipscor@jpeg30": {"min": 1}},
     "suites.s.metrics.clipscor@jpeg30: 'clipscor' is not a metric of suite 's' (did you mean 'clipscore'?)"),
    ({"j": {"jpeg": 30}}, {"latency_p50_ms@j": {"max": 1}},
     "suites.s.metrics.latency_p50_ms@j: latency_p50_ms (efficiency family) is not scored under the image "
     "perturbation 'j'"),
    ({"t": {"text_case": "upper"}}, {"zeroshot_top1@t": {"min": 1}},
     "suites.s.metrics.zeroshot_top1@t: zeroshot_top1 (zeroshot family) is not scored under the text perturbation"),
    ({"j": {"jpeg": 30}}, {"clipscore@j": {"prefix": "x"}},
     "suites.s.metrics.clipscore@j.prefix: 'prefix' is a parameter of clipscore@j; parameters belong on the suite "
     "metric (suites.s.metrics.clipscore.prefix) and its slices inherit them; a perturbed metric (name@P) takes rules"),
    ({"j": {"jpeg": 30}}, {"consistency@j": {"mni": 1}}, "suites.s.metrics.consistency@j.mni: unknown rule 'mni' "
                                                         "(did you mean 'min'?)"),
    (None, {"clipscore@j": {"min": 1}}, "'j' is not a perturbation of suite 's'; it declares no 'perturbations'"),
])
def test_bad_perturbations_name_the_key_the_value_and_the_range(tmp_path: Path, perturbations: Any,
                                                                metrics: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as error:
        _load(tmp_path, perturbations, metrics)
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_a_text_perturbation_needs_an_alignment_or_retrieval_metric(tmp_path: Path) -> None:
    (tmp_path / "golden" / "s").mkdir(parents=True)
    body = {"path": "golden/s", "perturbations": {"t": {"text_typo": 0.1}},
            "metrics": {"zeroshot_top1": {"label_tag": "colour"}}}
    with pytest.raises(ConfigError, match=r"suites\.s\.perturbations\.t: a text perturbation re-scores the suite's "
                                          r"alignment and retrieval metrics; suite 's' has none \(zeroshot_top1\)"):
        load_config(write_thresholds(tmp_path, MODEL, {"s": body}))


def test_an_image_perturbation_needs_a_metric_other_than_efficiency(tmp_path: Path) -> None:
    (tmp_path / "golden" / "s").mkdir(parents=True)
    body = {"path": "golden/s", "perturbations": {"j": {"jpeg": 50}}, "metrics": {"latency_p50_ms": {"max": 9}}}
    with pytest.raises(ConfigError, match=r"suites\.s\.perturbations\.j: an image perturbation re-scores the "
                                          r"suite's metrics but efficiency; suite 's' has none \(latency_p50_ms\)"):
        load_config(write_thresholds(tmp_path, MODEL, {"s": body}))
