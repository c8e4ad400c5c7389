"""User metric plug-ins in the registry, the bootstrap and the bar (the gate runs are in tests/faces)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import numpy as np
import pytest
from support.plugin_package import fresh_plugins, write_plugin_package
from support.project import write_thresholds

from qa_gate.baseline.bar import merge_bar
from qa_gate.config.load import load_config
from qa_gate.config.model import GateConfig
from qa_gate.errors import ConfigError
from qa_gate.golden.suite import Suite
from qa_gate.metrics import plugins
from qa_gate.metrics.plugin_metric import PluginMetric
from qa_gate.metrics.plugins import for_suite
from qa_gate.metrics.registry import get_metric, metric_names
from qa_gate.scoring.families import family_of, sections
from qa_gate.verdict.stats import paired_drops


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    write_plugin_package(tmp_path / "site")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    (tmp_path / "golden" / "tiny").mkdir(parents=True)
    with fresh_plugins(monkeypatch):
        yield tmp_path


def config(root: Path, metrics: dict[str, Any], name: str = "thresholds.yaml", label: str | None = None
           ) -> GateConfig:
    path = write_thresholds(root, {"adapter": "open_clip", "checkpoint": "ckpt"},
                            {"tiny": {"path": "golden/tiny", "metrics": metrics}}, name=name)
    return load_config(path, label=label)


def suite_of(ids: tuple[str, ...]) -> Suite:
    """A stand-in for a loaded suite: its name and its samples' ids are all a plug-in metric reads."""
    return cast(Suite, SimpleNamespace(name="tiny", samples=[SimpleNamespace(id=i) for i in ids]))


class Embeddings:
    """What an alignment metric reads: unit image and caption embeddings, one row per sample."""

    def __init__(self, n: int, seed: int) -> None:
        rng = np.random.default_rng(seed)
        images, texts = rng.normal(size=(n, 8)), rng.normal(size=(n, 8))
        self.images = images / np.linalg.norm(images, axis=1, keepdims=True)
        self.texts = texts / np.linalg.norm(texts, axis=1, keepdims=True)
        self.sample_ids = tuple(f"s{i}" for i in range(n))

    def image_embeddings(self) -> np.ndarray:
        return self.images

    def caption_embeddings(self, prefix: str) -> np.ndarray:
        return self.texts


def test_loaded_plugins_are_metrics_like_the_builtin_ones(site: Path) -> None:
    assert "rms_cosine" in metric_names()  # an entry point: listed before it is imported
    loaded = config(site, {"rms_cosine": {"min": 0.1}, "qa_plug.metrics:ShareAbove": {"threshold": 0.2}})
    metrics = loaded.suites[0].metrics
    assert [m.name for m in metrics] == ["rms_cosine", "share_above"]
    assert dict(metrics[1].params) == {"threshold": 0.2, "plugin": "qa_plug.metrics:ShareAbove"}
    assert {"rms_cosine", "share_above"} <= set(metric_names())
    share = get_metric("share_above")
    assert isinstance(share, PluginMetric) and share.columns == ("above",) and share.higher_is_better
    assert family_of("share_above", metrics[1].params).name == "alignment"
    assert sections([("share_above", {"plugin": "qa_plug.metrics:ShareAbove"})]) == {}
    with pytest.raises(ConfigError, match=r"unknown metric 'share_abov' \(did you mean 'share_above'\?\)"):
        get_metric("share_abov")


@pytest.mark.parametrize("target", ["qa_plug.metrics:RmsCosine", "qa_plug.metrics:ShareAbove"])
def test_a_plugin_gets_the_builtin_bootstrap_on_its_own_aggregate(site: Path, target: str) -> None:
    metric_cfg = config(site, {target: {}}).suites[0].metrics[0]
    candidate, baseline = Embeddings(40, 1), Embeddings(40, 2)
    metric = for_suite(metric_cfg, suite_of(candidate.sample_ids))
    rows = [metric.per_sample(inputs, metric_cfg.params) for inputs in (candidate, baseline)]
    cosines = [(inputs.images * inputs.texts).sum(axis=1) for inputs in (candidate, baseline)]
    if target.endswith("RmsCosine"):  # by hand: sqrt(mean(cos^2)) of the resampled rows
        hand = [np.stack([c, c ** 2], axis=1) for c in cosines]

        def aggregate(stats: np.ndarray) -> np.ndarray:
            return np.sqrt(np.mean(np.asarray(stats)[..., 1], axis=-1))
        assert float(metric.aggregate(rows[0])) == pytest.approx(float(np.sqrt(np.mean(cosines[0] ** 2))))
    else:
        hand = [(c > 0.0).astype(float)[:, None] for c in cosines]

        def aggregate(stats: np.ndarray) -> np.ndarray:
            return np.mean(np.asarray(stats)[..., 0], axis=-1)
        assert float(metric.aggregate(rows[0])) == pytest.approx(float(np.mean(cosines[0] > 0)))
    np.testing.assert_allclose(rows[0], hand[0])
    ours = paired_drops(metric.aggregate, rows[0], rows[1], higher_is_better=True, relative=False,
                        resamples=300, seed=7, mean_sufficient=metric.mean_sufficient)
    theirs = paired_drops(aggregate, hand[0], hand[1], higher_is_better=True, relative=False, resamples=300, seed=7)
    assert ours[0] == pytest.approx(theirs[0])
    np.testing.assert_allclose(ours[1], theirs[1], atol=1e-12)


