"""``thresholds.yaml``: parsed and validated into frozen dataclasses before anything is loaded."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from qa_gate.config.entries import MODEL_CHECKS, metric_entry
from qa_gate.config.model import (
    DEFAULT_MAX_PIXELS,
    FLOOR_KINDS,
    MISSING_BASELINE,
    PILLOW_MAX_PIXELS,
    GateConfig,
    MetricConfig,
    ModelConfig,
    Overrides,
    Rule,
    SliceConfig,
    SuiteConfig,
)
from qa_gate.config.perturbations import add_perturbed, clean_entries
from qa_gate.config.shadow import shadow_section
from qa_gate.config.values import (
    MISSING,
    Where,
    check_keys,
    choice,
    confidence,
    describe,
    flag,
    git_ref,
    integer,
    mapping,
    mode,
    read_yaml,
    slice_name,
    string,
)
from qa_gate.errors import did_you_mean, one_of
from qa_gate.metrics.plugins import metric_key
from qa_gate.metrics.registry import metric_names

SUPPORTED_VERSIONS: tuple[int, ...] = (1,)
DEFAULT_BASELINE = "baselines/baseline.json"
SUITE_NAME = re.compile(r"[A-Za-z0-9_.-]+")
_TOP_KEYS = ("version", "model", "scorer", "gate", "golden", "baseline", "report", "suites")
_GOLDEN_KEYS = ("max_pixels",)
_MODEL_KEYS = ("adapter", "checkpoint", "model_name", "pretrained", "device", "dtype",
               "batch_size", "allow_pickle", "options", "workers")
_SCORER_KEYS = ("adapter", "checkpoint", "model_name", "pretrained", "allow_pickle", "options")
_SUITE_KEYS = ("path", "metrics", "slices", "shadow", "perturbations")
OPTION_NAMES: Mapping[str, str] = MappingProxyType({
    "checkpoint": "checkpoint", "adapter": "adapter", "model_name": "model-name",
    "device": "device", "dtype": "dtype", "batch_size": "batch-size", "workers": "workers",
    "baseline_path": "baseline", "report_path": "report",
    "baseline_ref": "baseline-ref", "accept_bar_change": "accept-bar-change",
    "mode": "mode", "cache_dir": "cache-dir", "no_cache": "no-cache",
})
"""The option that sets each :class:`Overrides` field, without the face's prefix (``--`` or ``--mm-``)."""


def option_name(field: str, overrides: Overrides) -> str:
    """The option setting ``field`` as the face spells it: ``--batch-size`` (mm-gate), ``--mm-batch-size`` (pytest)."""
    return overrides.option_prefix + OPTION_NAMES[field]


def load_config(path: Path, overrides: Overrides = Overrides(), *, content: bytes | None = None,
                label: str | None = None, environ: Mapping[str, str] = os.environ) -> GateConfig:
    """Read and validate ``thresholds.yaml`` at ``path``, then apply ``overrides``.

    Everything is checked before anything is loaded. Paths in the file are relative
    to the file's folder; paths in ``overrides`` to the current directory.
    Raises ``ConfigError`` naming the file (``label`` when given), the key path (or the
    option), the bad value and what was expected. ``content`` is the file's bytes when read
    elsewhere (the target branch's version, from git); ``environ`` decides the default of
    ``gate.missing_baseline`` (``fail`` when ``CI`` is set).
    """
    where = Where(label or str(path))
    data = read_yaml(Path(path), where, content)
    base = Path(path).absolute().parent
    check_keys(data, where, _TOP_KEYS)
    version = data.get("version", MISSING)
    if isinstance(version, bool) or version not in SUPPORTED_VERSIONS:
        supported = ", ".join(map(str, SUPPORTED_VERSIONS))
        got = "nothing (the key is missing)" if version is MISSING else describe(version)
        raise (where / "version").error(
            f"expected a supported format version ({supported}), got {got}")
    gate = _gate(data.get("gate"), where / "gate", overrides, environ)
    max_pixels = _golden(data.get("golden"), where / "golden")
    model = _model(data.get("model"), where / "model", base, overrides)
    baseline = _section_path(data, "baseline", where, base, overrides, ("path", "ref"))
    report = _section_path(data, "report", where, base, overrides)
    ref = (data.get("baseline") or {}).get("ref")
    ref = None if ref is None else git_ref(ref, where / "baseline" / "ref")
    if overrides.baseline_ref is not None:
        ref = git_ref(overrides.baseline_ref, _option("baseline_ref", overrides))
    accept = overrides.accept_bar_change
    suites = _suites(data.get("suites", MISSING), where / "suites", base, gate)
    scorer = None if data.get("scorer") is None else _scorer(data["scorer"], where / "scorer", base)
    _check_scorer(suites, scorer, where)
    return GateConfig(
        source=Path(path).absolute(),
        version=int(version),
        model=model,
        scorer=scorer,
        suites=suites,
        baseline_path=baseline if baseline is not None else (base / DEFAULT_BASELINE).resolve(),
        report_path=report,
        resamples=gate.resamples,
        seed=gate.seed,
        baseline_ref=ref,
        accept_bar_change=accept is not None and flag(
            accept, _option("accept_bar_change", overrides), from_text=True),
        baseline_explicit=overrides.baseline_path is not None,
        max_pixels=max_pixels,
        mode=gate.mode,
        confidence=gate.confidence,
        missing_baseline=gate.missing_baseline,
        missing_baseline_why=gate.missing_baseline_why,
    )


