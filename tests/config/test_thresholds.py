"""``thresholds.yaml`` loading: the shipped file, defaults, paths, overrides and every error message."""

from __future__ import annotations

import copy
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from qa_gate.config.load import OPTION_NAMES, load_config, option_name
from qa_gate.config.model import (
    MODES,
    GateConfig,
    MetricConfig,
    Overrides,
    Rule,
    SliceConfig,
)
from qa_gate.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]

VALID: dict[str, Any] = {
    "version": 1,
    "model": {"adapter": "open_clip", "checkpoint": "org/some-model"},
    "suites": {"shapes": {"metrics": {"clipscore": {"min": 0.5, "max_drop": 0.02}}}},
}


def write(tmp_path: Path, doc: Any) -> Path:
    """``doc`` dumped as YAML to ``tmp_path/thresholds.yaml``, or written as is when a string."""
    path = tmp_path / "thresholds.yaml"
    path.write_text(doc if isinstance(doc, str) else yaml.safe_dump(doc, sort_keys=False))
    return path


def valid() -> dict[str, Any]:
    """A fresh copy of a minimal valid document, to break in one place."""
    return copy.deepcopy(VALID)


def load(tmp_path: Path, doc: Any, overrides: Overrides = Overrides()) -> GateConfig:
    return load_config(write(tmp_path, doc), overrides)


def error(tmp_path: Path, doc: Any, overrides: Overrides = Overrides()) -> str:
    """The message of the ``ConfigError`` loading ``doc`` raises."""
    path = write(tmp_path, doc)
    with pytest.raises(ConfigError) as info:
        load_config(path, overrides)
    return str(info.value)


def test_shipped_thresholds_load() -> None:
    cfg = load_config(REPO / "thresholds.yaml")
    assert cfg.version == 1
    assert cfg.model.adapter == "open_clip"
    assert cfg.model.checkpoint.replace("\\", "/").endswith("qa_gate/demo/checkpoints/good")
    assert (cfg.model.device, cfg.model.dtype, cfg.model.batch_size) == ("auto", "auto", 64)
    assert cfg.model.allow_pickle is False
    assert cfg.baseline_path == REPO / "baselines" / "baseline.json"
    assert cfg.report_path == REPO / "mm-gate-report.md"
    suite = cfg.suites[0]
    assert [s.name for s in cfg.suites][:4] == ["shapes", "retrieval", "vqa", "multilabel"]
    assert "pope" in [s.name for s in cfg.suites]
    assert cfg.suites[1].path == REPO / "golden" / "retrieval"
    assert (suite.name, suite.label, suite.path) == ("shapes", "golden/shapes", REPO / "golden" / "shapes")
    clean = [m for m in suite.metrics if "@" not in m.name]
    assert [m.name for m in clean] == ["clipscore", "refclipscore", "cosine", "zeroshot_top1",
                                       "zeroshot_mean_per_class_recall"]
    assert clean[3].params["label_tag"] == "shape"
    assert clean[2].rules == (Rule("max_drop_pct", 2.0),)
    assert [s.slice for s in suite.slices] == ["colour=red"]
    assert all(m.rules for m in clean)
    perturbed = {m.name for m in suite.metrics} - {m.name for m in clean}
    assert {"clipscore@jpeg_q30", "consistency@blur2"} <= perturbed  # every metric again under each perturbation


def test_minimal_file_gets_defaults(tmp_path: Path) -> None:
    cfg = load(tmp_path, valid())
    assert cfg.source == tmp_path / "thresholds.yaml"
    assert cfg.model.checkpoint == "org/some-model"
    assert (cfg.model.device, cfg.model.dtype, cfg.model.batch_size) == ("auto", "auto", 32)
    assert cfg.model.model_name is None and cfg.model.pretrained is None
    assert dict(cfg.model.options) == {}
    assert cfg.baseline_path == tmp_path / "baselines" / "baseline.json"
    assert cfg.report_path is None
    (suite,) = cfg.suites
    assert (suite.path, suite.label) == (tmp_path / "golden" / "shapes", "golden/shapes")


def test_metric_params_filled_read_only_and_rules_in_file_order(tmp_path: Path) -> None:
    doc = valid()
    doc["suites"]["shapes"]["metrics"] = {
        "clipscore": {"max_drop": 0.01, "w": 3, "min": 0.4},
        "refclipscore": None,
        "cosine": {},
    }
    clip, ref, cosine = load(tmp_path, doc).suites[0].metrics
    assert clip.rules == (Rule("max_drop", 0.01), Rule("min", 0.4))
    assert dict(clip.params) == {"prefix": "A photo depicts ", "w": 3.0, "caption": "golden"}
    assert isinstance(clip.params["w"], float)
    with pytest.raises(TypeError):
        clip.params["w"] = 1.0  # type: ignore[index]
    assert ref.rules == () and dict(ref.params) == {"prefix": "A photo depicts ", "w": 2.5, "caption": "golden"}
    assert cosine.rules == () and dict(cosine.params) == {"prefix": "", "caption": "golden"}


def test_exponent_without_dot_is_a_number(tmp_path: Path) -> None:
    text = write(tmp_path, valid()).read_text().replace("0.02", "2e-2")
    assert "2e-2" in text
    rules = load(tmp_path, text).suites[0].metrics[0].rules
    assert rules[1] == Rule("max_drop", 0.02)


# --- file-level errors ---------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError, match="nope.yaml: file not found"):
        load_config(path)


