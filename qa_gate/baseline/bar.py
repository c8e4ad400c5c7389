"""The bar a branch is judged by: the target branch's rules, with the branch's own only where they are stricter.

:func:`merge_bar` compares the rules of ``thresholds.yaml`` as committed on the target branch
(at the merge-base) with the branch's own, rule by rule. New suites, metrics and rules and
tighter rules apply in addition (a branch may raise its own bar). Anything that could lower
it (a looser or removed rule, a removed or renamed suite or metric, changed metric
parameters, a changed ``baseline``, ``gate``, ``golden`` or ``scorer`` section) is a
:class:`BarChange`, and the target branch's version applies unless the change is accepted.
Pure: no git, no files.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from qa_gate.config.model import (
    GateConfig,
    MetricConfig,
    ModelConfig,
    Perturbation,
    Rule,
    ShadowConfig,
    SliceConfig,
    SuiteConfig,
)
from qa_gate.metrics.registry import base_metric


@dataclass(frozen=True)
class BarChange:
    """One way the branch's bar differs from the target branch's: where, old → new, and why it matters."""

    where: str  # "suites.shapes.metrics.clipscore.max_drop", "baseline.ref", "suites.hard"
    old: str
    new: str
    why: str  # "looser", "removed", "changed", ...

    def line(self) -> str:
        """``suites.shapes.metrics.clipscore.max_drop: 0.02 (significant, 95%) → 5 (significant, 95%) (looser)``."""
        return f"{self.where}: {self.old} → {self.new} ({self.why})"


def show_rule(rule: Rule | None) -> str:
    """A rule as the report shows it: ``min 0.85``, ``max_drop 0.02 (significant, 95%)``; ``absent``."""
    if rule is None:
        return "absent"
    if rule.is_floor:
        return f"{rule.kind} {rule.value:g}"
    return f"{rule.kind} {rule.value:g} ({rule.mode}, {rule.confidence:.0%})"


def at_least_as_strict(new: Rule, old: Rule) -> bool:
    """True when ``new`` fails every run ``old`` fails.

    A floor is stricter with a higher ``min`` or a lower ``max``. A regression rule is stricter
    with a smaller allowance and a judgement that needs less evidence to fail: ``strict`` (passes
    only when shown within the allowance) is at least as strict as ``significant`` (fails only when
    shown beyond it); a lower confidence fails sooner in ``significant`` mode, a higher one passes
    later in ``strict`` mode.
    """
    if new.kind != old.kind:
        return False
    if new.kind == "min":
        return new.value >= old.value
    if new.kind == "max":
        return new.value <= old.value
    if new.value > old.value:
        return False
    if new.mode != old.mode:
        return new.mode == "strict"
    return new.confidence <= old.confidence if new.mode == "significant" else new.confidence >= old.confidence


@dataclass(frozen=True)
class Merged:
    """The bar a run applies and how the branch's own bar differs from the target branch's."""

    config: GateConfig
    changes: tuple[BarChange, ...]
    kept_suites: frozenset[str] = frozenset()
    """Suites the branch removed or renamed that the run still gates (from the target branch's file)."""


def merge_bar(target: GateConfig, branch: GateConfig) -> Merged:
    """The config a branch is judged by: ``branch`` for the model and outputs, ``target``'s rules where the
    branch's would be looser or are gone, the branch's where they are new or stricter."""
    changes: list[BarChange] = []
    suites: list[SuiteConfig] = []
    by_name = {s.name: s for s in branch.suites}
    kept: set[str] = set()
    for old in target.suites:
        new = by_name.get(old.name)
        if new is None:
            renamed = [s.name for s in branch.suites if s.path == old.path and s.name not in _names(target.suites)]
            why = f"renamed to {', '.join(renamed)}" if renamed else "removed"
            changes.append(BarChange(f"suites.{old.name}", _suite_text(old), "absent", why))
            suites.append(old)
            kept.add(old.name)
            continue
        suites.append(_merge_suite(old, new, changes))
    suites.extend(s for s in branch.suites if s.name not in _names(target.suites))
    settings = _settings(target, branch, changes)
    config = replace(branch, suites=tuple(suites), **settings)
    return Merged(config, tuple(changes), frozenset(kept))


def _names(suites: Iterable[SuiteConfig]) -> set[str]:
    return {s.name for s in suites}


def _suite_text(suite: SuiteConfig) -> str:
    rules = sum(len(m.rules) for m in suite.metrics) + sum(len(m.rules) for s in suite.slices for m in s.metrics)
    return f"{suite.label} with {len(suite.metrics)} metric(s), {rules} rule(s)"


def _merge_suite(old: SuiteConfig, new: SuiteConfig, changes: list[BarChange]) -> SuiteConfig:
    at = f"suites.{old.name}"
    path = old.path
    if new.path != old.path:
        changes.append(BarChange(f"{at}.path", old.label, new.label, "changed: another golden folder"))
    new = replace(new, shadow=_merge_shadow(at, old, new, changes))
    perturbations, lowered = _merge_perturbations(at, old.perturbations, new.perturbations, changes)
    before = len(changes)
    metrics = _merge_metrics(at + ".metrics", old.metrics, new.metrics, changes, check_params=True)
    params = {m.name: m.params for m in metrics}
    slices: list[SliceConfig] = []
    new_slices = {s.slice: s for s in new.slices}
    for old_slice in old.slices:
        new_slice = new_slices.get(old_slice.slice)
        where = f"{at}.slices.{old_slice.slice}"
        if new_slice is None:
            changes.append(BarChange(where, f"{sum(len(m.rules) for m in old_slice.metrics)} rule(s)", "absent",
                                     "removed"))
            slices.append(old_slice)
            continue
        merged = _merge_metrics(where, old_slice.metrics, new_slice.metrics, changes, check_params=False)
        slices.append(replace(old_slice, metrics=_with_params(merged, params)))
    slices.extend(replace(s, metrics=_with_params(s.metrics, params))
                  for s in new.slices if s.slice not in {o.slice for o in old.slices})
    # a perturbation's own line says it all: not one more per metric scored under it
    under = [f".{m.name}" for m in old.metrics if base_metric(m.name)[1] in lowered]
    changes[before:] = [c for c in changes[before:] if not any(_names_metric(c.where, m) for m in under)]
    return replace(new, path=path, label=old.label, metrics=tuple(metrics), slices=tuple(slices),
                   perturbations=perturbations)


def _show_perturbation(perturbation: Perturbation | None) -> str:
    return "absent" if perturbation is None else f"{perturbation.kind} {perturbation.value}"


def _merge_perturbations(at: str, old: Iterable[Perturbation], new: Iterable[Perturbation],
                         changes: list[BarChange]) -> tuple[tuple[Perturbation, ...], set[str]]:
    """The target's perturbations where the branch removed or changed them (a bar change each), the branch's
    new ones beside them; and the names of those the branch lowered."""
    new_by_name = {p.name: p for p in new}
    out, lowered = [], set()
    for old_p in old:
        new_p = new_by_name.pop(old_p.name, None)
        if new_p != old_p:
            why = "removed" if new_p is None else "changed: another perturbation"
            changes.append(BarChange(f"{at}.perturbations.{old_p.name}", _show_perturbation(old_p),
                                     _show_perturbation(new_p), why))
            lowered.add(old_p.name)
        out.append(old_p)
    return (*out, *new_by_name.values()), lowered


def _names_metric(where: str, dotted: str) -> bool:
    """Whether the place ``where`` is the metric ``dotted`` (``.clipscore@P``) or one of its rules or parameters."""
    return where.endswith(dotted) or f"{dotted}." in where or f"{dotted} " in where


def _merge_shadow(at: str, old: SuiteConfig, new: SuiteConfig, changes: list[BarChange]) -> ShadowConfig | None:
    """The target's shadow reference where the branch moved or removed it (a bar change), else the branch's."""
    if old.shadow is None or new.shadow == old.shadow:
        return new.shadow
    changes.append(BarChange(f"{at}.shadow.reference", old.shadow.label, new.shadow.label if new.shadow else "absent",
                             "changed: another production reference"))
    return old.shadow


def _with_params(metrics: Iterable[MetricConfig], params: Mapping[str, Mapping[str, Any]]) -> tuple[MetricConfig, ...]:
    """Slice metrics take the suite metric's parameters (the applied ones)."""
    return tuple(replace(m, params=params.get(m.name, m.params)) for m in metrics)


def _merge_metrics(at: str, old: Iterable[MetricConfig], new: Iterable[MetricConfig], changes: list[BarChange],
                   *, check_params: bool) -> list[MetricConfig]:
    out: list[MetricConfig] = []
    new_by_name = {m.name: m for m in new}
    old_names = set()
    for old_metric in old:
        old_names.add(old_metric.name)
        where = f"{at}.{old_metric.name}"
        new_metric = new_by_name.get(old_metric.name)
        if new_metric is None:
            rules = ", ".join(map(show_rule, old_metric.rules)) or "no rules"
            changes.append(BarChange(where, rules, "absent", "removed"))
            out.append(old_metric)
            continue
        if check_params and dict(new_metric.params) != dict(old_metric.params):
            changes.append(BarChange(f"{where} parameters", _params(old_metric.params), _params(new_metric.params),
                                     "changed: another metric definition"))
            out.append(old_metric)
            continue
        out.append(replace(new_metric, rules=_merge_rules(where, old_metric.rules, new_metric.rules, changes)))
    out.extend(m for m in new if m.name not in old_names)
    return out


def _params(params: Mapping[str, Any]) -> str:
    return "{" + ", ".join(f"{k}: {v!r}" for k, v in sorted(params.items())) + "}" if params else "defaults"


def _merge_rules(at: str, old: Iterable[Rule], new: Iterable[Rule], changes: list[BarChange]) -> tuple[Rule, ...]:
    out: list[Rule] = []
    new_by_kind = {r.kind: r for r in new}
    for old_rule in old:
        new_rule = new_by_kind.pop(old_rule.kind, None)
        if new_rule is None:
            changes.append(BarChange(f"{at}.{old_rule.kind}", show_rule(old_rule), "absent", "removed"))
            out.append(old_rule)
        elif at_least_as_strict(new_rule, old_rule):
            out.append(new_rule)
        else:
            changes.append(BarChange(f"{at}.{old_rule.kind}", show_rule(old_rule), show_rule(new_rule), "looser"))
            out.append(old_rule)
    out.extend(new_by_kind.values())
    return tuple(out)


def _settings(target: GateConfig, branch: GateConfig, changes: list[BarChange]) -> dict[str, Any]:
    """The sections beside the suites that set the bar: the target's wherever the branch's differ (or are looser)."""
    applied: dict[str, Any] = {}
    rows: list[tuple[str, str, Callable[[Any], str], Callable[[Any, Any], bool]]] = [
        ("baseline.path", "baseline_path", lambda path: _path(path, target.source.parent), _same),
        ("baseline.ref", "baseline_ref", _text, _same),
        ("gate.resamples", "resamples", _text, _same),
        ("gate.seed", "seed", _text, _same),
        ("gate.missing_baseline", "missing_baseline", _text, lambda new, old: new == old or new == "fail"),
        ("golden.max_pixels", "max_pixels", _text, lambda new, old: new <= old),
        ("scorer", "scorer", _model, _same),
    ]
    for where, name, show, ok in rows:
        old, new = getattr(target, name), getattr(branch, name)
        if ok(new, old):
            continue
        why = _WHY.get(where.split(".")[0], "looser" if name in ("missing_baseline", "max_pixels") else "changed")
        changes.append(BarChange(where, show(old), show(new), why))
        applied[name] = old
    if "missing_baseline" in applied:
        applied["missing_baseline_why"] = target.missing_baseline_why
    return applied


_WHY = {"baseline": "changed: another baseline", "scorer": "changed: another scorer"}


def _same(new: Any, old: Any) -> bool:
    return bool(new == old)


def _text(value: Any) -> str:
    return "unset" if value is None else str(value)


def _path(value: Path | None, base: Path) -> str:
    if value is None:
        return "unset"
    try:
        return Path(os.path.relpath(value, base)).as_posix()
    except ValueError:  # another drive on Windows
        return str(value)


def _model(value: ModelConfig | None) -> str:
    return "none" if value is None else f"{value.adapter} {value.checkpoint}"