def test_a_plugin_declaring_mean_sufficient_must_aggregate_the_mean_row_alike(site: Path) -> None:
    # the bootstrap would aggregate each resample's [1, k] mean row: a sum there is n times too small
    (site / "site" / "qa_plug" / "summed.py").write_text(
        "import numpy as np\nfrom qa_plug.metrics import ShareAbove\n\n\nclass CountAbove(ShareAbove):\n"
        "    name = 'count_above'\n    mean_sufficient = True\n\n"
        "    def aggregate(self, stats):\n        return np.asarray(stats)[..., 0].sum(axis=-1)\n")
    metric_cfg = config(site, {"qa_plug.summed:CountAbove": {}}).suites[0].metrics[0]
    inputs = Embeddings(40, 1)
    metric = for_suite(metric_cfg, suite_of(inputs.sample_ids))
    count = float(((inputs.images * inputs.texts).sum(axis=1) > 0.0).sum())
    assert count > 1  # so the mean row's value (count / 40) differs
    with pytest.raises(ConfigError, match=rf"declares mean_sufficient = True, but aggregate of the mean row "
                                          rf"\(\[1, 1\] statistics\) gives {count / 40:g} where the rows give "
                                          rf"{count}; expected the same value"):
        metric.per_sample(inputs, metric_cfg.params)


def test_a_changed_plugin_class_is_a_changed_definition_to_the_bar(site: Path) -> None:
    target = config(site, {"qa_plug.metrics:ShareAbove": {"min": 0.5}}, "target.yaml", "thresholds.yaml (main)")
    branch = config(site, {"qa_plug.metrics:ShareAboveToo": {"min": 0.5}})
    merged = merge_bar(target, branch)
    assert [(c.where, c.why) for c in merged.changes] == [
        ("suites.tiny.metrics.share_above parameters", "changed: another metric definition")]
    assert merged.changes[0].old == "{plugin: 'qa_plug.metrics:ShareAbove', threshold: 0.0}"
    assert merged.changes[0].new == "{plugin: 'qa_plug.metrics:ShareAboveToo', threshold: 0.0}"
    applied = merged.config.suites[0].metrics[0]
    assert applied.params["plugin"] == "qa_plug.metrics:ShareAbove"
    metric = for_suite(applied, suite_of(("a", "b")))  # the applied rules' class scores, and answers for the name
    assert isinstance(metric, PluginMetric) and metric.plugin.target == "qa_plug.metrics:ShareAbove"
    assert get_metric("share_above").plugin.target == "qa_plug.metrics:ShareAbove"  # type: ignore[attr-defined]
    definition = metric.definition(applied.params, "candidate")
    assert definition["plugin"] == "qa_plug.metrics:ShareAbove" and definition["version"] == "2026.1"
    assert definition["plugin_distribution"] == "qa-plug-demo 1.2.0"


def test_one_file_cannot_give_one_name_to_two_classes(site: Path) -> None:
    path = write_thresholds(site, {"adapter": "open_clip", "checkpoint": "ckpt"}, {
        "a": {"path": "golden/tiny", "metrics": {"qa_plug.metrics:ShareAbove": {}}},
        "b": {"path": "golden/tiny", "metrics": {"qa_plug.metrics:ShareAboveToo": {}}}})
    with pytest.raises(ConfigError, match="declares the name 'share_above', which 'qa_plug.metrics:ShareAbove' "
                                          "already declares in this file"):
        load_config(path)


def test_an_inline_plugin_cannot_take_an_entry_points_name_for_another_class(site: Path) -> None:
    write_plugin_package(site / "site", {"share_above": "qa_plug.metrics:ShareAboveToo"})
    with pytest.raises(ConfigError, match=r"metric plug-in 'qa_plug.metrics:ShareAbove' declares the name "
                                          r"'share_above', which the installed entry point 'share_above = "
                                          r"qa_plug.metrics:ShareAboveToo' \(group qa_gate.metrics\) already gives"):
        config(site, {"qa_plug.metrics:ShareAbove": {}})


def test_a_plugin_cannot_be_named_consistency(site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # its consistency@P would silently be replaced by the built-in consistency@P of the same name
    (site / "site" / "qa_plug" / "named.py").write_text(
        "from qa_plug.metrics import ShareAbove\n\n\nclass Consistency(ShareAbove):\n    name = 'consistency'\n")
    with pytest.raises(ConfigError, match="declares the name 'consistency' of a built-in metric"):
        config(site, {"qa_plug.named:Consistency": {}})
    write_plugin_package(site / "site", {"consistency": "qa_plug.named:Consistency"})
    monkeypatch.setattr(plugins, "_points", None)  # read the entry points again
    monkeypatch.setattr(plugins, "_point_problems", [])
    with pytest.raises(ConfigError, match="entry point 'consistency = qa_plug.named:Consistency'.* takes the name "
                                          "of the built-in metric 'consistency'"):
        config(site, {"cosine": {}}, name="other.yaml")


def test_a_module_not_found_says_where_modules_are_imported_from(site: Path) -> None:
    with pytest.raises(ConfigError, match=r"cannot import 'nowhere_pkg\.rms' .* ModuleNotFoundError: No module named "
                                          r"'nowhere_pkg'; a module of your own is imported from the folder you run "
                                          r"from \(.+\) or PYTHONPATH$"):
        config(site, {"nowhere_pkg.rms:RmsCosine": {}})


def test_a_plugin_of_a_family_whose_inputs_read_a_parameter_must_declare_it(site: Path) -> None:
    with pytest.raises(ConfigError) as info:
        config(site, {"qa_plug.broken:VqaWithoutPrompt": {"min": 0.5}})
    message = str(info.value)
    assert "metric plug-in 'qa_plug.broken:VqaWithoutPrompt' is of family 'vqa'" in message
    assert "parameter(s) prompt" in message and "\n" not in message
