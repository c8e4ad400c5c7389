"""Reading ``thresholds.yaml`` and checking its values, with messages that say where and what.

``load_yaml`` reads qa_gate's one YAML dialect (YAML 1.2 words; ``YamlLoader``, libyaml's C parser where
available, the pure-Python ``PureYamlLoader`` otherwise and for error messages); golden manifests are read in it too.

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

from qa_gate.config.model import (
    MODES,
)
from qa_gate.errors import ConfigError, did_you_mean, one_of


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


def _construct_mapping(self: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    """The mapping, refusing a key given twice: the same text (``1`` and ``'1'``) or the same value."""
    seen: dict[tuple[str, Any], yaml.Node] = {}
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        names: list[tuple[str, Any]] = [("text", key_node.value)] if isinstance(key_node, yaml.ScalarNode) else []
        key = self.construct_object(key_node, deep=deep)
        try:
            hash(key)
            names.append(("value", key))
        except TypeError:  # an unhashable key: the base class reports it
            pass
        first = next((seen[name] for name in names if name in seen), None)
        if first is not None:
            shown = key_node.value if isinstance(key_node, yaml.ScalarNode) else key
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {shown!r} (first given at line {first.start_mark.line + 1})",
                key_node.start_mark)
        for name in names:
            seen.setdefault(name, key_node)
    return yaml.constructor.SafeConstructor.construct_mapping(self, node, deep=deep)


class PureYamlLoader(yaml.SafeLoader):
    """The one YAML dialect of qa_gate's files (``thresholds.yaml``, golden manifests), in pure Python.

    PyYAML's ``SafeLoader`` (YAML 1.1) with YAML 1.2's words: only ``true`` and ``false``
    (also ``True``/``TRUE``, ``False``/``FALSE``) are booleans, so ``yes``, ``no``, ``on`` and
    ``off`` stay text (a VQA answer ``yes`` is the word); ``1e-3`` is a number; and a key
    given twice in one mapping is refused (plain ``safe_load`` keeps the last silently).
    ``SafeLoader`` itself is left as it is. Read files with :func:`load_yaml`.
    """

    construct_mapping = _construct_mapping


_BOOL = "tag:yaml.org,2002:bool"


def _yaml_1_2_words(loader: Any) -> Any:
    """``loader`` with the resolver table copied without YAML 1.1's booleans (y, yes, on, off, ...) and
    with ``1e-3`` (no dot; a string in YAML 1.1) read as a number, as YAML 1.2 and users read it."""
    loader.yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != _BOOL]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}
    loader.add_implicit_resolver(_BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
    loader.add_implicit_resolver(
        "tag:yaml.org,2002:float",
        re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
        list("-+0123456789"),
    )
    return loader


_yaml_1_2_words(PureYamlLoader)
YamlLoader: Any = PureYamlLoader
"""The dialect at C speed where PyYAML has libyaml: its C parser with the same Python constructors and
resolvers (``CSafeLoader`` subclass), so every word rule holds; else :class:`PureYamlLoader`."""
if getattr(yaml, "__with_libyaml__", False):
    YamlLoader = _yaml_1_2_words(type("YamlLoader", (yaml.CSafeLoader,), {
        "construct_mapping": _construct_mapping, "__doc__": PureYamlLoader.__doc__}))


def load_yaml(text: str, fast: Any = None, pure: Any = PureYamlLoader) -> Any:
    """The YAML document ``text`` read with ``fast`` (by default :data:`YamlLoader`, C where available).

    When ``fast`` refuses it, ``pure`` (the pure-Python loader of the same dialect) reads it again,
    so a refused document gets the pure parser's message and position, as before the C loader;
    errors are rare, so reading twice then costs nothing in a normal run.
    """
    fast = YamlLoader if fast is None else fast
    try:
        return yaml.load(text, Loader=fast)  # a SafeLoader or CSafeLoader subclass
    except yaml.YAMLError:
        if fast is pure:
            raise
    return yaml.load(text, Loader=pure)  # a SafeLoader subclass


_YAML_11_BOOLEANS = frozenset({"y", "yes", "n", "no", "on", "off"})


def read_yaml(path: Path, where: Where, content: bytes | None = None) -> dict[str, Any]:
    """The top-level mapping of the YAML file at ``path`` (or of its ``content`` as read elsewhere, e.g. from a
    git object); a ``ConfigError`` for any problem."""
    try:
        text = Path(path).read_text(encoding="utf-8") if content is None else content.decode("utf-8")
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
        data = load_yaml(text)
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
    """``true`` or ``false``; a YAML 1.1 word (``yes``, ``off``) is text here and gets a hint."""
    if not isinstance(value, bool):
        hint = (" (qa_gate reads YAML 1.2: only true and false are booleans, yes/no/on/off are text)"
                if isinstance(value, str) and value.strip().lower() in _YAML_11_BOOLEANS else "")
        raise where.error(f"expected true or false, got {describe(value)}{hint}")
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


# --- a metric entry (on a suite or a slice)


