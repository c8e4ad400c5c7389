"""Reading ``thresholds.yaml`` and checking its values, with messages that say where and what.

Every check takes a :class:`Where` (the file and key path, or a command-line
option) and raises a :class:`~qa_gate.errors.ConfigError` naming it, the bad value
and what was expected.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from qa_gate.errors import ConfigError, did_you_mean


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
        raise where.error("file not found") from None
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
    if not isinstance(value, type(default)):
        raise where.error(f"expected a {type(default).__name__}, got {describe(value)}")
    return value