def test_invalid_yaml_reports_line_and_column(tmp_path: Path) -> None:
    text = "version: 1\nmodel:\n  adapter: open_clip\n checkpoint: x\n"
    message = error(tmp_path, text)
    assert message.startswith(f"{tmp_path / 'thresholds.yaml'}: invalid YAML at line 4, column 2")


def test_duplicate_key_reports_line(tmp_path: Path) -> None:
    text = "version: 1\nversion: 1\n"
    message = error(tmp_path, text)
    assert "line 2" in message and "duplicate key 'version'" in message


def test_yaml_dialect_is_yaml_1_2_words(tmp_path: Path) -> None:
    """thresholds.yaml is read as golden manifests are: only true/false are booleans, 1e-3 is a number."""
    from qa_gate.config.values import Where, read_yaml

    path = tmp_path / "any.yaml"
    path.write_text("a: yes\nb: No\nc: on\nd: OFF\ne: y\nf: True\ng: false\nh: 1e-3\ni: 2\n")
    assert read_yaml(path, Where(str(path))) == {
        "a": "yes", "b": "No", "c": "on", "d": "OFF", "e": "y", "f": True, "g": False, "h": 0.001, "i": 2}
    assert yaml.safe_load("a: yes") == {"a": True}  # PyYAML's own SafeLoader is left as it is


@pytest.mark.parametrize("text", ["1: a\n'1': b\n", "true: a\nTrue: b\n", "~: a\nnull: b\n"])
def test_a_key_given_twice_in_other_spellings_is_a_duplicate(tmp_path: Path, text: str) -> None:
    message = error(tmp_path, f"version: 1\nmodel:\n  {text.replace(chr(10), chr(10) + '  ')}")
    assert "invalid YAML at line 4" in message and "duplicate key" in message and "first given at line 3" in message


@pytest.mark.parametrize("word", ["yes", "no", "on", "off", "Yes", "NO"])
def test_a_yaml_1_1_boolean_word_is_text_with_a_clear_error(tmp_path: Path, word: str) -> None:
    doc = valid()
    doc["model"]["allow_pickle"] = word
    message = error(tmp_path, yaml.safe_dump(doc, sort_keys=False).replace(f"'{word}'", word))
    assert message == (f"{tmp_path / 'thresholds.yaml'}: model.allow_pickle: expected true or false, got "
                       f"'{word}' (qa_gate reads YAML 1.2: only true and false are booleans, yes/no/on/off are text)")


def test_a_yaml_1_1_boolean_word_in_a_metric_parameter(tmp_path: Path) -> None:
    doc = valid()
    doc["suites"]["words"] = {"metrics": {"cer": {"max": 0.5, "lowercase": "PLACEHOLDER"}}}
    message = error(tmp_path, yaml.safe_dump(doc, sort_keys=False).replace("PLACEHOLDER", "on"))
    assert message.startswith(f"{tmp_path / 'thresholds.yaml'}: suites.words.metrics.cer.lowercase: ")
    assert "expected true or false, got 'on' (qa_gate reads YAML 1.2" in message
    doc["suites"]["words"]["metrics"]["cer"]["lowercase"] = True
    assert load(tmp_path, doc).suites


@pytest.mark.parametrize(("text", "expected"), [
    ("- a\n- b\n", "expected a mapping with 'version', 'model' and 'suites' at the top level, got a list"),
    ("", "the file is empty"),
    ("just text\n", "got 'just text'"),
])
def test_top_level_must_be_a_mapping(tmp_path: Path, text: str, expected: str) -> None:
    message = error(tmp_path, text)
    assert message.startswith(f"{tmp_path / 'thresholds.yaml'}: ")
    assert expected in message


def test_unknown_top_level_key_suggests(tmp_path: Path) -> None:
    doc = valid()
    doc["suite"] = doc.pop("suites")
    message = error(tmp_path, doc)
    assert message.startswith(f"{tmp_path / 'thresholds.yaml'}: suite: unknown key 'suite'")
    assert "(did you mean 'suites'?)" in message


@pytest.mark.parametrize(("version", "got"), [(2, "got 2"), ("1", "got '1'"), (True, "got true"),
                                              (None, "got null")])
def test_bad_version(tmp_path: Path, version: Any, got: str) -> None:
    doc = valid()
    doc["version"] = version
    message = error(tmp_path, doc)
    assert message.startswith(f"{tmp_path / 'thresholds.yaml'}: version: ")
    assert "supported format version (1)" in message and got in message


def test_missing_version(tmp_path: Path) -> None:
    doc = valid()
    del doc["version"]
    assert "version: expected a supported format version (1), got nothing" in error(tmp_path, doc)


# --- model section -------------------------------------------------------------------


@pytest.mark.parametrize("key", ["checkpoint", "adapter"])
def test_missing_model_key(tmp_path: Path, key: str) -> None:
    doc = valid()
    del doc["model"][key]
    message = error(tmp_path, doc)
    assert message.startswith(f"{tmp_path / 'thresholds.yaml'}: model.{key}: missing")
    assert f"(or pass --{key})" in message
    assert f"(or pass --mm-{key})" in error(tmp_path, doc, Overrides(option_prefix="--mm-"))


def test_missing_checkpoint_given_by_override(tmp_path: Path) -> None:
    doc = valid()
    del doc["model"]["checkpoint"]
    assert load(tmp_path, doc, Overrides(checkpoint="org/other")).model.checkpoint == "org/other"


def test_unknown_model_key_suggests(tmp_path: Path) -> None:
    doc = valid()
    doc["model"]["batchsize"] = 8
    message = error(tmp_path, doc)
    assert "model.batchsize: unknown key 'batchsize' (did you mean 'batch_size'?)" in message


