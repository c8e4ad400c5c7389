"""A gated metric across the baseline's history: values for a Mermaid chart and an inline SVG.

Each earlier baseline on the target branch (oldest first) gives one point when it holds
the suite and the metric; the run under test is the last point, labelled ``this run``.
Labels end up inside a Mermaid block, so they are cut down to ``[A-Za-z0-9 ._:-]``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from qa_gate.baseline.changes import HistoryPoint
from qa_gate.results import SuiteResult

MAX_POINTS = 10
THIS_RUN = "this run"
LABEL_LIMIT = 24
SVG_WIDTH = 360
SVG_HEIGHT = 120
SVG_PAD = 12

_UNSAFE = re.compile(r"[^A-Za-z0-9 ._:-]+")


def mermaid_label(text: object, limit: int = LABEL_LIMIT) -> str:
    """``text`` reduced to ``[A-Za-z0-9 ._:-]``, at most ``limit`` characters.

    Whitespace runs become one space; any other character outside the set is dropped.
    """
    clean = " ".join(_UNSAFE.sub("", " ".join(str(text).split())).split())
    return clean[:limit].strip() or "?"


@dataclass(frozen=True)
class TrendPoint:
    """One value of a metric: which baseline (commit, date) or ``this run``."""

    label: str
    commit: str
    date: str
    value: float


@dataclass(frozen=True)
class Trend:
    """One metric of one suite over time, oldest first, the current run last."""

    suite_label: str
    metric: str
    points: tuple[TrendPoint, ...]

    def mermaid(self) -> str:
        """The body of a ```mermaid block: an ``xychart-beta`` line chart."""
        labels = ", ".join(f'"{mermaid_label(p.label)}"' for p in self.points)
        values = ", ".join(f"{p.value:.4f}" for p in self.points)
        return "\n".join(["xychart-beta", f"    x-axis [{labels}]",
                          f'    y-axis "{mermaid_label(self.metric, 60)}"', f"    line [{values}]"])

    def svg_points(self, width: int = SVG_WIDTH, height: int = SVG_HEIGHT,
                   pad: int = SVG_PAD) -> tuple[tuple[float, float], ...]:
        """Pixel coordinates of the points in a ``width`` × ``height`` box (y grows downwards)."""
        values = [p.value for p in self.points]
        low, high = min(values), max(values)
        span = high - low or 1.0
        step = (width - 2 * pad) / max(len(values) - 1, 1)
        return tuple((round(pad + i * step, 1), round(height - pad - (v - low) / span * (height - 2 * pad), 1))
                     for i, v in enumerate(values))

    @property
    def low(self) -> float:
        """The smallest value shown."""
        return min(p.value for p in self.points)

    @property
    def high(self) -> float:
        """The largest value shown."""
        return max(p.value for p in self.points)


def _value(suite: SuiteResult | None, metric: str) -> float | None:
    result = suite.metrics.get(metric) if suite is not None else None
    if result is None or not math.isfinite(result.value):
        return None
    return float(result.value)


def trend(history: Sequence[HistoryPoint], suite: SuiteResult, metric: str,
          limit: int = MAX_POINTS) -> Trend | None:
    """The last ``limit`` values of ``metric`` on ``suite``, or ``None`` with fewer than two."""
    points = []
    for point in history:
        value = _value(point.run.suite(suite.name), metric)
        if value is not None:
            points.append(TrendPoint(point.commit or point.date, point.commit, point.date, value))
    current = _value(suite, metric)
    if current is not None:
        points.append(TrendPoint(THIS_RUN, "", "", current))
    points = points[-limit:]
    if len(points) < 2:
        return None
    return Trend(suite.label, metric, tuple(points))


def trends(history: Sequence[HistoryPoint], suite: SuiteResult, metrics: Sequence[str]) -> tuple[Trend, ...]:
    """A trend per gated metric of ``suite`` that has at least one earlier value."""
    if not history:
        return ()
    found = (trend(history, suite, metric) for metric in metrics)
    return tuple(t for t in found if t is not None)
