"""A regression rule with no baseline to compare with: its own status, failing under gate.missing_baseline: fail."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from support.runs import one_metric_config, one_metric_run

from qa_gate.config.load import load_config
from qa_gate.verdict.checks import Status
from qa_gate.verdict.gate import accept_as_baseline, evaluate


def _statuses(missing: str, baseline_values: list[float] | None = None, renamed: bool = False) -> dict[str, Status]:
    config = replace(one_metric_config(), missing_baseline=missing)
    base = None if baseline_values is None else one_metric_run(baseline_values)
    if base is not None and renamed:
        base = replace(base, suites=tuple(replace(s, name="old-name") for s in base.suites))
    verdict = evaluate(one_metric_run([0.8] * 6), base, config)
    return {c.rule.kind: c.status for c in verdict.checks}


def test_warn_shows_no_baseline_without_failing() -> None:
    assert _statuses("warn") == {"min": Status.PASS, "max_drop": Status.NO_BASELINE,
                                 "max_drop_pct": Status.NO_BASELINE}


def test_fail_makes_a_rule_with_nothing_to_compare_with_fail() -> None:
    statuses = _statuses("fail")
    assert statuses["max_drop"] is Status.MISSING_BASELINE and statuses["max_drop"].failed
    assert statuses["min"] is Status.PASS  # floors need no baseline


def test_a_renamed_suite_has_no_baseline_and_fails_under_fail() -> None:
    assert _statuses("fail", [0.8] * 6, renamed=True)["max_drop"] is Status.MISSING_BASELINE
    assert _statuses("fail", [0.8] * 6)["max_drop"] is Status.PASS


def test_the_message_says_why_and_the_way_out() -> None:
    config = replace(one_metric_config(), missing_baseline="fail", missing_baseline_why="the default when CI is set")
    verdict = evaluate(one_metric_run([0.8] * 6), None, config)
    check = next(c for c in verdict.checks if c.rule.kind == "max_drop")
    assert "gate.missing_baseline is fail (the default when CI is set)" in check.message
    assert "set gate.missing_baseline: warn" in check.message
    assert not verdict.passed and "they fail (gate.missing_baseline: fail)" in verdict.notes[0]


def test_a_baseline_update_is_not_refused_for_the_missing_baseline_it_records() -> None:
    config = replace(one_metric_config(), missing_baseline="fail")
    verdict = accept_as_baseline(evaluate(one_metric_run([0.8] * 6), None, config))
    assert verdict.passed and {c.status for c in verdict.checks} == {Status.PASS, Status.NO_BASELINE}


MINIMAL = "version: 1\nmodel: {adapter: open_clip, checkpoint: ckpt}\nsuites: {s: {metrics: {clipscore: {min: 0}}}}\n"


@pytest.mark.parametrize(("environ", "gate", "expected"), [
    ({}, "", ("warn", "the default outside CI")),
    ({"CI": "true"}, "", ("fail", "the default when CI is set")),
    ({"CI": "false"}, "", ("warn", "the default outside CI")),
    ({"CI": "true"}, "gate: {missing_baseline: warn}\n", ("warn", "gate.missing_baseline")),
    ({}, "gate: {missing_baseline: fail}\n", ("fail", "gate.missing_baseline")),
])
def test_the_default_follows_ci(tmp_path: Path, environ: dict[str, str], gate: str,
                                expected: tuple[str, str]) -> None:
    (tmp_path / "thresholds.yaml").write_text(MINIMAL + gate)
    config = load_config(tmp_path / "thresholds.yaml", environ=environ)
    assert (config.missing_baseline, config.missing_baseline_why) == expected


def test_a_bad_setting_names_the_choices(tmp_path: Path) -> None:
    from qa_gate.errors import ConfigError

    (tmp_path / "thresholds.yaml").write_text(MINIMAL + "gate: {missing_baseline: ignore}\n")
    with pytest.raises(ConfigError, match=r"gate.missing_baseline: expected 'fail' or 'warn', got 'ignore'"):
        load_config(tmp_path / "thresholds.yaml")
