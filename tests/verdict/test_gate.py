"""The gate's decisions: floors, regression rules, fingerprints, slices and sample diffs."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from support.project import write_thresholds
from support.runs import make_config, make_run

from qa_gate.config.load import load_config
from qa_gate.config.model import Rule
from qa_gate.verdict.checks import Status, planned_check_ids
from qa_gate.verdict.gate import accept_as_baseline, evaluate, worst_slices

BASE = [1.0, 1.0, 1.0, 1.0]


def statuses(verdict) -> dict[str, Status]:
    return {c.id: c.status for c in verdict.checks}


def test_floor_min_and_max_hold_or_break_without_baseline() -> None:
    config = make_config({"clipscore": [Rule("min", 0.8), Rule("max", 0.9)]})
    verdict = evaluate(make_run({"clipscore": [0.85] * 4}), None, config)
    assert statuses(verdict) == {"shapes::clipscore::min": Status.PASS,
                                 "shapes::clipscore::max": Status.PASS}
    verdict = evaluate(make_run({"clipscore": [0.7] * 4}), None, config)
    assert statuses(verdict)["shapes::clipscore::min"] is Status.FAIL
    assert not verdict.passed
    assert [c.id for c in verdict.failures] == ["shapes::clipscore::min"]


def test_floor_is_absolute_even_when_baseline_is_worse() -> None:
    config = make_config({"clipscore": [Rule("min", 0.8)]})
    verdict = evaluate(make_run({"clipscore": [0.75] * 4}), make_run({"clipscore": [0.5] * 4}), config)
    assert not verdict.passed


def test_regression_rules_need_a_baseline() -> None:
    config = make_config({"clipscore": [Rule("max_drop", 0.01)]})
    verdict = evaluate(make_run({"clipscore": [0.1] * 4}), None, config)
    assert statuses(verdict)["shapes::clipscore::max_drop"] is Status.NO_BASELINE
    assert verdict.passed
    assert any("No baseline yet" in n for n in verdict.notes)


@pytest.mark.parametrize(("candidate", "expected"), [(0.995, Status.PASS), (0.99, Status.PASS), (0.985, Status.FAIL)])
def test_max_drop_boundary(candidate: float, expected: Status) -> None:
    config = make_config({"clipscore": [Rule("max_drop", 0.01)]})
    verdict = evaluate(make_run({"clipscore": [candidate] * 4}), make_run({"clipscore": BASE}), config)
    check = verdict.checks[0]
    assert check.status is expected
    assert check.baseline == pytest.approx(1.0)
    assert check.delta == pytest.approx(candidate - 1.0)


def test_max_drop_pct_is_relative_to_the_baseline() -> None:
    config = make_config({"cosine": [Rule("max_drop_pct", 5)]})
    base = make_run({"cosine": [0.2] * 4})
    assert evaluate(make_run({"cosine": [0.191] * 4}), base, config).passed  # 4.5 %
    failed = evaluate(make_run({"cosine": [0.189] * 4}), base, config)  # 5.5 %
    assert not failed.passed
    assert "5.5" in failed.checks[0].message


def test_lower_is_better_metrics_drop_upwards() -> None:
    config = make_config({"cosine": [Rule("max_drop", 0.01)]})  # as if lower were better
    base = make_run({"cosine": [0.10] * 4}, higher=False)
    assert evaluate(make_run({"cosine": [0.09] * 4}, higher=False), base, config).passed
    assert not evaluate(make_run({"cosine": [0.12] * 4}, higher=False), base, config).passed


def test_changed_golden_suite_is_incomparable_and_fails() -> None:
    config = make_config({"clipscore": [Rule("min", 0.0), Rule("max_drop", 0.5)]})
    verdict = evaluate(make_run({"clipscore": BASE}, suite_fp="new"), make_run({"clipscore": BASE}, suite_fp="old"),
                       config)
    by_id = statuses(verdict)
    assert by_id["shapes::clipscore::max_drop"] is Status.INCOMPARABLE
    assert by_id["shapes::clipscore::min"] is Status.PASS
    assert not verdict.passed
    assert any("old" in n and "new" in n for n in verdict.notes)
    assert verdict.samples == ()


def test_changed_metric_definition_is_incomparable() -> None:
    config = make_config({"clipscore": [Rule("max_drop", 0.5)]})
    verdict = evaluate(make_run({"clipscore": BASE}, metric_fp="w=1"), make_run({"clipscore": BASE}, metric_fp="w=2.5"),
                       config)
    assert verdict.checks[0].status is Status.INCOMPARABLE
    assert "metric definition changed" in verdict.checks[0].message


def test_slices_and_samples_show_where_it_regressed() -> None:
    config = make_config({"clipscore": [Rule("max_drop", 0.5)]})
    candidate = make_run({"clipscore": [0.2, 0.4, 1.0, 1.1]})
    verdict = evaluate(candidate, make_run({"clipscore": BASE}), config)
    red = next(s for s in verdict.slices if s.slice == "colour=red")
    blue = next(s for s in verdict.slices if s.slice == "colour=blue")
    assert (red.n, red.value, red.baseline) == (2, pytest.approx(0.3), pytest.approx(1.0))
    assert blue.delta == pytest.approx(0.05)
    assert [s.slice for s in worst_slices(verdict)] == ["colour=red", "colour=blue"]
    # Only samples that got worse, the most regressed first.
    assert [d.sample_id for d in verdict.samples] == ["s0", "s1"]
    assert verdict.samples[0].delta == pytest.approx(-0.8)


def test_accept_as_baseline_keeps_floors_and_waives_regressions() -> None:
    config = make_config({"clipscore": [Rule("min", 0.5), Rule("max_drop", 0.01)]})
    verdict = accept_as_baseline(evaluate(make_run({"clipscore": [0.6] * 4}), make_run({"clipscore": BASE}), config))
    by_id = statuses(verdict)
    assert by_id["shapes::clipscore::max_drop"] is Status.UPDATED
    assert verdict.passed
    broken = accept_as_baseline(evaluate(make_run({"clipscore": [0.4] * 4}), make_run({"clipscore": BASE}), config))
    assert statuses(broken)["shapes::clipscore::min"] is Status.FAIL
    assert not broken.passed


def test_check_summary_is_one_line_with_value_threshold_baseline_delta() -> None:
    config = make_config({"clipscore": [Rule("max_drop", 0.01)]})
    check = evaluate(make_run({"clipscore": [0.9] * 4}), make_run({"clipscore": BASE}), config).checks[0]
    line = check.summary()
    assert "\n" not in line
    for part in ("0.9000", "max_drop 0.01", "baseline 1.0000", "delta -0.1000"):
        assert part in line


def test_two_suites_on_one_folder_get_distinct_check_ids(tmp_path: Path) -> None:
    # Ids are built from the suite's name, unique in the file, never from its folder.
    suites = {name: {"path": "golden/shapes", "metrics": {"clipscore": {"min": 0.8}},
                     "slices": {"colour=red": {"clipscore": {"min": 0.8}}}} for name in ("shapes", "shapes_hard")}
    config = load_config(write_thresholds(tmp_path, {"adapter": "open_clip", "checkpoint": "ckpt"}, suites))
    assert [s.label for s in config.suites] == ["golden/shapes", "golden/shapes"]
    expected = ["shapes::clipscore::min", "shapes[colour=red]::clipscore::min",
                "shapes_hard::clipscore::min", "shapes_hard[colour=red]::clipscore::min"]
    assert list(planned_check_ids(config)) == expected
    run = make_run({"clipscore": [0.9] * 4})
    run = replace(run, suites=(run.suites[0], replace(run.suites[0], name="shapes_hard")))
    verdict = evaluate(run, None, config)
    assert [c.id for c in verdict.checks] == expected
    assert {c.suite_label for c in verdict.checks} == {"golden/shapes"}  # the folder is still shown