@pytest.mark.parametrize(("key", "value", "expected"), [
    ("checkpoint", 3, "model.checkpoint: expected a checkpoint path or hub id, got 3"),
    ("checkpoint", "", "model.checkpoint: expected a checkpoint path or hub id, got ''"),
    ("device", "gpu", "model.device: expected 'auto', 'cpu', 'cuda' or 'cuda:N', got 'gpu'"),
    ("device", "cuda:x", "model.device: expected"),
    ("device", "cdua", "got 'cdua' (did you mean 'cuda'?)"),
    ("dtype", "fp16", "model.dtype: expected 'auto', 'bfloat16', 'float16' or 'float32', got 'fp16'"),
    ("dtype", "float61", "(did you mean 'float16'?)"),
    ("batch_size", 0, "model.batch_size: expected an integer >= 1, got 0"),
    ("batch_size", "x", "model.batch_size: expected an integer >= 1, got 'x'"),
    ("batch_size", "64", "model.batch_size: expected an integer >= 1, got '64'"),
    ("batch_size", True, "model.batch_size: expected an integer >= 1, got true"),
    ("batch_size", 1.5, "model.batch_size: expected an integer >= 1, got 1.5"),
    ("allow_pickle", "yes please", "model.allow_pickle: expected true or false, got 'yes please'"),
    ("options", [1], "model.options: expected a mapping, got a list [1]"),
    ("pretrained", 5, "model.pretrained: expected a pretrained tag, got 5"),
    ("adapter", "open-clip", "model.adapter: expected 'open_clip', 'transformers', 'predictions' or a user adapter"),
    ("adapter", "openclip", "got 'openclip' (did you mean 'open_clip'?)"),
    ("adapter", "pkg.mod:", "model.adapter: expected a user adapter 'package.module:attr', got 'pkg.mod:'"),
    ("adapter", ":attr", "model.adapter: expected a user adapter"),
    ("adapter", "pkg mod:attr", "model.adapter: expected a user adapter"),
])
def test_bad_model_value(tmp_path: Path, key: str, value: Any, expected: str) -> None:
    doc = valid()
    doc["model"][key] = value
    message = error(tmp_path, doc)
    assert message.startswith(f"{tmp_path / 'thresholds.yaml'}: model.{key}: ")
    assert expected in message


@pytest.mark.parametrize(("key", "value"), [
    ("device", "cuda:1"), ("device", "cpu"), ("dtype", "bfloat16"), ("batch_size", 1),
    ("adapter", "pkg.mod:attr"), ("adapter", "my_adapter:Factory"), ("adapter", "transformers"),
    ("allow_pickle", True), ("pretrained", "laion2b_s34b_b79k"), ("model_name", "ViT-B-32"),
])
def test_good_model_value(tmp_path: Path, key: str, value: Any) -> None:
    doc = valid()
    doc["model"][key] = value
    assert getattr(load(tmp_path, doc).model, key) == value


def test_user_adapter_options_are_read_only(tmp_path: Path) -> None:
    doc = valid()
    doc["model"].update(adapter="pkg.mod:attr", options={"size": 3})
    options = load(tmp_path, doc).model.options
    assert dict(options) == {"size": 3}
    with pytest.raises(TypeError):
        options["size"] = 4  # type: ignore[index]


# --- suites and metrics --------------------------------------------------------------


def test_unknown_metric_suggests(tmp_path: Path) -> None:
    doc = valid()
    doc["suites"]["shapes"]["metrics"] = {"clipscor": {"min": 0.5}}
    path = write(tmp_path, doc)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value).startswith(
        f"{path}: suites.shapes.metrics.clipscor: unknown metric 'clipscor' "
        "(did you mean 'clipscore'?); known metrics: answer_agreement, bleu1, bleu2, bleu3, bleu4, caption_agreement, ")


@pytest.mark.parametrize(("rules", "expected"), [
    ({"min": "high"}, "suites.shapes.metrics.clipscore.min: expected a number, got 'high'"),
    ({"max": True}, "suites.shapes.metrics.clipscore.max: expected a number, got true"),
    ({"min": float("nan")}, "suites.shapes.metrics.clipscore.min: expected a finite number, got nan"),
    ({"max_drop": -0.1}, "suites.shapes.metrics.clipscore.max_drop: expected a number >= 0, got -0.1"),
    ({"max_drop_pct": -5}, "suites.shapes.metrics.clipscore.max_drop_pct: expected a number >= 0, got -5"),
    ({"min": 0.9, "max": 0.1}, "suites.shapes.metrics.clipscore: min 0.9 is above max 0.1"),
    ({"prefx": "A "}, "suites.shapes.metrics.clipscore.prefx: unknown parameter or rule 'prefx' "
                      "(did you mean 'prefix'?)"),
    ({"max_dorp": 1}, "(did you mean 'max_drop'?)"),
    ({"prefix": 3}, "suites.shapes.metrics.clipscore.prefix: expected a string, got 3"),
    ({"w": "big"}, "suites.shapes.metrics.clipscore.w: expected a number, got 'big'"),
    ({"w": False}, "suites.shapes.metrics.clipscore.w: expected a number, got false"),
])
def test_bad_metric_entry(tmp_path: Path, rules: dict[str, Any], expected: str) -> None:
    doc = valid()
    doc["suites"]["shapes"]["metrics"]["clipscore"] = rules
    message = error(tmp_path, doc)
    assert message.startswith(f"{tmp_path / 'thresholds.yaml'}: suites.shapes.metrics.clipscore")
    assert expected in message


