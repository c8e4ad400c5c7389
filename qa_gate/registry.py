"""Named things resolved lazily from ``"module:attr"`` entries, and optional backends imported with a hint.

One :class:`Registry` type serves every registry in the package (metrics, adapters): an
entry is imported only when it is asked for, an unknown name is the caller's error type
at the caller's location with a "did you mean", and a registry can name an entry-point
group through which installed packages add their own entries (read on first use).
"""

from __future__ import annotations

import importlib
import importlib.metadata
from collections.abc import Mapping
from types import ModuleType
from typing import Any, Generic, TypeVar, cast

from qa_gate.errors import AdapterError, GateError, did_you_mean

T = TypeVar("T")


def resolve(target: str) -> Any:
    """The object ``"module:attr"`` names, importing its module."""
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


class Registry(Generic[T]):
    """Names mapped to ``"module:attr"`` targets, each imported on first request and kept.

    ``kind`` names an entry in messages ("metric"), ``kinds`` the plural ("metrics");
    ``error`` is the ``GateError`` subclass an unknown name raises. ``group``, when given,
    is an entry-point group (``importlib.metadata``) whose entries join the built-in ones
    the first time a name is looked up; a built-in name always wins.
    """

    def __init__(self, kind: str, entries: Mapping[str, str], error: type[GateError], *,
                 kinds: str | None = None, group: str | None = None) -> None:
        self.kind, self.kinds, self.error, self.group = kind, kinds or f"{kind}s", error, group
        self._entries: dict[str, str] = dict(entries)
        self._loaded: dict[str, T] = {}
        self._grouped = group is None

    def names(self) -> tuple[str, ...]:
        """Every registered name, sorted."""
        return tuple(sorted(self._targets()))

    def __contains__(self, name: object) -> bool:
        return name in self._targets()

    def target(self, name: str) -> str:
        """The ``"module:attr"`` that ``name`` is registered as, without importing it."""
        return self._targets()[name]

    def get(self, name: str, where: str = "") -> T:
        """The object registered as ``name``; the registry's error, prefixed with ``where``, otherwise."""
        if name in self._loaded:
            return self._loaded[name]
        targets = self._targets()
        if name not in targets:
            prefix = f"{where}: " if where else ""
            raise self.error(f"{prefix}unknown {self.kind} '{name}'{did_you_mean(name, targets)}; "
                             f"known {self.kinds}: {', '.join(self.names())}")
        found = cast(T, resolve(targets[name]))
        self._loaded[name] = found
        return found

    def _targets(self) -> dict[str, str]:
        if not self._grouped:
            self._grouped = True
            for point in importlib.metadata.entry_points(group=cast(str, self.group)):
                self._entries.setdefault(point.name, point.value)
        return self._entries


def import_backend(module: str, package: str) -> ModuleType:
    """Import an optional backend, or fail with the command that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise AdapterError(
            f"the '{module}' backend is not installed ({exc}); install it with: pip install {package}"
        ) from None
