"""The Robustness section: clean against each perturbation, Δ by hand, consistency last, text escaped."""

from __future__ import annotations

from typing import Any

import numpy as np

from qa_gate.report.robustness import robustness_table
from qa_gate.results import MetricResult, SuiteResult


def _metric(name: str, value: float, spec: dict[str, Any] | None = None) -> MetricResult:
    definition = {"metric": name.split("@")[0], **({"perturbation": spec} if spec else {})}
    return MetricResult(name, value, True, name, definition, np.array([[value]]), (value,))


JPEG = {"name": "jpeg_q30", "kind": "jpeg", "value": 30, "seed": 0}
BLUR = {"name": "blur|2", "kind": "gaussian_blur", "value": 2.0, "seed": 0}


def _suite(*metrics: MetricResult) -> SuiteResult:
    return SuiteResult("s", "golden/s", "fp", (), {m.name: m for m in metrics})


def test_each_metric_clean_then_under_each_perturbation_with_its_change() -> None:
    table = robustness_table(_suite(
        _metric("clipscore", 2.5), _metric("cosine", 0.8), _metric("latency_p50_ms", 3.0),
        _metric("consistency@jpeg_q30", 0.75, JPEG), _metric("clipscore@jpeg_q30", 2.25, JPEG),
        _metric("cosine@jpeg_q30", 0.85, JPEG), _metric("clipscore@blur|2", 2.5, BLUR)))
    assert table is not None
    assert table.perturbations == ("jpeg_q30", "blur|2")
    assert table.kinds == ("jpeg 30", "gaussian_blur 2.0")
    assert [(r.metric, r.clean, r.cells) for r in table.rows] == [
        ("clipscore", "2.5000", ("2.2500 (−0.2500)", "2.5000 (±0.0000)")),
        ("cosine", "0.8000", ("0.8500 (+0.0500)", "—")),
        ("consistency", "—", ("0.7500", "—")),  # last, no clean value
    ]


def test_a_suite_without_perturbations_has_no_section() -> None:
    assert robustness_table(_suite(_metric("clipscore", 2.5))) is None


def test_the_markdown_section_escapes_the_names() -> None:
    from types import SimpleNamespace

    from qa_gate.report.markdown import markdown_environment

    table = robustness_table(_suite(_metric("clipscore", 2.5), _metric("clipscore@blur|2", 2.0, BLUR)))
    text = markdown_environment().get_template("robustness.md.j2").render(suite=SimpleNamespace(robustness=table))
    assert "| Metric | Clean | blur\\|2 (gaussian\\_blur 2.0) |" in text
    assert "| clipscore | 2.5000 | 2.0000 (−0.5000) |" in text
