"""``suites.X.perturbations``: named, deterministic changes of a suite's images or texts, and the metrics they add.

``perturbations: {jpeg_q30: {jpeg: 30}, blur2: {gaussian_blur: 2.0}}`` declares perturbations by the
user's name (the rules of suite and slice names), each one kind with its parameter. Every metric of
the suite except the efficiency ones is scored again under each perturbation as ``name@P`` (an image
perturbation re-scores every family; a text one the alignment and retrieval metrics, which read the
golden captions), plus ``consistency@P``: the share of samples whose prediction is unchanged. Their
params are the clean metric's with the perturbation's spec under ``perturbation``, so their
definitions never compare with the clean metric's and the bar sees a weakened perturbation.

``metrics:`` may give ``name@P`` and ``consistency@P`` rules (rules only: the parameters are the clean
metric's); a ``name@P`` without rules is still scored and reported. No torch here: the transforms
are in ``qa_gate.scoring.perturbations``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from qa_gate.config.model import MetricConfig, Perturbation
from qa_gate.config.values import Where, describe, mapping
from qa_gate.errors import did_you_mean, one_of
from qa_gate.metrics.consistency import PREDICTIONS
from qa_gate.metrics.registry import CONSISTENCY, base_metric, get_metric

NAME = re.compile(r"[A-Za-z0-9_.-]+")
PERTURBATION_KEY = "perturbation"
"""The params key of a perturbed metric that holds its perturbation's spec."""
TEXT_FAMILIES = ("alignment", "retrieval")
"""The families a text perturbation re-scores: the dual encoder matching images with the golden captions."""
UNPERTURBED_FAMILIES = ("efficiency",)
"""Families never re-scored under a perturbation (timings of the same model); nor are the shadow
``*_agreement`` families (the production model's outputs are of the clean inputs)."""


@dataclass(frozen=True)
class Kind:
    """One perturbation kind: which side it changes, its parameter's check and what the range reads."""

    side: str  # "image" or "text"
    check: Callable[[Any], bool]
    expected: str
    integer: bool = False
    words: tuple[str, ...] = ()
    seeded: bool = False
    """Whether it draws from ``gate.seed``; the others get seed 0, so the bootstrap's seed leaves them unchanged."""


def _number(low: float, high: float, *, low_open: bool = True, high_open: bool = False) -> Callable[[Any], bool]:
    def check(value: Any) -> bool:
        above = value > low if low_open else value >= low
        below = value < high if high_open else value <= high
        return above and below
    return check


KINDS: Mapping[str, Kind] = {
    "jpeg": Kind("image", _number(1, 95, low_open=False), "an integer quality in [1, 95]", integer=True),
    "gaussian_blur": Kind("image", _number(0, 100), "a sigma in (0, 100] pixels"),
    "gaussian_noise": Kind("image", _number(0, 1), "a standard deviation in (0, 1] on [0, 1] pixel values",
                           seeded=True),
    "center_crop": Kind("image", _number(0, 1, high_open=True), "a kept fraction of each side in (0, 1)"),
    "rotate": Kind("image", lambda v: 0 < abs(v) < 360, "degrees in (-360, 360), not 0"),
    "brightness": Kind("image", lambda v: v > 0 and v != 1, "a factor > 0, not 1 (1 is the original)"),
    "downscale": Kind("image", _number(0, 1, high_open=True), "a scale factor in (0, 1)"),
    "text_case": Kind("text", lambda v: False, "'lower' or 'upper'", words=("lower", "upper")),
    "text_punctuation": Kind("text", lambda v: False, "'strip'", words=("strip",)),
    "text_typo": Kind("text", _number(0, 0.5), "a rate in (0, 0.5]: the share of words given one typo",
                      seeded=True),
}
"""Every perturbation kind (``qa_gate.scoring.perturbations`` applies them)."""


def _value(kind: Kind, value: Any, where: Where) -> Any:
    if kind.words:
        if isinstance(value, str) and value in kind.words:
            return value
        hint = did_you_mean(value, kind.words) if isinstance(value, str) else ""
        raise where.error(f"expected {kind.expected}, got {describe(value)}{hint}")
    is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not is_number or not math.isfinite(value) or (kind.integer and not float(value).is_integer()) \
            or not kind.check(value):
        raise where.error(f"expected {kind.expected}, got {describe(value)}")
    return int(value) if kind.integer else float(value)


def parse_perturbations(raw: Any, where: Where, seed: int) -> tuple[Perturbation, ...]:
    """``suites.X.perturbations``: each name with exactly one kind and its checked parameter."""
    if raw is None:
        return ()
    out = []
    kinds = ", ".join(KINDS)
    for name, body in mapping(raw, where, "a mapping of perturbation names to {kind: value}").items():
        at = where / name
        if not NAME.fullmatch(name):
            raise at.error(f"expected a perturbation name of letters, digits, '_', '.' or '-', got {describe(name)}")
        entry = mapping(body, at, f"a mapping with one perturbation kind ({kinds}) and its value")
        if len(entry) != 1:
            raise at.error(f"expected exactly one perturbation kind ({kinds}) and its value, got {describe(body)}")
        (kind_name, value), = entry.items()
        kind = KINDS.get(kind_name)
        if kind is None:
            raise (at / kind_name).error(f"unknown perturbation kind '{kind_name}'{did_you_mean(kind_name, KINDS)}; "
                                         f"expected one of {one_of(KINDS)}")
        out.append(Perturbation(name, kind_name, _value(kind, value, at / kind_name), seed if kind.seeded else 0))
    return tuple(out)