def test_metric_entry_must_be_a_mapping(tmp_path: Path) -> None:
    doc = valid()
    doc["suites"]["shapes"]["metrics"]["clipscore"] = 0.5
    assert "suites.shapes.metrics.clipscore: expected a mapping of rules and parameters, got 0.5" in error(
        tmp_path, doc)


@pytest.mark.parametrize(("suites", "expected"), [
    ({}, "suites: expected at least one suite, got a mapping {}"),
    (None, "suites: expected a mapping of suite names to {path, metrics}, got null"),
    ({"shapes": None}, "suites.shapes: expected a mapping with 'metrics'"),
    ({"shapes": {"metrics": {}}}, "suites.shapes.metrics: expected at least one metric"),
    ({"shapes": {"path": "x"}}, "suites.shapes.metrics: missing"),
    ({"shapes": {"metrics": {"cosine": None}, "pth": "x"}}, "suites.shapes.pth: unknown key 'pth' "
                                                            "(did you mean 'path'?)"),
    ({"shapes": {"metrics": {"cosine": None}, "path": 7}}, "suites.shapes.path: expected a folder path, got 7"),
    ({"bad name": {"metrics": {"cosine": None}}}, "suites.bad name: expected a suite name"),
])
def test_bad_suites(tmp_path: Path, suites: Any, expected: str) -> None:
    doc = valid()
    doc["suites"] = suites
    message = error(tmp_path, doc)
    assert message.startswith(f"{tmp_path / 'thresholds.yaml'}: suites")
    assert expected in message


def test_missing_suites(tmp_path: Path) -> None:
    doc = valid()
    del doc["suites"]
    assert "thresholds.yaml: suites: missing" in error(tmp_path, doc)


def test_non_string_suite_name(tmp_path: Path) -> None:
    text = "version: 1\nmodel: {adapter: open_clip, checkpoint: x}\nsuites:\n  123: {metrics: {cosine: }}\n"
    assert "suites.123: expected a string key, got 123 (quote it: '123')" in error(tmp_path, text)


@pytest.mark.parametrize(("section", "value", "expected"), [
    ("baseline", "b.json", "baseline: expected a mapping with 'path' and optionally 'ref', got 'b.json'"),
    ("baseline", {"refs": "main"},
     "baseline.refs: unknown key 'refs' (did you mean 'ref'?); allowed keys: path, ref"),
    ("baseline", {"ref": ""}, "baseline.ref: expected a git ref (a branch, tag or commit"),
    ("baseline", {"ref": "my branch"}, "baseline.ref: expected a git ref"),
    ("baseline", {"ref": "--upload-pack=x"}, "baseline.ref: expected a git ref (a branch, tag or commit, "
                                             "e.g. 'main' or 'origin/main'), got '--upload-pack=x' "
                                             "(a ref cannot start with '-')"),
    ("baseline", {"ref": 1234567}, "baseline.ref: expected a git ref (a branch, tag or commit, e.g. 'main' or "
                                   "'origin/main'), got the number 1234567 (quote a commit id"),
    ("report", {"path": "r.md", "ref": "main"}, "report.ref: unknown key 'ref'; allowed keys: path"),
    ("report", {"path": 3}, "report.path: expected a file path, got 3"),
    ("report", {"file": "r.md"}, "report.file: unknown key 'file'"),
])
def test_bad_baseline_or_report(tmp_path: Path, section: str, value: Any, expected: str) -> None:
    doc = valid()
    doc[section] = value
    assert f"thresholds.yaml: {expected}" in error(tmp_path, doc)


# --- paths ---------------------------------------------------------------------------