def _golden(raw: Any, where: Where) -> int:
    """The ``golden`` section: ``max_pixels``, the most pixels one golden image may have."""
    data = {} if raw is None else mapping(raw, where, "a mapping with 'max_pixels'")
    check_keys(data, where, _GOLDEN_KEYS)
    if "max_pixels" not in data:
        return DEFAULT_MAX_PIXELS
    value = integer(data["max_pixels"], where / "max_pixels", minimum=1)
    if value > PILLOW_MAX_PIXELS:
        raise (where / "max_pixels").error(
            f"expected at most {PILLOW_MAX_PIXELS} (Pillow refuses larger images as decompression bombs), "
            f"got {value}")
    return value


def _scorer(raw: Any, where: Where, base: Path) -> ModelConfig:
    """The ``scorer`` section: a model section without device, dtype and batch size (it runs with the model's)."""
    data = mapping(raw, where, "a mapping with 'adapter' and 'checkpoint'")
    for key in ("device", "dtype", "batch_size"):
        if key in data:
            raise (where / key).error(f"the scorer runs with the model's {key}; set it in the 'model' section")
    check_keys(data, where, _SCORER_KEYS)
    return _model(data, where, base, Overrides())


def _check_scorer(suites: tuple[SuiteConfig, ...], scorer: ModelConfig | None, where: Where) -> None:
    """``caption: generated`` needs the ``scorer`` section: the model under test cannot score its own captions."""
    if scorer is not None:
        return
    for suite in suites:
        for metric in suite.metrics:
            if metric.params.get("caption") == "generated":
                raise (where / "suites" / suite.name / "metrics" / metric.name / "caption").error(
                    "'generated' scores the captions the model writes with a fixed dual encoder, but the file "
                    "has no 'scorer' section; add one (adapter, checkpoint, like 'model') naming a CLIP model")


def _option(name: str, overrides: Overrides) -> Where:
    return Where(None, option_name(name, overrides))


def _model(raw: Any, where: Where, base: Path, overrides: Overrides) -> ModelConfig:
    data = {} if raw is None else mapping(raw, where, "a mapping with 'adapter' and 'checkpoint'")
    check_keys(data, where, _MODEL_KEYS)
    values: dict[str, Any] = {}
    for key, check in MODEL_CHECKS.items():
        if key in data:
            values[key] = check(data[key], where / key, base)
        given = getattr(overrides, key, None)
        if given is not None:
            values[key] = check(given, _option(key, overrides), Path.cwd())
    required = {"adapter": "an adapter name", "checkpoint": "a checkpoint path or hub id"}
    for key, expected in required.items():
        if key not in values:
            raise (where / key).error(f"missing; expected {expected} (or pass {option_name(key, overrides)})")
    return ModelConfig(**values)


def _section_path(data: Mapping[str, Any], section: str, where: Where, base: Path,
                  overrides: Overrides, keys: tuple[str, ...] = ("path",)) -> Path | None:
    """``<section>.path`` resolved against ``base``, or its override resolved against the cwd."""
    at = where / section
    raw = data.get(section)
    optional = "".join(f" and optionally '{key}'" for key in keys[1:])
    body = {} if raw is None else mapping(raw, at, f"a mapping with 'path'{optional}")
    check_keys(body, at, keys)
    result = None
    if body.get("path") is not None:
        result = (base / string(body["path"], at / "path", "a file path")).resolve()
    given: str | None = getattr(overrides, f"{section}_path")
    if given is not None:
        option = _option(f"{section}_path", overrides)
        result = (Path.cwd() / string(given, option, "a file path")).resolve()
    return result


@dataclass(frozen=True)
class _Gate:
    """The ``gate`` section, with the ``mode`` override (``forced_mode``) applied to regression rules."""

    mode: str = Rule.mode
    confidence: float = Rule.confidence
    resamples: int = GateConfig.resamples
    seed: int = GateConfig.seed
    missing_baseline: str = "warn"
    missing_baseline_why: str = "the default outside CI"
    forced_mode: str | None = None

    def rules(self, found: list[tuple[str, float]], settings: Mapping[str, Any]) -> tuple[Rule, ...]:
        """``found`` (kind, value) pairs as rules; regressions take the metric's ``settings``."""
        return tuple(
            Rule(kind, value, self.mode, self.confidence) if kind in FLOOR_KINDS
            else Rule(kind, value, self.forced_mode or settings.get("mode", self.mode),
                      settings.get("confidence", self.confidence))
            for kind, value in found)


_GATE_CHECKS: dict[str, Callable[[Any, Where], Any]] = {
    "mode": mode,
    "confidence": confidence,
    "resamples": lambda v, w: integer(v, w, minimum=100),
    "seed": lambda v, w: integer(v, w, minimum=0),
    "missing_baseline": lambda v, w: choice(v, w, MISSING_BASELINE, one_of(MISSING_BASELINE)),
}


