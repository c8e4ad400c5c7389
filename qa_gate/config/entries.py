"""Entries of ``thresholds.yaml`` that hold several values: the model section's keys, a metric's params and rules."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

from qa_gate.config.model import ADAPTERS, DEVICES, DTYPES, FLOOR_KINDS, RULE_KINDS, RULE_SETTINGS, USER_ADAPTER
from qa_gate.config.values import (
    Where,
    boolean,
    choice,
    confidence,
    describe,
    integer,
    mapping,
    mode,
    number,
    string,
)
from qa_gate.errors import did_you_mean, one_of
from qa_gate.metrics.plugins import plugin_identity
from qa_gate.metrics.registry import get_metric


def param(value: Any, default: Any, where: Where) -> Any:
    """A metric parameter of the same type as its ``default`` (an int is accepted for a float)."""
    if default is None:
        return value
    if isinstance(default, bool):
        return boolean(value, where)
    if isinstance(default, int):
        return integer(value, where)
    if isinstance(default, float):
        return number(value, where)
    if isinstance(default, str):
        if not isinstance(value, str):
            raise where.error(f"expected a string, got {describe(value)}")
        return value
    if isinstance(default, tuple):
        if not isinstance(value, (list, tuple)) or not value or not all(isinstance(v, str) for v in value):
            raise where.error(f"expected a non-empty list of strings, got {describe(value)}")
        return tuple(value)
    if not isinstance(value, type(default)):
        raise where.error(f"expected a {type(default).__name__}, got {describe(value)}")
    return value


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


MODEL_CHECKS: Mapping[str, Callable[[Any, Where, Path], Any]] = MappingProxyType({
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
    "workers": lambda v, w, b: integer(v, w, minimum=0, from_text=w.file is None),
    "options": lambda v, w, b: MappingProxyType({} if v is None else mapping(v, w)),
})
"""The check for each key of the ``model`` section (and its command-line option)."""


def _check_family(metric: Any, where: Where) -> None:
    """A metric (a user's plug-in) must name a family of the family table."""
    from qa_gate.scoring.families import FAMILIES

    family = metric.family
    plugin = getattr(getattr(metric, "plugin", None), "target", metric.name)
    if family not in FAMILIES:
        raise where.error(f"metric plug-in '{plugin}' has family = {describe(family)}, which is not a metric "
                          f"family{did_you_mean(str(family), FAMILIES)}; expected one of {', '.join(FAMILIES)}")
    lacking = [name for name in FAMILIES[family].params if name not in metric.params]
    if lacking:
        raise where.error(f"metric plug-in '{plugin}' is of family '{family}', whose inputs read the parameter(s) "
                          f"{', '.join(lacking)}; expected them in its params (with defaults), as the built-in "
                          f"{family} metrics declare them")


def metric_entry(name: str, raw: Any, where: Where, home: Where | None = None
                 ) -> tuple[dict[str, Any], list[tuple[str, float]], dict[str, Any]]:
    """Parameters (defaults filled), rules in file order and rule settings of one metric entry.

    ``home`` is set for a slice entry: the suite metric where its parameters belong.
    """
    metric = get_metric(name, where=str(where))
    _check_family(metric, where)
    body = {} if raw is None else mapping(
        raw, where, "a mapping of rules" if home else "a mapping of rules and parameters")
    params = dict(metric.params)
    rules: list[tuple[str, float]] = []
    settings: dict[str, Any] = {}
    rule_list, setting_list = ", ".join(RULE_KINDS), ", ".join(RULE_SETTINGS)
    entry = "a perturbed metric (name@P)" if ".metrics." in where.path else "a slice entry"  # when home is set
    for key, value in body.items():
        at = where / key
        if key in RULE_KINDS:
            rules.append((key, number(value, at, minimum=None if key in FLOOR_KINDS else 0.0)))
        elif key in RULE_SETTINGS:
            settings[key] = mode(value, at) if key == "mode" else confidence(value, at)
        elif home is not None and key in metric.params:
            raise at.error(f"'{key}' is a parameter of {name}; parameters belong on the suite metric "
                           f"({(home / key).path}) and its slices inherit them; {entry} takes "
                           f"rules ({rule_list}) and rule settings ({setting_list})")
        elif home is not None:
            raise at.error(f"unknown rule '{key}'{did_you_mean(key, (*RULE_KINDS, *RULE_SETTINGS))}; "
                           f"{entry} takes rules ({rule_list}) and rule settings ({setting_list})")
        elif key in metric.params:
            params[key] = param(value, metric.params[key], at)
        else:
            known = (*metric.params, *RULE_KINDS, *RULE_SETTINGS)
            takes = ", ".join(metric.params) or "none"
            raise at.error(f"unknown parameter or rule '{key}'{did_you_mean(key, known)}; "
                           f"{name} takes parameters: {takes}; rules: {rule_list}; "
                           f"rule settings: {setting_list}")
    if home is None and (problem := metric.check_params(params)) is not None:
        key = problem.partition(":")[0]
        raise (where / key if key in metric.params else where).error(problem.partition(": ")[2] or problem)
    bounds = dict(rule for rule in rules if rule[0] in FLOOR_KINDS)
    if "min" in bounds and "max" in bounds and bounds["min"] > bounds["max"]:
        raise where.error(f"min {bounds['min']:g} is above max {bounds['max']:g}; no value can pass")
    return {**params, **plugin_identity(metric)}, rules, settings
