"""User metric plug-ins: found through the ``qa_gate.metrics`` entry-point group or named inline, checked at the door.

A plug-in is a class (a ``Metric`` subclass, or any class with the same attributes) named
``package.module:Class``, either as the value of an entry point of the group ``qa_gate.metrics``
(its name is the metric's name) or as a metric key in ``thresholds.yaml``. Entry points are read
(not imported) the first time a name is not a built-in one, and a plug-in is imported only when a
config names it: ``pytest`` without ``--mm-gate`` imports none. At config load the class is imported
and built, and its declared attributes are checked (``name``, ``family``, ``needs``, ``columns``,
``higher_is_better``, ``version``, ``per_sample``, ``aggregate``; optionally ``params`` and
``mean_sufficient``); a fault is one ``ConfigError`` line naming the plug-in and what was expected.
What it returns while scoring is checked by :class:`~qa_gate.metrics.plugin_metric.PluginMetric`.

Names: a plug-in's declared ``name`` is the metric's name in results and reports; it may not be a
built-in metric's, an entry point's must be its entry point's, and one config file may not give one
name to two classes (nor one suite two metrics of one name). The config's params of a plug-in metric
carry its ``module:Class`` (``PLUGIN_KEY``), so the bar sees a changed class as a changed definition,
and the runner scores each suite with the class its applied config names (:func:`for_suite`).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import re
import sys
from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING, Any, cast

from qa_gate.config.model import RULE_KINDS, RULE_SETTINGS, USER_ADAPTER
from qa_gate.config.values import Where, describe
from qa_gate.errors import ConfigError, did_you_mean, first_line
from qa_gate.metrics.base import Metric
from qa_gate.metrics.builtin import CONSISTENCY, METRICS
from qa_gate.metrics.plugin_metric import PLUGIN_KEY, Plugin, PluginMetric

if TYPE_CHECKING:
    from qa_gate.config.model import MetricConfig
    from qa_gate.golden.suite import Suite

GROUP = "qa_gate.metrics"
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_points: dict[str, importlib.metadata.EntryPoint] | None = None
_point_problems: list[str] = []
_by_target: dict[str, type[PluginMetric]] = {}
_active: dict[str, type[PluginMetric]] = {}
"""The class each plug-in name gives ``get_metric`` now: the one the config last read names, then the one a suite
is scored with (a target branch's config may name another class for the name)."""
_packages: Mapping[str, list[str]] | None = None
_claims: dict[tuple[str, str], str] = {}
"""``(file, name)``: the target that file gave the name."""


def _entry_points() -> dict[str, importlib.metadata.EntryPoint]:
    """The group's entry points by name, read once; those refused (a built-in's name, a name given twice) are
    left out and their problems kept for :func:`check_entry_points`."""
    global _points
    if _points is None:
        _points = {}
        for point in importlib.metadata.entry_points(group=GROUP):
            dist = f" of distribution '{point.dist.name}'" if point.dist is not None else ""
            if point.name in METRICS or point.name == CONSISTENCY:
                _point_problems.append(f"the entry point '{point.name} = {point.value}'{dist} (group {GROUP}) "
                                       f"takes the name of the built-in metric '{point.name}'; rename the plug-in")
            elif point.name in _points and _points[point.name].value != point.value:
                _point_problems.append(f"two entry points of group {GROUP} are named '{point.name}' "
                                       f"({_points[point.name].value} and {point.value}{dist}); a name names one class")
            else:
                _points[point.name] = point
    return _points


def check_entry_points() -> None:
    """Refuse the installed entry points that cannot be plug-ins (a built-in's name, a name given twice)."""
    _entry_points()
    if _point_problems:
        raise ConfigError(_point_problems[0])


def plugin_names() -> tuple[str, ...]:
    """Every plug-in name known now: the installed entry points' and the loaded inline plug-ins'."""
    return tuple(sorted({*_entry_points(), *_active}))


def plugin_metric(name: str, where: str = "") -> Metric:
    """The plug-in metric called ``name`` (an entry point's is loaded on first use); the usual unknown-metric
    error otherwise, naming built-in and plug-in metrics alike."""
    if name not in _active and name in _entry_points():
        point = _entry_points()[name]
        dist = point.dist
        at = f"entry point '{name} = {point.value}' (group {GROUP})"
        _register(_load(point.value, f"{where}: {at}" if where else at, name,
                        None if dist is None else f"{dist.name} {dist.version}"))
    if name in _active:
        return _active[name](where)
    known = sorted({*METRICS.names(), *plugin_names()})
    prefix = f"{where}: " if where else ""
    raise ConfigError(f"{prefix}unknown metric '{name}'{did_you_mean(name, known)}; known metrics: {', '.join(known)}")


def metric_key(key: str, where: Where, taken: Collection[str] = ()) -> str:
    """The metric name a key of ``suites.X.metrics`` stands for: its own, or the declared name of the inline
    plug-in ``package.module:Class`` it names (loaded and checked here; a slice names it by that name). A name
    in ``taken`` (the suite's metrics so far) is refused: one suite cannot hold two metrics of one name."""
    check_entry_points()
    name = key
    if USER_ADAPTER.fullmatch(key):
        found = _by_target.get(key) or _load(key, str(where), None, _distribution(key))
        name = found.plugin.name
        if name in _entry_points() and _entry_points()[name].value != key:
            raise where.error(f"metric plug-in '{key}' declares the name '{name}', which the installed entry point "
                              f"'{name} = {_entry_points()[name].value}' (group {GROUP}) already gives another "
                              "class; a metric name names one class: rename one of them")
        claimed = _claims.setdefault((str(where.file), name), key)
        if claimed != key:
            raise where.error(f"metric plug-in '{key}' declares the name '{name}', which '{claimed}' already "
                              f"declares in this file; a metric name names one class: rename one of them")
        _register(found)
        _active[name] = found  # the config being read names it: its params carry this class
    if name in taken:
        declared = f" ('{key}' declares it)" if key != name else ""
        raise where.error(f"two metrics of this suite are named '{name}'{declared}; a suite holds each metric once: "
                          "remove one, or give the plug-in another name")
    return name


def plugin_identity(metric: Metric) -> dict[str, str]:
    """What a config's params of ``metric`` carry beside its parameters: a plug-in's ``module:Class``."""
    return {PLUGIN_KEY: metric.plugin.target} if isinstance(metric, PluginMetric) else {}


def for_suite(metric_cfg: MetricConfig, suite: Suite) -> Metric | None:
    """The plug-in scoring ``metric_cfg`` on ``suite`` (``None`` for a built-in metric): the class its params name
    (which then answers for its name in the verdict), its faults naming the suite and its rows checked against
    the suite's samples."""
    target = metric_cfg.params.get(PLUGIN_KEY)
    if not isinstance(target, str):
        return None
    found = _by_target.get(target) or _load(target, f"suites.{suite.name}.metrics.{metric_cfg.name}", None,
                                           _distribution(target))
    _active[found.plugin.name] = found
    return found(f"suite '{suite.name}'", [s.id for s in suite.samples])


def _register(found: type[PluginMetric]) -> None:
    _by_target.setdefault(found.plugin.target, found)
    _active.setdefault(found.plugin.name, found)


def _distribution(target: str) -> str | None:
    """``"name version"`` of the installed distribution whose top-level package holds ``target``'s module."""
    global _packages
    if _packages is None:  # scanning every installed distribution takes a while: once
        _packages = importlib.metadata.packages_distributions()
    names = _packages.get(target.partition(":")[0].partition(".")[0], [])
    if not names:
        return None
    return f"{names[0]} {importlib.metadata.version(names[0])}"


def _load(target: str, where: str, entry_name: str | None, distribution: str | None) -> type[PluginMetric]:
    """Import ``module:Class``, build one, check its declared attributes; the checked plug-in's metric class."""
    module_name, _, attr = target.partition(":")
    at = f"{where}: " if where else ""
    if "" not in sys.path and "." not in sys.path:  # a module beside thresholds.yaml, as for user adapters
        sys.path.insert(0, "")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # ImportError, or whatever the module raises while it runs
        hint = (f"; a module of your own is imported from the folder you run from ({os.getcwd()}) or PYTHONPATH"
                if isinstance(exc, ModuleNotFoundError) and f"{module_name}.".startswith(f"{exc.name}.") else "")
        raise ConfigError(f"{at}cannot import '{module_name}' for metric plug-in '{target}': "
                          f"{type(exc).__name__}: {first_line(exc)}{hint}") from exc
    cls = getattr(module, attr, None)
    if not isinstance(cls, type):
        got = "nothing of that name" if cls is None else describe(cls)
        raise ConfigError(f"{at}metric plug-in '{target}': '{module_name}' has {got} as '{attr}'; expected a class")
    try:
        made = cls()
    except Exception as exc:
        raise ConfigError(f"{at}metric plug-in '{target}': {attr}() raised {type(exc).__name__}: "
                          f"{first_line(exc)}; expected a class built without arguments") from exc
    values = _checked(made, target, at)
    if values["name"] in METRICS or values["name"] == CONSISTENCY:  # consistency@P would be two metrics
        raise ConfigError(f"{at}metric plug-in '{target}' declares the name '{values['name']}' of a built-in metric; "
                          "a plug-in cannot replace one: give it another name")
    if entry_name is not None and values["name"] != entry_name:
        raise ConfigError(f"{at}metric plug-in '{target}' declares the name '{values['name']}'; expected its entry "
                          f"point's name '{entry_name}'")
    plugin = Plugin(values["name"], target, cls, distribution, entry_point=entry_name is not None)
    built = type(f"Plugin_{values['name']}", (PluginMetric,), {**values, "plugin": plugin})
    return cast(type[PluginMetric], built)


_REQUIRED: tuple[tuple[str, str], ...] = (
    ("name", "a metric name of letters, digits and '_' (results and reports name the metric by it)"),
    ("family", "a metric family"),
    ("needs", "a tuple of the sample fields it reads ('caption', 'references', 'tag:<key>', ...)"),
    ("columns", "a non-empty tuple of distinct column names, one per per-sample statistic"),
    ("higher_is_better", "True or False"),
    ("version", "an int or a non-empty string (bump it when the values change)"),
    ("per_sample", "a method per_sample(inputs, params) returning [n, len(columns)] rows"),
    ("aggregate", "a method aggregate(stats) reducing [..., n, k] statistics to [...]"),
)
_MISSING = object()
_OPTIONAL: Mapping[str, tuple[Any, str]] = {
    "params": ({}, "a mapping of parameter names to defaults (bool, int, float, str, a tuple of str, or None)"),
    "mean_sufficient": (False, "True or False"),
}


def _checked(made: Any, target: str, at: str) -> dict[str, Any]:
    """The declared attributes of ``made``, each checked; a ``ConfigError`` naming the first that is wrong."""
    from dataclasses import fields

    from qa_gate.golden.manifest import Sample

    def read(name: str, default: Any) -> Any:
        try:
            return getattr(made, name, default)
        except Exception as exc:  # a property's own code
            raise ConfigError(f"{at}metric plug-in '{target}': reading '{name}' raised {type(exc).__name__}: "
                              f"{first_line(exc)}") from exc

    values: dict[str, Any] = {}
    for name, expected in _REQUIRED:
        values[name] = read(name, _MISSING)
        if values[name] is _MISSING:
            raise ConfigError(f"{at}metric plug-in '{target}' has no attribute '{name}'; expected {expected}")
    for name, (default, _) in _OPTIONAL.items():
        values[name] = read(name, default)
    fields_known = {f.name for f in fields(Sample)}
    problems = {
        "name": not (isinstance(values["name"], str) and NAME.fullmatch(values["name"])),
        "needs": not (isinstance(values["needs"], (tuple, list)) and all(
            isinstance(n, str) and (n.startswith("tag:") or n in fields_known) for n in values["needs"])),
        "columns": not (isinstance(values["columns"], (tuple, list)) and values["columns"]
                        and all(isinstance(c, str) and c for c in values["columns"])
                        and len(set(values["columns"])) == len(values["columns"])),
        "higher_is_better": not isinstance(values["higher_is_better"], bool),
        "version": not ((isinstance(values["version"], int) and not isinstance(values["version"], bool))
                        or (isinstance(values["version"], str) and values["version"].strip())),
        "per_sample": not callable(values["per_sample"]),
        "aggregate": not callable(values["aggregate"]),
        "mean_sufficient": not isinstance(values["mean_sufficient"], bool),
        "params": not (isinstance(values["params"], Mapping) and all(
            isinstance(k, str) and NAME.fullmatch(k) and k not in (*RULE_KINDS, *RULE_SETTINGS, PLUGIN_KEY)
            and (v is None or isinstance(v, (bool, int, float, str)) or (isinstance(v, tuple) and v and all(
                isinstance(x, str) for x in v))) for k, v in values["params"].items())),
    }
    expected_of = {**dict(_REQUIRED), **{k: v[1] for k, v in _OPTIONAL.items()}}
    for name, wrong in problems.items():
        if wrong:
            extra = (f"; a sample field is one of {', '.join(sorted(fields_known))} or 'tag:<key>'" if name == "needs"
                     else f"; a parameter may not be named {', '.join((*RULE_KINDS, *RULE_SETTINGS, PLUGIN_KEY))}"
                     if name == "params" else "")
            raise ConfigError(f"{at}metric plug-in '{target}' has {name} = {describe(values[name])}; "
                              f"expected {expected_of[name]}{extra}")
    if not isinstance(values["family"], str):  # whether the table has it: config.entries (the table imports us)
        raise ConfigError(f"{at}metric plug-in '{target}' has family = {describe(values['family'])}; expected the "
                          "name of a metric family")
    return {"name": values["name"], "family": values["family"], "needs": tuple(values["needs"]),
            "columns": tuple(values["columns"]), "higher_is_better": values["higher_is_better"],
            "version": values["version"], "mean_sufficient": values["mean_sufficient"],
            "params": dict(values["params"])}
