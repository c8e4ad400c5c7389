"""Reading ``thresholds.yaml`` and checking its values, with messages that say where and what.

Every check takes a :class:`Where` (the file and key path, or a command-line
option) and raises a :class:`~qa_gate.errors.ConfigError` naming it, the bad value
and what was expected.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from qa_gate.config.model import (
    ADAPTERS,
    DEVICES,
    DTYPES,
    FLOOR_KINDS,
    MODES,
    RULE_KINDS,
    RULE_SETTINGS,
    USER_ADAPTER,
)
from qa_gate.errors import ConfigError, did_you_mean, one_of
from qa_gate.metrics.registry import get_metric


class _Missing:
    """The type of :data:`MISSING`."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()
"""Marks a key absent from the file (as opposed to present with a null value)."""


@dataclass(frozen=True)
class Where:
    """A place an error points at: ``file: key.path``, or a command-line option alone."""

    file: str | None
    path: str = ""

    def __truediv__(self, key: object) -> Where:
        return Where(self.file, f"{self.path}.{key}" if self.path else str(key))

    def __str__(self) -> str:
        return ": ".join(part for part in (self.file, self.path) if part)

    def error(self, message: str) -> ConfigError:
        """A ``ConfigError`` whose message starts with this place."""
        return ConfigError(f"{self}: {message}")


def describe(value: Any) -> str:
    """A short rendering of a bad value for an error message, in YAML terms."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    if isinstance(value, Mapping):
        return f"a mapping {text}"
    if isinstance(value, (list, tuple)):
        return f"a list {text}"
    if isinstance(value, (str, int, float)):
        return text
    return f"a {type(value).__name__} {text}"


class _Loader(yaml.SafeLoader):
    """``SafeLoader`` that rejects duplicate keys and reads ``1e-3`` as a number."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=deep)
            try:
                duplicate = key in seen
                seen.add(key)
            except TypeError:  # an unhashable key: the base class reports it
                continue
            if duplicate:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping", node.start_mark,
                    f"found duplicate key {key!r}", key_node.start_mark)
        return super().construct_mapping(node, deep=deep)


