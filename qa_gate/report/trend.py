"""A gated metric across the baseline's history: values for a Mermaid chart and an inline SVG.

Each earlier baseline on the target branch (oldest first) gives one point when it holds
the suite and the metric; the run under test is the last point, labelled ``this run``.
Labels end up inside a Mermaid block, so they are cut down to ``[A-Za-z0-9 ._:-]``.

The y-axis is anchored to the metric's rules (a floor's threshold, the baseline less the
allowed drop), so a passing −0.003 stays a flat line near the top instead of a cliff.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from qa_gate.baseline.changes import HistoryPoint
from qa_gate.results import SuiteResult
from qa_gate.verdict.checks import Check

MAX_POINTS = 10
THIS_RUN = "this run"
LABEL_LIMIT = 24
SVG_WIDTH = 360
SVG_HEIGHT = 120
SVG_PAD = 12
AXIS_MARGIN = 0.1
"""The share of the y-axis span left free above and below the values and anchors."""

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
    anchors: tuple[float, ...] = ()
    """Values the y-axis must show: the rules' thresholds (a floor, the baseline less the allowed drop)."""

    def mermaid(self) -> str:
        """The body of a ```mermaid block: an ``xychart-beta`` line chart, its y-axis :attr:`low` to :attr:`high`."""
        labels = ", ".join(f'"{mermaid_label(p.label)}"' for p in self.points)
        values = ", ".join(f"{p.value:.4f}" for p in self.points)
        return "\n".join(["xychart-beta", f"    x-axis [{labels}]",
                          f'    y-axis "{mermaid_label(self.metric, 60)}" {self.low:.4f} --> {self.high:.4f}',
                          f"    line [{values}]"])

    def _y(self, value: float, height: int, pad: int) -> float:
        span = self.high - self.low or 1.0
        return round(height - pad - (value - self.low) / span * (height - 2 * pad), 1)

    def svg_points(self, width: int = SVG_WIDTH, height: int = SVG_HEIGHT,
                   pad: int = SVG_PAD) -> tuple[tuple[float, float], ...]:
        """Pixel coordinates of the points in a ``width`` × ``height`` box (y grows downwards)."""
        step = (width - 2 * pad) / max(len(self.points) - 1, 1)
        return tuple((round(pad + i * step, 1), self._y(p.value, height, pad)) for i, p in enumerate(self.points))

    def svg_anchors(self, height: int = SVG_HEIGHT, pad: int = SVG_PAD) -> tuple[tuple[float, float], ...]:
        """Each anchor (a rule's threshold) and its y pixel, for a dashed line across the chart."""
        return tuple((a, self._y(a, height, pad)) for a in self.anchors)

    @property
    def low(self) -> float:
        """The bottom of the y-axis: below every value and anchor, with a margin."""
        return self._range()[0]

    @property
    def high(self) -> float:
        """The top of the y-axis: above every value and anchor, with a margin."""
        return self._range()[1]

    def _range(self) -> tuple[float, float]:
        shown = [p.value for p in self.points] + list(self.anchors)
        low, high = min(shown), max(shown)
        margin = (high - low) * AXIS_MARGIN or max(abs(high) * AXIS_MARGIN, AXIS_MARGIN)
        return low - margin, high + margin


def rule_anchors(checks: Sequence[Check]) -> dict[str, tuple[float, ...]]:
    """What each metric's suite-level rules put on its y-axis: floors, the baseline less each allowed drop."""
    found: dict[str, list[float]] = {}
    for c in checks:
        if c.slice is not None or not math.isfinite(c.value):
            continue
        sign = 1.0 if c.higher_is_better else -1.0
        if c.rule.is_floor:
            found.setdefault(c.metric, []).append(float(c.rule.value))
        elif c.baseline is not None and math.isfinite(c.baseline):
            allowed = c.rule.value * abs(c.baseline) / 100.0 if c.rule.kind.endswith("_pct") else c.rule.value
            found.setdefault(c.metric, []).append(c.baseline - sign * allowed)
    return {metric: tuple(dict.fromkeys(values)) for metric, values in found.items()}


def _value(suite: SuiteResult | None, metric: str) -> float | None:
    result = suite.metrics.get(metric) if suite is not None else None
    if result is None or not math.isfinite(result.value):
        return None
    return float(result.value)


def trend(history: Sequence[HistoryPoint], suite: SuiteResult, metric: str,
          limit: int = MAX_POINTS, anchors: Sequence[float] = ()) -> Trend | None:
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
    return Trend(suite.label, metric, tuple(points), tuple(anchors))


def trends(history: Sequence[HistoryPoint], suite: SuiteResult, metrics: Sequence[str],
           anchors: Mapping[str, Sequence[float]] | None = None) -> tuple[Trend, ...]:
    """A trend per gated metric of ``suite`` that has at least one earlier value, anchored to its rules."""
    if not history:
        return ()
    found = (trend(history, suite, metric, anchors=(anchors or {}).get(metric, ())) for metric in metrics)
    return tuple(t for t in found if t is not None)