def side(perturbation: Perturbation) -> str:
    """``image`` or ``text``: what the perturbation changes."""
    return KINDS[perturbation.kind].side


def perturbs(perturbation: Perturbation, metric: MetricConfig) -> bool:
    """Whether ``metric`` (a clean one) is scored again under ``perturbation``."""
    family = get_metric(metric.name).family_for(metric.params)
    if family in UNPERTURBED_FAMILIES or family.endswith("_agreement"):
        return False
    return side(perturbation) == "image" or family in TEXT_FAMILIES


Rules = Callable[[list[tuple[str, float]], Mapping[str, Any]], tuple[Any, ...]]
"""How the suite's gate settings turn ``(kind, value)`` pairs into rules (``load._Gate.rules``)."""
Parsed = Mapping[str, tuple[MetricConfig, dict[str, Any]]]


def perturbed_metrics(perturbations: tuple[Perturbation, ...], clean: Parsed, entries: Mapping[str, Any],
                      where: Where, suite: str, rules: Rules) -> dict[str, tuple[MetricConfig, dict[str, Any]]]:
    """Every ``name@P`` and ``consistency@P`` metric of the suite, with the rules ``entries`` (the ``metrics:``
    keys holding an ``@``, at ``where``: ``suites.X``) give them; each with its rule settings, as the clean
    ones are parsed. ``consistency@P`` compares the predictions of the first metric re-scored under P."""
    from qa_gate.config.entries import metric_entry

    declared = {p.name: p for p in perturbations}
    out: dict[str, tuple[MetricConfig, dict[str, Any]]] = {}
    for p in perturbations:
        ruled = [(m, s) for m, s in clean.values() if perturbs(p, m)]
        if not ruled:
            raise (where / "perturbations" / p.name).error(
                f"{'a text' if side(p) == 'text' else 'an image'} perturbation re-scores the suite's "
                f"{' and '.join(TEXT_FAMILIES) + ' metrics' if side(p) == 'text' else 'metrics but efficiency'}; "
                f"suite '{suite}' has none ({', '.join(clean)})")
        spec = p.spec()
        for metric, settings in ruled:
            params = MappingProxyType({**metric.params, PERTURBATION_KEY: spec})
            out[f"{metric.name}@{p.name}"] = (MetricConfig(f"{metric.name}@{p.name}", params), settings)
        predicted = [(m, s) for m, s in ruled if get_metric(m.name).family_for(m.params) in PREDICTIONS]
        if predicted:  # the first metric whose family has a prediction to compare
            first, settings = predicted[0]
            params = MappingProxyType({"of": first.name, **first.params, PERTURBATION_KEY: spec})
            out[f"{CONSISTENCY}@{p.name}"] = (MetricConfig(f"{CONSISTENCY}@{p.name}", params), settings)
    for key, body in entries.items():
        at = where / "metrics" / key
        base, name = base_metric(key)
        if name not in declared:
            known = f"its perturbations: {', '.join(declared)}" if declared else "it declares no 'perturbations'"
            raise at.error(f"'{name}' is not a perturbation of suite '{suite}'{did_you_mean(name or '', declared)}; "
                           f"{known}")
        if key not in out:
            if base == CONSISTENCY:
                raise at.error(f"no metric of suite '{suite}' scored under '{name}' has a prediction to compare; "
                               f"consistency compares those of the {', '.join(PREDICTIONS)} families")
            if base not in clean:
                known = ", ".join(m for m in (*clean, CONSISTENCY))
                raise at.error(f"'{base}' is not a metric of suite '{suite}'{did_you_mean(base, (*clean, CONSISTENCY))}"
                               f"; a perturbed metric gates one of the suite's own metrics: {known}")
            family = get_metric(base).family_for(clean[base][0].params)
            raise at.error(f"{base} ({family} family) is not scored under the {side(declared[name])} perturbation "
                           f"'{name}': efficiency and shadow agreement metrics never are, and a text perturbation "
                           f"re-scores {' and '.join(TEXT_FAMILIES)} metrics only")
        home = Where(None, f"suites.{suite}." + (f"metrics.{base}" if base in clean else f"perturbations.{name}"))
        config, inherited = out[key]
        _, found, settings = metric_entry(key, body, at, home)
        merged = {**inherited, **settings}
        out[key] = (MetricConfig(key, config.params, rules(found, merged)), merged)
    return out


def clean_entries(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """The ``metrics:`` entries of clean metrics (no ``@``), in file order."""
    return {k: v for k, v in metrics.items() if "@" not in k}


def add_perturbed(parsed: dict[str, tuple[MetricConfig, dict[str, Any]]], raw: Any, metrics: Mapping[str, Any],
                  where: Where, suite: str, seed: int, rules: Rules) -> tuple[Perturbation, ...]:
    """The suite's ``perturbations`` (``raw``, at ``where``: ``suites.X``, seeded ``seed``); every perturbed metric,
    with the rules its ``metrics:`` entry gives, added to ``parsed`` (the clean metrics, already parsed)."""
    perturbations = parse_perturbations(raw, where / "perturbations", seed)
    entries = {k: v for k, v in metrics.items() if "@" in k}
    parsed.update(perturbed_metrics(perturbations, dict(parsed), entries, where, suite, rules))
    return perturbations