# YAML 1.1 reads ``1e-3`` (no dot) as a string; YAML 1.2 and users read it as a number.
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def read_yaml(path: Path, where: Where) -> dict[str, Any]:
    """The top-level mapping of the YAML file at ``path``; a ``ConfigError`` for any problem."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise where.error(f"file not found (looked for {Path(path).absolute()}); create it, or point to it "
                          "with --mm-thresholds PATH (pytest) or --thresholds PATH (mm-gate)") from None
    except IsADirectoryError:
        raise where.error("expected a YAML file, got a directory") from None
    except UnicodeDecodeError as exc:
        raise where.error(f"not valid UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise where.error(f"cannot read the file: {exc.strerror or exc}") from None
    try:
        data = yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        context = f" ({exc.context})" if exc.context else ""
        raise where.error(f"invalid YAML{at}: {exc.problem}{context}") from None
    except yaml.YAMLError as exc:
        raise where.error(f"invalid YAML: {exc}") from None
    if data is None:
        raise where.error("the file is empty; expected a mapping with 'version', 'model' and 'suites'")
    return mapping(data, where, "a mapping with 'version', 'model' and 'suites' at the top level")


def mapping(value: Any, where: Where, expected: str = "a mapping") -> dict[str, Any]:
    """``value`` as a dict with string keys."""
    if not isinstance(value, Mapping):
        raise where.error(f"expected {expected}, got {describe(value)}")
    for key in value:
        if not isinstance(key, str):
            raise (where / key).error(
                f"expected a string key, got {describe(key)} (quote it: '{key}')")
    return dict(value)


def check_keys(data: Mapping[str, Any], where: Where, allowed: Iterable[str]) -> None:
    """Reject any key of ``data`` not in ``allowed``, suggesting the closest one."""
    allowed = tuple(allowed)
    for key in data:
        if key not in allowed:
            raise (where / key).error(
                f"unknown key '{key}'{did_you_mean(key, allowed)}; "
                f"allowed keys: {', '.join(allowed)}")


def string(value: Any, where: Where, expected: str = "a non-empty string") -> str:
    """A non-empty string."""
    if not isinstance(value, str) or not value.strip():
        raise where.error(f"expected {expected}, got {describe(value)}")
    return value


def boolean(value: Any, where: Where) -> bool:
    """``true`` or ``false``."""
    if not isinstance(value, bool):
        raise where.error(f"expected true or false, got {describe(value)}")
    return value


def number(value: Any, where: Where, minimum: float | None = None) -> float:
    """A finite int or float (never a bool), at least ``minimum`` when given."""
    expected = "a number" if minimum is None else f"a number >= {minimum:g}"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise where.error(f"expected {expected}, got {describe(value)}")
    if not math.isfinite(value) or (minimum is not None and value < minimum):
        raise where.error(f"expected {'a finite number' if minimum is None else expected}, "
                          f"got {describe(value)}")
    return float(value)


def integer(value: Any, where: Where, minimum: int | None = None, from_text: bool = False) -> int:
    """An int (never a bool), at least ``minimum``; ``from_text`` also accepts ``"64"``."""
    expected = "an integer" if minimum is None else f"an integer >= {minimum}"
    got = value
    if from_text and isinstance(value, str):
        try:
            got = int(value.strip())
        except ValueError:
            raise where.error(f"expected {expected}, got {describe(value)}") from None
    if isinstance(got, bool) or not isinstance(got, int) or (minimum is not None and got < minimum):
        raise where.error(f"expected {expected}, got {describe(value)}")
    return got


def choice(value: Any, where: Where, choices: Iterable[str], expected: str) -> str:
    """One of ``choices``, suggesting the closest one otherwise."""
    choices = tuple(choices)
    if not isinstance(value, str) or value not in choices:
        hint = did_you_mean(value, choices) if isinstance(value, str) else ""
        raise where.error(f"expected {expected}, got {describe(value)}{hint}")
    return value


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


def flag(value: Any, where: Where, from_text: bool = False) -> bool:
    """``true`` or ``false``; ``from_text`` also accepts ``"true"``/``"false"``, ``"1"``/``"0"``,
    ``"yes"``/``"no"`` (an option set in an ini file arrives as text)."""
    if from_text and isinstance(value, str):
        words = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
        if value.strip().lower() in words:
            return words[value.strip().lower()]
    return boolean(value, where)


def confidence(value: Any, where: Where) -> float:
    """A confidence level strictly between 0.5 and 1 (``0.95``, not ``95``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.5 < value < 1:
        hint = " (a fraction: 0.95 for 95%)" if isinstance(value, (int, float)) and 50 < value < 100 else ""
        raise where.error(f"expected a number in (0.5, 1), got {describe(value)}{hint}")
    return float(value)


def git_ref(value: Any, where: Where) -> str:
    """A git revision (branch, tag, commit): no spaces or control characters, not an option."""
    expected = "a git ref (a branch, tag or commit, e.g. 'main' or 'origin/main')"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        raise where.error(f"expected {expected}, got the number {describe(value)} "
                          f"(quote a commit id that YAML reads as a number)")
    if not isinstance(value, str) or not value or re.search(r"[\s\x00-\x1f\x7f]", value):
        raise where.error(f"expected {expected}, got {describe(value)}")
    if value.startswith("-"):
        raise where.error(f"expected {expected}, got {describe(value)} (a ref cannot start with '-')")
    return value


def slice_name(name: str, where: Where) -> tuple[str, str]:
    """The tag key and value of a slice written ``key=value``."""
    key, equals, value = name.partition("=")
    if not equals or not key or not value or key != key.strip() or value != value.strip():
        hint = " (no spaces around '=')" if equals and key.strip() and value.strip() else ""
        raise where.error(f"expected a slice written 'key=value' (a tag key and one of its values, "
                          f"e.g. 'colour=red'), got {describe(name)}{hint}")
    return key, value


def mode(value: Any, where: Where) -> str:
    """A regression mode: one of :data:`MODES`."""
    return choice(value, where, MODES, one_of(MODES))


# --- the model section: each check takes the value, where it was written, and the folder
# --- relative paths resolve against (the file's, or the cwd for an option)


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
    "options": lambda v, w, b: MappingProxyType({} if v is None else mapping(v, w)),
})
"""The check for each key of the ``model`` section (and its command-line option)."""


# --- a metric entry (on a suite or a slice)


def metric_entry(name: str, raw: Any, where: Where, home: Where | None = None
                 ) -> tuple[dict[str, Any], list[tuple[str, float]], dict[str, Any]]:
    """Parameters (defaults filled), rules in file order and rule settings of one metric entry.

    ``home`` is set for a slice entry: the suite metric where its parameters belong.
    """
    metric = get_metric(name, where=str(where))
    body = {} if raw is None else mapping(
        raw, where, "a mapping of rules" if home else "a mapping of rules and parameters")
    params = dict(metric.params)
    rules: list[tuple[str, float]] = []
    settings: dict[str, Any] = {}
    rule_list, setting_list = ", ".join(RULE_KINDS), ", ".join(RULE_SETTINGS)
    for key, value in body.items():
        at = where / key
        if key in RULE_KINDS:
            rules.append((key, number(value, at, minimum=None if key in FLOOR_KINDS else 0.0)))
        elif key in RULE_SETTINGS:
            settings[key] = mode(value, at) if key == "mode" else confidence(value, at)
        elif home is not None and key in metric.params:
            raise at.error(f"'{key}' is a parameter of {name}; parameters belong on the suite metric "
                           f"({(home / key).path}) and its slices inherit them; a slice entry takes "
                           f"rules ({rule_list}) and rule settings ({setting_list})")
        elif home is not None:
            raise at.error(f"unknown rule '{key}'{did_you_mean(key, (*RULE_KINDS, *RULE_SETTINGS))}; "
                           f"a slice entry takes rules ({rule_list}) and rule settings ({setting_list})")
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
    return params, rules, settings
