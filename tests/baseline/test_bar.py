"""merge_bar: the target branch's rules, with the branch's own only where they are new or stricter."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from types import MappingProxyType

import pytest

from qa_gate.baseline.bar import at_least_as_strict, merge_bar, show_rule
from qa_gate.config.model import GateConfig, MetricConfig, ModelConfig, Rule, SliceConfig, SuiteConfig


def _suite(name: str = "shapes", path: str = "golden/shapes", **metrics: tuple[Rule, ...]) -> SuiteConfig:
    return SuiteConfig(name, Path("/p") / path, path, tuple(MetricConfig(m, rules=r) for m, r in metrics.items()))


def _config(*suites: SuiteConfig, **fields: object) -> GateConfig:
    config = GateConfig(Path("/p/thresholds.yaml"), 1, ModelConfig("open_clip", "ckpt"), suites,
                        Path("/p/baselines/baseline.json"), None)
    return replace(config, **fields)  # type: ignore[arg-type]


MIN = Rule("min", 0.8)
DROP = Rule("max_drop", 0.02)


@pytest.mark.parametrize(("new", "old", "expected"), [
    (Rule("min", 0.9), MIN, True),
    (Rule("min", 0.7), MIN, False),
    (Rule("max", 0.5), Rule("max", 0.6), True),
    (Rule("max", 0.7), Rule("max", 0.6), False),
    (Rule("max_drop", 0.01), DROP, True),
    (Rule("max_drop", 5.0), DROP, False),
    (Rule("max_drop", 0.02, confidence=0.99), DROP, False),  # more evidence needed to fail: looser
    (Rule("max_drop", 0.02, confidence=0.9), DROP, True),
    (Rule("max_drop", 0.02, "strict"), DROP, True),  # strict passes only when shown within the allowance
    (DROP, Rule("max_drop", 0.02, "strict"), False),
    (Rule("max_drop", 0.02, "strict", 0.9), Rule("max_drop", 0.02, "strict"), False),
    (Rule("max_drop", 0.02, "strict", 0.99), Rule("max_drop", 0.02, "strict"), True),
    (Rule("max_drop_pct", 0.02), DROP, False),  # another kind is not comparable
])
def test_strictness_of_a_rule(new: Rule, old: Rule, expected: bool) -> None:
    assert at_least_as_strict(new, old) is expected


def test_an_unchanged_bar_merges_to_itself() -> None:
    config = _config(_suite(clipscore=(MIN, DROP)))
    merged = merge_bar(config, config)
    assert merged.changes == () and merged.config == config


def test_looser_and_removed_rules_keep_the_target_version() -> None:
    target = _config(_suite(clipscore=(MIN, DROP), cosine=(Rule("max_drop_pct", 3.0),)))
    branch = _config(_suite(clipscore=(Rule("min", 0.5),), recall=(Rule("min", 0.1),)))
    merged = merge_bar(target, branch)
    assert [c.line() for c in merged.changes] == [
        "suites.shapes.metrics.clipscore.min: min 0.8 → min 0.5 (looser)",
        "suites.shapes.metrics.clipscore.max_drop: max_drop 0.02 (significant, 95%) → absent (removed)",
        "suites.shapes.metrics.cosine: max_drop_pct 3 (significant, 95%) → absent (removed)",
    ]
    metrics = {m.name: m.rules for m in merged.config.suites[0].metrics}
    assert metrics == {"clipscore": (MIN, DROP), "cosine": (Rule("max_drop_pct", 3.0),), "recall": (Rule("min", 0.1),)}


def test_new_and_tighter_rules_apply_in_addition() -> None:
    target = _config(_suite(clipscore=(MIN,)))
    branch = _config(_suite(clipscore=(Rule("min", 0.9), DROP)), _suite("extra", "golden/extra", cosine=(MIN,)))
    merged = merge_bar(target, branch)
    assert merged.changes == ()
    assert merged.config.suites[0].metrics[0].rules == (Rule("min", 0.9), DROP)
    assert [s.name for s in merged.config.suites] == ["shapes", "extra"]


def test_changed_metric_parameters_keep_the_target_definition_and_its_rules() -> None:
    old = MetricConfig("vqa_accuracy", MappingProxyType({"normalisation": "official"}), (MIN,))
    new = MetricConfig("vqa_accuracy", MappingProxyType({"normalisation": "official-2016"}), (Rule("min", 0.9),))
    suite = _suite()
    merged = merge_bar(_config(replace(suite, metrics=(old,))), _config(replace(suite, metrics=(new,))))
    assert [c.why for c in merged.changes] == ["changed: another metric definition"]
    assert merged.config.suites[0].metrics == (old,)


def test_removed_and_renamed_suites_are_kept() -> None:
    shapes, hard = _suite(clipscore=(DROP,)), _suite("hard", "golden/hard", clipscore=(MIN,))
    merged = merge_bar(_config(shapes, hard), _config(replace(shapes, name="renamed")))
    assert [c.line() for c in merged.changes] == [
        "suites.shapes: golden/shapes with 1 metric(s), 1 rule(s) → absent (renamed to renamed)",
        "suites.hard: golden/hard with 1 metric(s), 1 rule(s) → absent (removed)",
    ]
    assert [s.name for s in merged.config.suites] == ["shapes", "hard", "renamed"]
    assert merged.kept_suites == {"shapes", "hard"}


def test_a_suite_pointed_at_another_folder_keeps_the_target_folder() -> None:
    target = _config(_suite(clipscore=(MIN,)))
    branch = _config(_suite(path="golden/easy", clipscore=(MIN,)))
    merged = merge_bar(target, branch)
    assert [c.line() for c in merged.changes] == [
        "suites.shapes.path: golden/shapes → golden/easy (changed: another golden folder)"]
    assert merged.config.suites[0].path == Path("/p/golden/shapes")


def test_slice_rules_merge_like_suite_rules() -> None:
    red = SliceConfig("colour=red", "colour", "red", (MetricConfig("clipscore", rules=(DROP,)),))
    blue = SliceConfig("colour=blue", "colour", "blue", (MetricConfig("clipscore", rules=(MIN,)),))
    looser = SliceConfig("colour=red", "colour", "red", (MetricConfig("clipscore", rules=(Rule("max_drop", 1.0),)),))
    target = _config(replace(_suite(clipscore=(MIN,)), slices=(red, blue)))
    branch = _config(replace(_suite(clipscore=(MIN,)), slices=(looser,)))
    merged = merge_bar(target, branch)
    assert [c.line() for c in merged.changes] == [
        "suites.shapes.slices.colour=red.clipscore.max_drop: max_drop 0.02 (significant, 95%) → "
        "max_drop 1 (significant, 95%) (looser)",
        "suites.shapes.slices.colour=blue: 1 rule(s) → absent (removed)",
    ]
    assert merged.config.suites[0].slices == (red, blue)


def test_sections_beside_the_suites_keep_the_target_version() -> None:
    suite = _suite(clipscore=(MIN,))
    target = _config(suite, missing_baseline="fail", missing_baseline_why="gate.missing_baseline")
    branch = _config(suite, baseline_path=Path("/p/baselines/mine.json"), baseline_ref="HEAD", resamples=200,
                     seed=7, missing_baseline="warn", max_pixels=10**8,
                     scorer=ModelConfig("open_clip", "other"))
    merged = merge_bar(target, branch)
    assert [c.line() for c in merged.changes] == [
        "baseline.path: baselines/baseline.json → baselines/mine.json (changed: another baseline)",
        "baseline.ref: unset → HEAD (changed: another baseline)",
        "gate.resamples: 10000 → 200 (changed)",
        "gate.seed: 0 → 7 (changed)",
        "gate.missing_baseline: fail → warn (looser)",
        "golden.max_pixels: 40000000 → 100000000 (looser)",
        "scorer: none → open_clip other (changed: another scorer)",
    ]
    applied = merged.config
    assert (applied.baseline_path, applied.baseline_ref, applied.resamples, applied.seed, applied.missing_baseline,
            applied.max_pixels, applied.scorer) == (target.baseline_path, None, 10000, 0, "fail", 40_000_000, None)
    assert applied.missing_baseline_why == "gate.missing_baseline"


def test_a_stricter_missing_baseline_setting_applies() -> None:
    suite = _suite(clipscore=(MIN,))
    merged = merge_bar(_config(suite), _config(suite, missing_baseline="fail"))
    assert merged.changes == () and merged.config.missing_baseline == "fail"


def test_rules_are_shown_with_their_judgement() -> None:
    assert show_rule(MIN) == "min 0.8"
    assert show_rule(Rule("max_drop_pct", 3.0, "strict", 0.99)) == "max_drop_pct 3 (strict, 99%)"
    assert show_rule(None) == "absent"