def test_paths_resolve_against_the_file_folder_not_the_cwd(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = tmp_path / "project"
    (project / "ckpt").mkdir(parents=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    doc = valid()
    doc["model"].update(checkpoint="ckpt", model_name="cfg.json")
    (project / "cfg.json").write_text("{}")
    doc["baseline"] = {"path": "store/base.json"}
    doc["report"] = {"path": "out/report.md"}
    doc["suites"]["other"] = {"path": "./data/../data/other/", "metrics": {"cosine": None}}
    cfg = load(project, doc)
    assert cfg.model.checkpoint == str(project / "ckpt")
    assert cfg.model.model_name == str(project / "cfg.json")
    assert cfg.baseline_path == project / "store" / "base.json"
    assert cfg.report_path == project / "out" / "report.md"
    shapes, other = cfg.suites
    assert (shapes.path, shapes.label) == (project / "golden" / "shapes", "golden/shapes")
    assert (other.path, other.label) == (project / "data" / "other", "data/other")


def test_hub_id_checkpoint_and_missing_json_are_kept_as_written(tmp_path: Path) -> None:
    doc = valid()
    doc["model"].update(checkpoint="openai/clip-vit-base-patch32", model_name="missing.json")
    cfg = load(tmp_path, doc)
    assert cfg.model.checkpoint == "openai/clip-vit-base-patch32"
    assert cfg.model.model_name == "missing.json"


def test_suite_outside_the_folder_gets_a_relative_label(tmp_path: Path) -> None:
    doc = valid()
    doc["suites"]["shapes"]["path"] = "../shared/shapes"
    (tmp_path / "cfg").mkdir()
    (suite,) = load(tmp_path / "cfg", doc).suites
    assert (suite.path, suite.label) == (tmp_path / "shared" / "shapes", "../shared/shapes")


# --- overrides -----------------------------------------------------------------------


def test_overrides_replace_file_values(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project, cwd = tmp_path / "project", tmp_path / "cwd"
    project.mkdir()
    (cwd / "local-ckpt").mkdir(parents=True)
    (project / "local-ckpt").mkdir()  # same name next to the file: must not win
    monkeypatch.chdir(cwd)
    overrides = Overrides(checkpoint="local-ckpt", adapter="transformers", model_name="ViT-L-14",
                          device="cuda:0", dtype="float16", batch_size="16",  # type: ignore[arg-type]
                          baseline_path="b/base.json", report_path="r.md")
    cfg = load(project, valid(), overrides)
    assert cfg.model.checkpoint == str(cwd / "local-ckpt")
    assert (cfg.model.adapter, cfg.model.model_name) == ("transformers", "ViT-L-14")
    assert (cfg.model.device, cfg.model.dtype, cfg.model.batch_size) == ("cuda:0", "float16", 16)
    assert cfg.baseline_path == cwd / "b" / "base.json"
    assert cfg.report_path == cwd / "r.md"


def test_override_hub_id_checkpoint_is_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    cfg = load(tmp_path, valid(), Overrides(checkpoint="org/not-a-folder", batch_size=8))
    assert (cfg.model.checkpoint, cfg.model.batch_size) == ("org/not-a-folder", 8)


@pytest.mark.parametrize(("overrides", "expected"), [
    (Overrides(device="gpu"), "--mm-device: expected 'auto', 'cpu', 'cuda' or 'cuda:N', got 'gpu'"),
    (Overrides(dtype="fp16"), "--mm-dtype: expected"),
    (Overrides(batch_size="x"), "--mm-batch-size: expected an integer >= 1, got 'x'"),  # type: ignore[arg-type]
    (Overrides(batch_size="0"), "--mm-batch-size: expected an integer >= 1, got '0'"),  # type: ignore[arg-type]
    (Overrides(batch_size=0), "--mm-batch-size: expected an integer >= 1, got 0"),
    (Overrides(adapter="openclip"),
     "--mm-adapter: expected 'open_clip', 'transformers', 'predictions' or a user adapter"),
    (Overrides(adapter="pkg.mod:"), "--mm-adapter: expected a user adapter"),
    (Overrides(checkpoint=""), "--mm-checkpoint: expected a checkpoint path or hub id, got ''"),
    (Overrides(model_name=""), "--mm-model-name: expected a model name"),
    (Overrides(baseline_path=""), "--mm-baseline: expected a file path, got ''"),
    (Overrides(report_path=""), "--mm-report: expected a file path, got ''"),
])
def test_override_errors_name_the_option(tmp_path: Path, overrides: Overrides, expected: str) -> None:
    pytest_face = replace(overrides, option_prefix="--mm-")
    assert error(tmp_path, valid(), pytest_face).startswith(expected)
    assert error(tmp_path, valid(), overrides).startswith(expected.replace("--mm-", "--", 1))  # mm-gate's spelling


def test_file_errors_still_reported_when_overridden(tmp_path: Path) -> None:
    doc = valid()
    doc["model"]["device"] = "gpu"
    assert "thresholds.yaml: model.device:" in error(tmp_path, doc, Overrides(device="cpu"))


def test_shipped_gate_section_holds_the_defaults(tmp_path: Path) -> None:
    """Uncommenting the shipped ``gate:`` section changes nothing."""
    lines = (REPO / "thresholds.yaml").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("# gate:"))
    end = next(i for i in range(start, len(lines)) if not lines[i].startswith("#"))
    lines[start:end] = [line[2:] for line in lines[start:end]]
    (tmp_path / "thresholds.yaml").write_text("\n".join(lines) + "\n")
    with_gate = load_config(tmp_path / "thresholds.yaml")
    shipped = load_config(REPO / "thresholds.yaml")
    assert (with_gate.resamples, with_gate.seed) == (shipped.resamples, shipped.seed) == (10000, 0)
    assert [m.rules for m in with_gate.suites[0].metrics] == [m.rules for m in shipped.suites[0].metrics]
    assert shipped.baseline_ref is None
    assert with_gate.suites[0].slices == shipped.suites[0].slices


# --- gate section, rule mode and confidence ------------------------------------------


def test_rules_get_default_mode_and_confidence(tmp_path: Path) -> None:
    cfg = load(tmp_path, valid())
    assert MODES == ("significant", "strict")
    assert (cfg.resamples, cfg.seed) == (10000, 0)
    assert cfg.suites[0].metrics[0].rules == (Rule("min", 0.5, "significant", 0.95),
                                              Rule("max_drop", 0.02, "significant", 0.95))
    assert Rule("min", 0.5) == Rule("min", 0.5, "significant", 0.95)


def test_gate_section_sets_defaults_and_metric_settings_override_them(tmp_path: Path) -> None:
    doc = valid()
    doc["gate"] = {"mode": "strict", "confidence": 0.9, "resamples": 100, "seed": 7}
    doc["suites"]["shapes"]["metrics"] = {
        "clipscore": {"max_drop": 0.02, "mode": "significant", "confidence": 0.99, "min": 0.5},
        "cosine": {"max_drop_pct": 5, "confidence": 0.8},
        "refclipscore": {"max_drop": 0.1},
    }
    cfg = load(tmp_path, doc)
    assert (cfg.resamples, cfg.seed) == (100, 7)
    clip, cosine, ref = cfg.suites[0].metrics
    # floors keep the gate section's settings; regression rules take the metric's
    assert clip.rules == (Rule("max_drop", 0.02, "significant", 0.99), Rule("min", 0.5, "strict", 0.9))
    assert cosine.rules == (Rule("max_drop_pct", 5.0, "strict", 0.8),)
    assert ref.rules == (Rule("max_drop", 0.1, "strict", 0.9),)
    # mode and confidence are not metric parameters
    assert dict(clip.params) == {"prefix": "A photo depicts ", "w": 2.5, "caption": "golden"}


def test_null_gate_section_is_the_defaults(tmp_path: Path) -> None:
    doc = valid()
    doc["gate"] = None
    cfg = load(tmp_path, doc)
    assert (cfg.resamples, cfg.seed, cfg.suites[0].metrics[0].rules[1].mode) == (10000, 0, "significant")


def test_mode_override_applies_to_every_regression_rule(tmp_path: Path) -> None:
    doc = valid()
    doc["suites"]["shapes"]["metrics"]["clipscore"]["mode"] = "significant"
    doc["suites"]["shapes"]["metrics"]["cosine"] = {"max_drop_pct": 5}
    doc["suites"]["shapes"]["slices"] = {"colour=red": {"clipscore": {"max_drop": 0.05, "mode": "significant"}}}
    cfg = load(tmp_path, doc, Overrides(mode="strict"))
    (suite,) = cfg.suites
    regressions = [r for m in (*suite.metrics, *suite.slices[0].metrics) for r in m.rules if not r.is_floor]
    assert len(regressions) == 3 and {r.mode for r in regressions} == {"strict"}
    assert suite.metrics[0].rules[0] == Rule("min", 0.5, "significant", 0.95)


def test_unknown_gate_key_suggests(tmp_path: Path) -> None:
    doc = valid()
    doc["gate"] = {"resample": 1000}
    message = error(tmp_path, doc)
    assert message.startswith(f"{tmp_path / 'thresholds.yaml'}: gate.resample: unknown key 'resample' "
                              "(did you mean 'resamples'?)")
    assert "allowed keys: mode, confidence, resamples, seed" in message


def test_unknown_top_level_gate_key_suggests(tmp_path: Path) -> None:
    doc = valid()
    doc["gates"] = {}
    assert "gates: unknown key 'gates' (did you mean 'gate'?)" in error(tmp_path, doc)


@pytest.mark.parametrize(("gate", "expected"), [
    ({"mode": "lenient"}, "gate.mode: expected 'significant' or 'strict', got 'lenient'"),
    ({"mode": "strikt"},
     "gate.mode: expected 'significant' or 'strict', got 'strikt' (did you mean 'strict'?)"),
    ({"mode": None}, "gate.mode: expected 'significant' or 'strict', got null"),
    ({"confidence": 1.5}, "gate.confidence: expected a number in (0.5, 1), got 1.5"),
    ({"confidence": 1}, "gate.confidence: expected a number in (0.5, 1), got 1"),
    ({"confidence": 0.5}, "gate.confidence: expected a number in (0.5, 1), got 0.5"),
    ({"confidence": 95}, "gate.confidence: expected a number in (0.5, 1), got 95 (a fraction: 0.95 for 95%)"),
    ({"confidence": "0.95"}, "gate.confidence: expected a number in (0.5, 1), got '0.95'"),
    ({"confidence": True}, "gate.confidence: expected a number in (0.5, 1), got true"),
    ({"confidence": float("nan")}, "gate.confidence: expected a number in (0.5, 1), got nan"),
    ({"resamples": 99}, "gate.resamples: expected an integer >= 100, got 99"),
    ({"resamples": 1000.0}, "gate.resamples: expected an integer >= 100, got 1000.0"),
    ({"resamples": "1000"}, "gate.resamples: expected an integer >= 100, got '1000'"),
    ({"seed": -1}, "gate.seed: expected an integer >= 0, got -1"),
    ({"seed": False}, "gate.seed: expected an integer >= 0, got false"),
    ("strict", "gate: expected a mapping with 'confidence', 'missing_baseline', 'mode', 'resamples' or 'seed', "
               "got 'strict'"),
])
def test_bad_gate_value(tmp_path: Path, gate: Any, expected: str) -> None:
    doc = valid()
    doc["gate"] = gate
    message = error(tmp_path, doc)
    assert message == f"{tmp_path / 'thresholds.yaml'}: {expected}"


@pytest.mark.parametrize(("entry", "expected"), [
    ({"mode": "lenient"}, "suites.shapes.metrics.clipscore.mode: expected 'significant' or 'strict', "
                          "got 'lenient'"),
    ({"confidence": 0.3}, "suites.shapes.metrics.clipscore.confidence: expected a number in (0.5, 1), got 0.3"),
    ({"mod": "strict"}, "suites.shapes.metrics.clipscore.mod: unknown parameter or rule 'mod' "
                        "(did you mean 'mode'?)"),
    ({"confidance": 0.9}, "(did you mean 'confidence'?)"),
])
def test_bad_metric_mode_or_confidence(tmp_path: Path, entry: dict[str, Any], expected: str) -> None:
    doc = valid()
    doc["suites"]["shapes"]["metrics"]["clipscore"].update(entry)
    message = error(tmp_path, doc)
    assert message.startswith(f"{tmp_path / 'thresholds.yaml'}: suites.shapes.metrics.clipscore.")
    assert expected in message
    if expected.startswith("("):
        assert "rule settings: mode, confidence" in message


# --- slices --------------------------------------------------------------------------


def test_slices_inherit_params_and_settings(tmp_path: Path) -> None:
    doc = valid()
    doc["gate"] = {"confidence": 0.9}
    doc["suites"]["shapes"]["metrics"] = {
        "clipscore": {"min": 0.5, "max_drop": 0.02, "w": 3, "mode": "strict"},
        "cosine": {"max_drop_pct": 5},
    }
    doc["suites"]["shapes"]["slices"] = {
        "colour=red": {"clipscore": {"min": 0.45, "max_drop": 0.05, "confidence": 0.99}},
        "size=a=b": {"cosine": {"max_drop_pct": 10, "mode": "strict"}, "clipscore": None},
    }
    (suite,) = load(tmp_path, doc).suites
    clip = suite.metrics[0]
    red, odd = suite.slices
    assert red == SliceConfig("colour=red", "colour", "red", (
        MetricConfig("clipscore", clip.params, (Rule("min", 0.45, "significant", 0.9),
                                                Rule("max_drop", 0.05, "strict", 0.99))),))
    assert dict(red.metrics[0].params) == {"prefix": "A photo depicts ", "w": 3.0, "caption": "golden"}
    assert (odd.key, odd.value) == ("size", "a=b")  # the value may hold '='
    assert [m.name for m in odd.metrics] == ["cosine", "clipscore"]
    assert odd.metrics[0].rules == (Rule("max_drop_pct", 10.0, "strict", 0.9),)
    assert odd.metrics[1].rules == ()
    assert dict(odd.metrics[0].params) == {"prefix": "", "caption": "golden"}


@pytest.mark.parametrize("slices", [None, {}])
def test_no_slices(tmp_path: Path, slices: Any) -> None:
    doc = valid()
    doc["suites"]["shapes"]["slices"] = slices
    assert load(tmp_path, doc).suites[0].slices == ()


@pytest.mark.parametrize(("slices", "expected"), [
    ({"colour": {"clipscore": {"min": 0.4}}},
     "suites.shapes.slices.colour: expected a slice written 'key=value' (a tag key and one of its values, "
     "e.g. 'colour=red'), got 'colour'"),
    ({"=red": {"clipscore": {"min": 0.4}}}, "suites.shapes.slices.=red: expected a slice written 'key=value'"),
    ({"colour=": {"clipscore": {"min": 0.4}}}, "suites.shapes.slices.colour=: expected a slice written"),
    ({"colour = red": {"clipscore": {"min": 0.4}}},
     "suites.shapes.slices.colour = red: expected a slice written 'key=value' (a tag key and one of its "
     "values, e.g. 'colour=red'), got 'colour = red' (no spaces around '=')"),
    ({"colour=red": None}, "suites.shapes.slices.colour=red: expected rules on at least one of the suite's "
                           "metrics (clipscore), got null"),
    ({"colour=red": {}}, "suites.shapes.slices.colour=red: expected rules on at least one"),
    ({"colour=red": [1]}, "suites.shapes.slices.colour=red: expected a mapping of the suite's metric names "
                          "to rules, got a list [1]"),
    ({"colour=red": {"clipscor": {"min": 0.4}}},
     "suites.shapes.slices.colour=red.clipscor: 'clipscor' is not a metric of suite 'shapes' "
     "(did you mean 'clipscore'?); a slice gates the suite's own metrics: clipscore"),
    ({"colour=red": {"cosine": {"min": 0.4}}},
     "suites.shapes.slices.colour=red.cosine: 'cosine' is not a metric of suite 'shapes'; "
     "a slice gates the suite's own metrics: clipscore"),
    ({"colour=red": {"clipscore": {"w": 3}}},
     "suites.shapes.slices.colour=red.clipscore.w: 'w' is a parameter of clipscore; parameters belong on the "
     "suite metric (suites.shapes.metrics.clipscore.w) and its slices inherit them"),
    ({"colour=red": {"clipscore": {"mni": 0.4}}},
     "suites.shapes.slices.colour=red.clipscore.mni: unknown rule 'mni' (did you mean 'min'?); a slice entry "
     "takes rules (min, max, max_drop, max_drop_pct) and rule settings (mode, confidence)"),
    ({"colour=red": {"clipscore": {"max_drop": -1}}},
     "suites.shapes.slices.colour=red.clipscore.max_drop: expected a number >= 0, got -1"),
    ({"colour=red": {"clipscore": {"min": 0.9, "max": 0.1}}},
     "suites.shapes.slices.colour=red.clipscore: min 0.9 is above max 0.1"),
    ({"colour=red": {"clipscore": {"mode": "lenient"}}},
     "suites.shapes.slices.colour=red.clipscore.mode: expected 'significant' or 'strict', got 'lenient'"),
    ({"colour=red": {"clipscore": {"confidence": 2}}},
     "suites.shapes.slices.colour=red.clipscore.confidence: expected a number in (0.5, 1), got 2"),
    ({"colour=red": {"clipscore": 0.4}},
     "suites.shapes.slices.colour=red.clipscore: expected a mapping of rules, got 0.4"),
    (["colour=red"], "suites.shapes.slices: expected a mapping of slices 'key=value' to metric rules, "
                     "got a list ['colour=red']"),
])
def test_bad_slices(tmp_path: Path, slices: Any, expected: str) -> None:
    doc = valid()
    doc["suites"]["shapes"]["slices"] = slices
    message = error(tmp_path, doc)
    assert message.startswith(f"{tmp_path / 'thresholds.yaml'}: {expected}")


def test_unknown_suite_key_suggests_slices(tmp_path: Path) -> None:
    doc = valid()
    doc["suites"]["shapes"]["slice"] = {}
    message = error(tmp_path, doc)
    assert "suites.shapes.slice: unknown key 'slice' (did you mean 'slices'?); " \
           "allowed keys: path, metrics, slices" in message


# --- baseline ref and accepting a baseline change -------------------------------------


def test_baseline_ref_and_flags_default(tmp_path: Path) -> None:
    cfg = load(tmp_path, valid())
    assert (cfg.baseline_ref, cfg.accept_bar_change, cfg.baseline_explicit) == (None, False, False)


@pytest.mark.parametrize("ref", ["main", "origin/main", "v1.2.0", "HEAD~1", "3f2a9c1", "refs/heads/release-1"])
def test_baseline_ref_from_the_file(tmp_path: Path, ref: str) -> None:
    doc = valid()
    doc["baseline"] = {"ref": ref}
    cfg = load(tmp_path, doc)
    assert cfg.baseline_ref == ref
    assert cfg.baseline_path == tmp_path / "baselines" / "baseline.json" and not cfg.baseline_explicit


def test_baseline_ref_null_is_none(tmp_path: Path) -> None:
    doc = valid()
    doc["baseline"] = {"path": "b.json", "ref": None}
    assert load(tmp_path, doc).baseline_ref is None


def test_baseline_overrides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    doc = valid()
    doc["baseline"] = {"path": "file.json", "ref": "main"}
    cfg = load(tmp_path, doc, Overrides(baseline_ref="origin/release", accept_bar_change=True,
                                        baseline_path="cli.json"))
    assert (cfg.baseline_ref, cfg.accept_bar_change) == ("origin/release", True)
    assert cfg.baseline_explicit
    assert cfg.baseline_path == tmp_path / "cli.json"
    assert load(tmp_path, doc, Overrides(accept_bar_change=False)).accept_bar_change is False


@pytest.mark.parametrize(("text", "expected"), [("true", True), ("Yes", True), ("1", True),
                                                ("false", False), ("no", False), ("0", False)])
def test_accept_bar_change_from_ini_text(tmp_path: Path, text: str, expected: bool) -> None:
    overrides = Overrides(accept_bar_change=text)  # type: ignore[arg-type]
    assert load(tmp_path, valid(), overrides).accept_bar_change is expected


def test_new_options_are_named() -> None:
    assert OPTION_NAMES["baseline_ref"] == "baseline-ref"
    assert OPTION_NAMES["accept_bar_change"] == "accept-bar-change"
    assert OPTION_NAMES["mode"] == "mode"


def test_each_face_spells_its_options() -> None:
    assert set(OPTION_NAMES) == set(Overrides.__dataclass_fields__) - {"option_prefix", "sources", "quiet"}
    assert option_name("batch_size", Overrides()) == "--batch-size"
    assert option_name("batch_size", Overrides(option_prefix="--mm-")) == "--mm-batch-size"
    assert option_name("baseline_path", Overrides(option_prefix="--mm-")) == "--mm-baseline"


@pytest.mark.parametrize(("overrides", "expected"), [
    (Overrides(mode="lenient"), "--mm-mode: expected 'significant' or 'strict', got 'lenient'"),
    (Overrides(mode="Strict"), "--mm-mode: expected 'significant' or 'strict', got 'Strict' "
                               "(did you mean 'strict'?)"),
    (Overrides(baseline_ref=""), "--mm-baseline-ref: expected a git ref (a branch, tag or commit"),
    (Overrides(baseline_ref="-x"), "--mm-baseline-ref: expected a git ref"),
    (Overrides(accept_bar_change="maybe"),  # type: ignore[arg-type]
     "--mm-accept-bar-change: expected true or false, got 'maybe'"),
])
def test_new_override_errors_name_the_option(tmp_path: Path, overrides: Overrides, expected: str) -> None:
    assert error(tmp_path, valid(), replace(overrides, option_prefix="--mm-")).startswith(expected)
    assert error(tmp_path, valid(), overrides).startswith(expected.replace("--mm-", "--", 1))


def test_file_mode_error_still_reported_when_overridden(tmp_path: Path) -> None:
    doc = valid()
    doc["gate"] = {"mode": "lenient"}
    assert "thresholds.yaml: gate.mode: expected" in error(tmp_path, doc, Overrides(mode="strict"))
    doc = valid()
    doc["baseline"] = {"ref": "a b"}
    assert "thresholds.yaml: baseline.ref: expected" in error(tmp_path, doc, Overrides(baseline_ref="main"))


def test_golden_max_pixels_defaults_to_40_megapixels(tmp_path: Path) -> None:
    assert load(tmp_path, valid()).max_pixels == 40_000_000
    doc = valid()
    doc["golden"] = None
    assert load(tmp_path, doc).max_pixels == 40_000_000
    doc["golden"] = {"max_pixels": 1_000_000}
    assert load(tmp_path, doc).max_pixels == 1_000_000
    assert load(tmp_path, "version: 1\nmodel: {adapter: open_clip, checkpoint: c}\ngolden:\n  max_pixels: 12_000_000\n"
                          "suites: {shapes: {metrics: {clipscore: {min: 0.5}}}}\n").max_pixels == 12_000_000


@pytest.mark.parametrize(("golden", "expected"), [
    ({"max_pixels": 0}, "golden.max_pixels: expected an integer >= 1, got 0"),
    ({"max_pixels": 4e7}, "golden.max_pixels: expected an integer >= 1, got 40000000.0"),
    ({"max_pixels": True}, "golden.max_pixels: expected an integer >= 1, got true"),
    ({"max_pixels": 200_000_000}, "golden.max_pixels: expected at most 178956970 (Pillow refuses larger images as "
                                  "decompression bombs), got 200000000"),
    ({"max_pixel": 10}, "golden.max_pixel: unknown key 'max_pixel' (did you mean 'max_pixels'?)"),
    (40, "golden: expected a mapping with 'max_pixels', got 40"),
])
def test_bad_golden_section(tmp_path: Path, golden: Any, expected: str) -> None:
    doc = valid()
    doc["golden"] = golden
    assert expected in error(tmp_path, doc)
