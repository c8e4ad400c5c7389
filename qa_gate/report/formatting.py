"""Numbers and rules as the report shows them: fixed decimals, a real minus sign, ``—`` for nothing.

Shared by the Markdown and the HTML report, so both show the same strings.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from qa_gate.config.model import Rule
from qa_gate.verdict.stats import DropEstimate

MISSING = "—"
MINUS = "−"


def format_number(value: float | None) -> str:
    """Four decimals, ``—`` for ``None``."""
    if value is None:
        return MISSING
    if not math.isfinite(value):
        return str(value)
    return f"{value:.4f}"


def format_value(value: float | None, unit: str = "") -> str:
    """Four decimals with a real minus sign and ``unit`` appended (``−0.0050%``); ``—`` for ``None``."""
    if value is None:
        return MISSING
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return ("" if value > 0 else MINUS) + "inf" + unit
    text = f"{value:.4f}"
    if text.startswith("-"):
        text = MINUS + text[1:] if text.strip("-0.") else text[1:]  # -0.0000 reads as 0.0000
    return text + unit


def format_delta(value: float | None) -> str:
    """Signed to four decimals (``+0.0123``, ``−0.0456``, ``±0.0000``), ``—`` for ``None``."""
    if value is None:
        return MISSING
    if math.isnan(value):
        return "nan"
    if value != 0 and round(abs(value), 4) == 0 and math.isfinite(value):
        value = 0.0
    if value == 0:
        return "±0.0000"
    sign = "+" if value > 0 else MINUS
    return f"{sign}{abs(value):.4f}" if math.isfinite(value) else f"{sign}inf"


def format_percent(confidence: float) -> str:
    """``0.95`` as ``95%``, ``0.975`` as ``97.5%``."""
    return f"{confidence * 100:.6g}%"


def format_interval(delta: float | None, low: float | None, high: float | None) -> str:
    """A signed delta and its interval when known: ``−0.0450 [−0.0700, −0.0200]``."""
    if delta is None or low is None or high is None:
        return format_delta(delta)
    return f"{format_delta(delta)} [{format_delta(low)}, {format_delta(high)}]"


def rule_unit(rule: Rule) -> str:
    """``%`` for relative rules (``max_drop_pct``), else nothing."""
    return "%" if rule.kind.endswith("_pct") else ""


def format_rule(rule: Rule) -> str:
    """``min ≥ 0.85``, ``max ≤ 0.3``, ``max_drop 0.02 (significant)``, ``max_drop_pct 5% (strict)``."""
    if rule.kind == "min":
        return f"min ≥ {rule.value:g}"
    if rule.kind == "max":
        return f"max ≤ {rule.value:g}"
    return f"{rule.kind} {rule.value:g}{rule_unit(rule)} ({rule.mode})"


def format_drop(estimate: DropEstimate | None, unit: str = "") -> str:
    """The oriented drop with its one-sided bounds: ``0.0123 [0.0050, 0.0190] @95%``; ``—`` without one."""
    if estimate is None:
        return MISSING
    return (f"{format_value(estimate.drop, unit)} [{format_value(estimate.low, unit)}, "
            f"{format_value(estimate.high, unit)}] @{format_percent(estimate.confidence)}")


def format_detectable(estimate: DropEstimate | None, unit: str = "") -> str:
    """The smallest drop the suite tells from noise; ``—`` without an estimate or when undefined."""
    if estimate is None or not math.isfinite(estimate.min_detectable):
        return MISSING
    return format_value(estimate.min_detectable, unit)


def format_definition(definition: Mapping[str, Any]) -> str:
    """``key=value, …`` in key order, values as JSON (``prefix="A photo depicts "``)."""
    return ", ".join(f"{key}={json.dumps(definition[key], sort_keys=True, ensure_ascii=False, default=str)}"
                     for key in sorted(definition, key=str))