def _gate(raw: Any, where: Where, overrides: Overrides, environ: Mapping[str, str]) -> _Gate:
    data = {} if raw is None else mapping(raw, where, f"a mapping with {one_of(_GATE_CHECKS)}")
    check_keys(data, where, tuple(_GATE_CHECKS))
    values = {key: check(data[key], where / key) for key, check in _GATE_CHECKS.items() if key in data}
    if "missing_baseline" in values:
        values["missing_baseline_why"] = "gate.missing_baseline"
    elif environ.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
        values["missing_baseline"], values["missing_baseline_why"] = "fail", "the default when CI is set"
    forced = None if overrides.mode is None else mode(overrides.mode, _option("mode", overrides))
    return _Gate(**values, forced_mode=forced)


def _suites(raw: Any, where: Where, base: Path, gate: _Gate) -> tuple[SuiteConfig, ...]:
    expected = "a mapping of suite names to {path, metrics}"
    if raw is MISSING:
        raise where.error(f"missing; expected {expected}")
    data = mapping(raw, where, expected)
    if not data:
        raise where.error(f"expected at least one suite, got {describe(raw)}")
    return tuple(_suite(name, body, where / name, base, gate) for name, body in data.items())


def _suite(name: str, raw: Any, where: Where, base: Path, gate: _Gate) -> SuiteConfig:
    if not SUITE_NAME.fullmatch(name):
        raise where.error(f"expected a suite name of letters, digits, '_', '.' or '-', "
                          f"got {describe(name)}")
    data = mapping(raw, where, "a mapping with 'metrics' (and optionally 'path' and 'slices')")
    check_keys(data, where, _SUITE_KEYS)
    written = data.get("path")
    written = f"golden/{name}" if written is None else string(written, where / "path", "a folder path")
    joined = base / Path(written).expanduser()
    try:
        label = Path(os.path.relpath(os.path.normpath(joined), base)).as_posix()
    except ValueError:  # another drive on Windows
        label = joined.as_posix()
    metrics_at = where / "metrics"
    raw_metrics = data.get("metrics", MISSING)
    if raw_metrics is MISSING:
        raise metrics_at.error("missing; expected a mapping of metric names to rules")
    metrics = mapping(raw_metrics, metrics_at, "a mapping of metric names to rules")
    if not metrics:
        raise metrics_at.error(f"expected at least one metric, got {describe(raw_metrics)}; "
                               f"known metrics: {', '.join(metric_names())}")
    parsed: dict[str, tuple[MetricConfig, dict[str, Any]]] = {}
    for key, body in clean_entries(metrics).items():  # name@P: added below
        metric = metric_key(key, metrics_at / key, parsed)  # an inline plug-in 'module:Class': its declared name
        params, found, settings = metric_entry(metric, body, metrics_at / key)
        config = MetricConfig(metric, MappingProxyType(params), gate.rules(found, settings))
        parsed[metric] = (config, settings)
    perturbations = add_perturbed(parsed, data.get("perturbations"), metrics, where, name, gate.seed, gate.rules)
    return SuiteConfig(
        name=name,
        path=joined.resolve(),
        label=label,
        metrics=tuple(config for config, _ in parsed.values()),
        slices=_slices(data.get("slices"), where / "slices", name, parsed, gate),
        perturbations=perturbations,
        shadow=shadow_section(data.get("shadow"), where, base, (config for config, _ in parsed.values())),
    )


def _slices(raw: Any, where: Where, suite: str, metrics: Mapping[str, tuple[MetricConfig, dict[str, Any]]],
            gate: _Gate) -> tuple[SliceConfig, ...]:
    """``slices``: rules on the suite's own metrics for the samples tagged ``key=value``."""
    if raw is None:
        return ()
    names = ", ".join(metrics)
    slices: list[SliceConfig] = []
    for name, body in mapping(raw, where, "a mapping of slices 'key=value' to metric rules").items():
        at = where / name
        key, value = slice_name(name, at)
        entries = {} if body is None else mapping(body, at, "a mapping of the suite's metric names to rules")
        if not entries:
            raise at.error(f"expected rules on at least one of the suite's metrics ({names}), "
                           f"got {describe(body)}")
        configs: list[MetricConfig] = []
        for metric, entry in entries.items():
            if metric not in metrics:
                raise (at / metric).error(
                    f"'{metric}' is not a metric of suite '{suite}'{did_you_mean(metric, metrics)}; "
                    f"a slice gates the suite's own metrics: {names}")
            (parent, inherited), base = metrics[metric], metric.partition("@")[0]  # name@P: the clean one's params
            home = Where(None, f"suites.{suite}.metrics.{base if base in metrics else metric}")
            _, found, settings = metric_entry(metric, entry, at / metric, home)
            configs.append(MetricConfig(metric, parent.params, gate.rules(found, {**inherited, **settings})))
        slices.append(SliceConfig(name, key, value, tuple(configs)))
    return tuple(slices)
