"""``thresholds.yaml``: parsed and validated into frozen dataclasses before anything is loaded."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from qa_gate.config_checks import (
    MISSING,
    Where,
    boolean,
    check_keys,
    choice,
    describe,
    integer,
    mapping,
    number,
    param,
    read_yaml,
    string,
)
from qa_gate.errors import did_you_mean, one_of
from qa_gate.metrics.registry import get_metric, metric_names

RULE_KINDS: tuple[str, ...] = ("min", "max", "max_drop", "max_drop_pct")
FLOOR_KINDS: frozenset[str] = frozenset({"min", "max"})
ADAPTERS: tuple[str, ...] = ("open_clip", "transformers")
DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda")
DTYPES: tuple[str, ...] = ("auto", "float32", "float16", "bfloat16")


@dataclass(frozen=True)
class Rule:
    """One rule on one metric: an absolute floor (``min``/``max``) or a regression bound."""

    kind: str
    value: float

    @property
    def is_floor(self) -> bool:
        """True for absolute floors, which hold whatever the baseline."""
        return self.kind in FLOOR_KINDS


@dataclass(frozen=True)
class MetricConfig:
    """A metric to score on a suite, its definition parameters and its rules."""

    name: str
    params: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    rules: tuple[Rule, ...] = ()


@dataclass(frozen=True)
class SuiteConfig:
    """A golden suite: its name, its folder and the metrics gated on it."""

    name: str
    path: Path
    label: str
    metrics: tuple[MetricConfig, ...]


@dataclass(frozen=True)
class ModelConfig:
    """The checkpoint under test and how to run it."""

    adapter: str
    checkpoint: str
    model_name: str | None = None
    pretrained: str | None = None
    device: str = "auto"
    dtype: str = "auto"
    batch_size: int = 32
    allow_pickle: bool = False
    options: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True)
class GateConfig:
    """The whole validated ``thresholds.yaml`` with command-line overrides applied."""

    source: Path
    version: int
    model: ModelConfig
    suites: tuple[SuiteConfig, ...]
    baseline_path: Path
    report_path: Path | None


@dataclass(frozen=True)
class Overrides:
    """Values from the command line (or ini options) that replace the file's.

    ``None`` means "not given". Relative paths are taken relative to the current
    directory, unlike the file's paths, which are relative to the file.
    """

    checkpoint: str | None = None
    adapter: str | None = None
    model_name: str | None = None
    device: str | None = None
    dtype: str | None = None
    batch_size: int | None = None
    baseline_path: str | None = None
    report_path: str | None = None


SUPPORTED_VERSIONS: tuple[int, ...] = (1,)
DEFAULT_BASELINE = "baselines/baseline.json"
SUITE_NAME = re.compile(r"[A-Za-z0-9_.-]+")
USER_ADAPTER = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*:[A-Za-z_]\w*")
_TOP_KEYS = ("version", "model", "baseline", "report", "suites")
_MODEL_KEYS = ("adapter", "checkpoint", "model_name", "pretrained", "device", "dtype",
               "batch_size", "allow_pickle", "options")
_SUITE_KEYS = ("path", "metrics")
OPTION_NAMES: Mapping[str, str] = MappingProxyType({
    "checkpoint": "--mm-checkpoint", "adapter": "--mm-adapter", "model_name": "--mm-model-name",
    "device": "--mm-device", "dtype": "--mm-dtype", "batch_size": "--mm-batch-size",
    "baseline_path": "--mm-baseline", "report_path": "--mm-report",
})
"""The command-line option that sets each :class:`Overrides` field."""


def load_config(path: Path, overrides: Overrides = Overrides()) -> GateConfig:
    """Read and validate ``thresholds.yaml`` at ``path``, then apply ``overrides``.

    Everything is checked before anything is loaded. Paths in the file are relative
    to the file's folder; paths in ``overrides`` to the current directory.
    Raises ``ConfigError`` naming the file, the key path (or the option), the bad
    value and what was expected.
    """
    where = Where(str(path))
    data = read_yaml(Path(path), where)
    base = Path(path).absolute().parent
    check_keys(data, where, _TOP_KEYS)
    version = data.get("version", MISSING)
    if isinstance(version, bool) or version not in SUPPORTED_VERSIONS:
        supported = ", ".join(map(str, SUPPORTED_VERSIONS))
        got = "nothing (the key is missing)" if version is MISSING else describe(version)
        raise (where / "version").error(
            f"expected a supported format version ({supported}), got {got}")
    model = _model(data.get("model"), where / "model", base, overrides)
    baseline = _section_path(data, "baseline", where, base, overrides.baseline_path)
    report = _section_path(data, "report", where, base, overrides.report_path)
    return GateConfig(
        source=Path(path).absolute(),
        version=int(version),
        model=model,
        suites=_suites(data.get("suites", MISSING), where / "suites", base),
        baseline_path=baseline if baseline is not None else (base / DEFAULT_BASELINE).resolve(),
        report_path=report,
    )


def _option(name: str) -> Where:
    return Where(None, OPTION_NAMES[name])


def _existing_or_text(text: str, base: Path) -> str:
    """The absolute path when ``text`` names something that exists under ``base``, else ``text``."""
    candidate = base / Path(text).expanduser()
    try:
        return str(candidate.resolve()) if candidate.exists() else text
    except OSError:
        return text


def _adapter(value: Any, where: Where, base: Path) -> str:
    names = ", ".join(f"'{name}'" for name in ADAPTERS)
    expected = f"{names} or a user adapter 'package.module:attr'"
    if isinstance(value, str) and ":" in value:
        if not USER_ADAPTER.fullmatch(value):
            raise where.error(f"expected a user adapter 'package.module:attr', got {describe(value)}")
        return value
    return choice(value, where, ADAPTERS, expected)


def _device(value: Any, where: Where, base: Path) -> str:
    if isinstance(value, str) and (value in DEVICES or re.fullmatch(r"cuda:\d+", value)):
        return value
    hint = did_you_mean(value, DEVICES) if isinstance(value, str) else ""
    raise where.error(f"expected {one_of((*DEVICES, 'cuda:N'))}, got {describe(value)}{hint}")


def _model_name(value: Any, where: Where, base: Path) -> str | None:
    if value is None:
        return None
    text = string(value, where, "a model name or a config .json path")
    return _existing_or_text(text, base) if text.endswith(".json") else text


_MODEL_CHECKS: dict[str, Callable[[Any, Where, Path], Any]] = {
    "adapter": _adapter,
    "checkpoint": lambda v, w, b: _existing_or_text(
        string(v, w, "a checkpoint path or hub id"), b),
    "model_name": _model_name,
    "pretrained": lambda v, w, b: None if v is None else string(v, w, "a pretrained tag"),
    "device": _device,
    "dtype": lambda v, w, b: choice(v, w, DTYPES, one_of(DTYPES)),
    # an option (no file) may arrive as text from an ini file: "64"
    "batch_size": lambda v, w, b: integer(v, w, minimum=1, from_text=w.file is None),
    "allow_pickle": lambda v, w, b: boolean(v, w),
    "options": lambda v, w, b: MappingProxyType({} if v is None else mapping(v, w)),
}


def _model(raw: Any, where: Where, base: Path, overrides: Overrides) -> ModelConfig:
    data = {} if raw is None else mapping(raw, where, "a mapping with 'adapter' and 'checkpoint'")
    check_keys(data, where, _MODEL_KEYS)
    values: dict[str, Any] = {}
    for key, check in _MODEL_CHECKS.items():
        if key in data:
            values[key] = check(data[key], where / key, base)
        given = getattr(overrides, key, None)
        if given is not None:
            values[key] = check(given, _option(key), Path.cwd())
    required = {"adapter": "an adapter name", "checkpoint": "a checkpoint path or hub id"}
    for key, expected in required.items():
        if key not in values:
            raise (where / key).error(f"missing; expected {expected} (or pass {OPTION_NAMES[key]})")
    return ModelConfig(**values)


def _section_path(data: Mapping[str, Any], section: str, where: Where, base: Path,
                  given: str | None) -> Path | None:
    """``<section>.path`` resolved against ``base``, or ``given`` resolved against the cwd."""
    at = where / section
    raw = data.get(section)
    body = {} if raw is None else mapping(raw, at, "a mapping with 'path'")
    check_keys(body, at, ("path",))
    result = None
    if body.get("path") is not None:
        result = (base / string(body["path"], at / "path", "a file path")).resolve()
    if given is not None:
        option = _option(f"{section}_path")
        result = (Path.cwd() / string(given, option, "a file path")).resolve()
    return result


def _suites(raw: Any, where: Where, base: Path) -> tuple[SuiteConfig, ...]:
    expected = "a mapping of suite names to {path, metrics}"
    if raw is MISSING:
        raise where.error(f"missing; expected {expected}")
    data = mapping(raw, where, expected)
    if not data:
        raise where.error(f"expected at least one suite, got {describe(raw)}")
    return tuple(_suite(name, body, where / name, base) for name, body in data.items())


def _suite(name: str, raw: Any, where: Where, base: Path) -> SuiteConfig:
    if not SUITE_NAME.fullmatch(name):
        raise where.error(f"expected a suite name of letters, digits, '_', '.' or '-', "
                          f"got {describe(name)}")
    data = mapping(raw, where, "a mapping with 'metrics' (and optionally 'path')")
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
    return SuiteConfig(
        name=name,
        path=joined.resolve(),
        label=label,
        metrics=tuple(_metric(metric, body, metrics_at / metric) for metric, body in metrics.items()),
    )


def _metric(name: str, raw: Any, where: Where) -> MetricConfig:
    metric = get_metric(name, where=str(where))
    body = {} if raw is None else mapping(raw, where, "a mapping of rules and parameters")
    params = dict(metric.params)
    rules: list[Rule] = []
    for key, value in body.items():
        at = where / key
        if key in RULE_KINDS:
            minimum = 0.0 if key in ("max_drop", "max_drop_pct") else None
            rules.append(Rule(key, number(value, at, minimum=minimum)))
        elif key in metric.params:
            params[key] = param(value, metric.params[key], at)
        else:
            known = (*metric.params, *RULE_KINDS)
            takes = ", ".join(metric.params) or "none"
            raise at.error(f"unknown parameter or rule '{key}'{did_you_mean(key, known)}; "
                           f"{name} takes parameters: {takes}; rules: {', '.join(RULE_KINDS)}")
    bounds = {rule.kind: rule.value for rule in rules if rule.is_floor}
    if "min" in bounds and "max" in bounds and bounds["min"] > bounds["max"]:
        raise where.error(f"min {bounds['min']:g} is above max {bounds['max']:g}; no value can pass")
    return MetricConfig(name=name, params=MappingProxyType(params), rules=tuple(rules))
