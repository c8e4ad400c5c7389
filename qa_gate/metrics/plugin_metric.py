"""A user's metric class held to the metric contract while it runs: what it returns is checked where it returns it.

:class:`PluginMetric` wraps an instance of the user's class (``qa_gate.metrics.plugins`` builds one
subclass per plug-in, with the attributes the plug-in declared), so the runner, the verdict's bootstrap,
slices, flips and reports treat it as any built-in metric. Whatever the user's code raises becomes one
``ConfigError`` line naming the plug-in, the operation and the exception (a ``GateError`` passes as it is);
rows must be ``[n, len(columns)]`` and finite (the first bad sample is named); ``aggregate`` must reduce
``[..., n, k]`` to ``[...]`` (a bootstrap passes ``[b, n, k]``) and give finite values, on the full
sample, a slice and every resample alike.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

import numpy as np

from qa_gate.errors import ConfigError, GateError, first_line
from qa_gate.metrics.base import Metric

T = TypeVar("T")
PLUGIN_KEY = "plugin"
"""The key of a plug-in metric's config params that holds its ``module:Class``: a changed class is a changed
definition to the bar (``qa_gate.baseline.bar``); it is never passed to the user's code."""


@dataclass(frozen=True)
class Plugin:
    """A user metric class that passed the checks at config load, and where it came from."""

    name: str
    target: str
    """``package.module:Class``."""
    cls: type[Any]
    distribution: str | None = None
    """``"name version"`` of the installed distribution holding it, when it has one."""
    entry_point: bool = False
    """True when found through the ``qa_gate.metrics`` entry-point group, False when named inline."""


def own(params: Mapping[str, Any]) -> dict[str, Any]:
    """``params`` as the user's code sees them: without the plug-in's own ``module:Class``."""
    return {k: v for k, v in params.items() if k != PLUGIN_KEY}


class PluginMetric(Metric[Any]):
    """A built-in-looking metric whose work is done by an instance of the user's class (module docstring)."""

    plugin: ClassVar[Plugin]

    def __init__(self, where: str = "", sample_ids: Sequence[str] | None = None) -> None:
        self.where = where
        """Where it is used (``suite 'shapes'``), for messages."""
        self.sample_ids = None if sample_ids is None else tuple(sample_ids)
        """The suite's sample ids when it scores a suite: rows are checked against them."""
        self.user = self._call(f"{self.plugin.cls.__name__}()", self.plugin.cls)

    def _fault(self, text: str) -> ConfigError:
        at = f", {self.where}" if self.where else ""
        return ConfigError(f"metric plug-in '{self.plugin.name}' ({self.plugin.target}){at}: {text}")

    def _call(self, operation: str, call: Callable[[], T]) -> T:
        try:
            return call()
        except GateError:
            raise
        except Exception as exc:
            raise self._fault(f"{operation} raised {type(exc).__name__}: {first_line(exc)}") from exc

    def _method(self, name: str) -> Callable[..., Any] | None:
        found = self._call(f"its '{name}' attribute", lambda: getattr(self.user, name, None))
        return found if callable(found) else None

    def needs_for(self, params: Mapping[str, Any]) -> tuple[str, ...]:
        """The user's ``needs_for`` when it has one, else its ``needs`` formatted with ``params``."""
        method = self._method("needs_for")
        if method is None:
            return tuple(need.format(**own(params)) for need in self.needs)
        found = self._call("needs_for(params)", lambda: method(own(params)))
        if not isinstance(found, (list, tuple)) or not all(isinstance(n, str) for n in found):
            raise self._fault(f"needs_for returned {found!r}; expected a tuple of sample field names")
        return tuple(found)

    def _problem(self, name: str, *args: Any) -> str | None:
        method = self._method(name)
        if method is None:
            return None
        found = self._call(f"{name}(...)", lambda: method(*args))
        if found is not None and not isinstance(found, str):
            raise self._fault(f"{name} returned {found!r}; expected None or a string saying what is wrong")
        return found or None

    def check_params(self, params: Mapping[str, Any]) -> str | None:
        """The user's ``check_params``, when it has one."""
        return self._problem("check_params", own(params))

    def sample_problem(self, sample: Any, params: Mapping[str, Any]) -> str | None:
        """The user's ``sample_problem``, when it has one."""
        return self._problem("sample_problem", sample, own(params))

    def suite_problem(self, samples: Sequence[Any], params: Mapping[str, Any]) -> str | None:
        """The user's ``suite_problem``, when it has one."""
        return self._problem("suite_problem", samples, own(params))

    def definition(self, params: Mapping[str, Any], scorer: str) -> dict[str, Any]:
        """The user's definition (the base one when it has none) plus the class, its version and its distribution's."""
        method = self._method("definition")
        if method is None:
            found: Any = {"metric": self.name, "version": self.version, "scorer": scorer,
                          **{k: params.get(k, v) for k, v in self.params.items()}}
        else:
            found = self._call("definition(params, scorer)", lambda: method(own(params), scorer))
        if not isinstance(found, Mapping):
            raise self._fault(f"definition returned {type(found).__name__}; expected a mapping of plain JSON data")
        definition = {"metric": self.name, "version": self.version, **found, PLUGIN_KEY: self.plugin.target}
        if self.plugin.distribution is not None:
            definition["plugin_distribution"] = self.plugin.distribution
        return definition

    def per_sample(self, inputs: Any, params: Mapping[str, Any]) -> np.ndarray:
        """The user's rows, checked: ``[n, len(columns)]``, finite, and ``aggregate`` vectorised on them."""
        found = self._call("per_sample", lambda: self.user.per_sample(inputs, own(params)))
        try:
            stats = np.asarray(found, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise self._fault(f"per_sample returned {type(found).__name__} that is not numeric rows "
                              f"({first_line(exc)}); expected an [n, k] array") from exc
        n = len(self.sample_ids) if self.sample_ids is not None else (stats.shape[0] if stats.ndim else 0)
        expected = (n, len(self.columns))
        if stats.shape != expected:
            raise self._fault(f"per_sample returned rows of shape {list(stats.shape)}; expected [n, len(columns)] = "
                              f"{list(expected)} (one row per sample, one column per name in {self.columns!r})")
        bad = np.argwhere(~np.isfinite(stats))
        if len(bad):
            row, column = (int(i) for i in bad[0])
            sample = repr(self.sample_ids[row]) if self.sample_ids is not None else f"#{row}"
            raise self._fault(f"per_sample returned {stats[row, column]} for sample {sample} (column "
                              f"'{self.columns[column]}'; {len(bad)} non-finite value(s) in all); expected finite "
                              "statistics")
        self._check_vectorised(stats)
        return stats

    def _aggregated(self, stats: np.ndarray) -> np.ndarray:
        found = self._call(f"aggregate on {list(stats.shape)} statistics", lambda: self.user.aggregate(stats))
        try:
            return np.asarray(found, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise self._fault(f"aggregate returned {type(found).__name__}, not numbers ({first_line(exc)})") from exc

    def _check_vectorised(self, stats: np.ndarray) -> None:
        """``aggregate`` of the rows stacked twice (``[2, n, k]``) must be ``[2]``, the full-sample value twice."""
        value = self._aggregated(stats)
        twice = self._aggregated(np.stack([stats, stats]))
        if value.shape == () and twice.shape == (2,) and np.allclose(twice, value, equal_nan=True):
            if self.mean_sufficient:  # the bootstrap then aggregates each resample's [1, k] mean row
                mean = self._aggregated(stats.mean(axis=-2, keepdims=True))
                if mean.shape != () or not np.allclose(mean, value, equal_nan=True):
                    raise self._fault(
                        f"declares mean_sufficient = True, but aggregate of the mean row ([1, {stats.shape[1]}] "
                        f"statistics) gives {np.round(mean, 6).tolist()} where the rows give "
                        f"{np.round(value, 6).tolist()}; expected the same value (a mean, or a ratio of sums), or "
                        "set mean_sufficient = False")
            return
        raise self._fault(f"aggregate is not vectorised over leading axes: the rows stacked twice "
                          f"({[2, *stats.shape]} statistics) gave shape {list(twice.shape)} "
                          f"({np.round(twice, 6).tolist()}) where the rows alone give {np.round(value, 6).tolist()} "
                          f"(shape {list(value.shape)}); expected shape [2] holding that value "
                          "twice: reduce over axis -2 (the samples) and keep the leading axes, as the bootstrap "
                          "passes [b, n, k] and expects [b]")

    def aggregate(self, stats: np.ndarray) -> np.ndarray:
        """The user's aggregate over ``[..., n, k]``, checked to be ``[...]`` and finite."""
        stats = np.asarray(stats, dtype=np.float64)
        values = self._aggregated(stats)
        if values.shape != stats.shape[:-2]:
            raise self._fault(f"aggregate returned shape {list(values.shape)} for {list(stats.shape)} statistics; "
                              f"expected {list(stats.shape[:-2])}: reduce over axis -2 (the samples) and keep the "
                              "leading axes (a bootstrap passes [b, n, k] and expects [b])")
        bad = ~np.isfinite(values)
        if bad.any():
            first = float(values[bad][0]) if values.ndim else float(values)
            what = (f"{int(bad.sum())} of {values.size} bootstrap resamples ({list(stats.shape)} statistics)"
                    if values.ndim else f"the {list(stats.shape)} rows")
            raise self._fault(f"aggregate returned {first} for {what}; expected a finite value for any selection "
                              "of rows (guard a division by a count that a resample or slice can make zero)")
        return values

    def sample_values(self, stats: np.ndarray) -> np.ndarray:
        """The user's ``sample_values`` when it has one, else the first column; one finite value per row."""
        method = self._method("sample_values")
        found = stats[:, 0] if method is None else self._call("sample_values", lambda: method(stats))
        values = np.asarray(found, dtype=np.float64)
        if values.shape != (len(stats),):
            raise self._fault(f"sample_values returned shape {list(values.shape)}; expected [{len(stats)}]")
        return values
