"""The registry of metric names: lazy ``module:attr`` entries, did-you-mean errors."""

from __future__ import annotations

from qa_gate.metrics.base import Metric
from qa_gate.metrics.builtin import CONSISTENCY, METRICS

__all__ = ["CONSISTENCY", "METRICS", "base_metric", "get_metric", "metric_names"]




def metric_names() -> tuple[str, ...]:
    """Every registered metric name, built-in and plug-in, sorted."""
    from qa_gate.metrics.plugins import plugin_names  # entry points are read, not imported

    return tuple(sorted({*METRICS.names(), *plugin_names()}))




def base_metric(name: str) -> tuple[str, str | None]:
    """``clipscore@jpeg_q30`` -> ``("clipscore", "jpeg_q30")``: a metric scored under a perturbation
    (``qa_gate.config.perturbations``) and its perturbation's name; ``(name, None)`` for a clean metric."""
    base, at, perturbation = name.partition("@")
    return (base, perturbation) if at else (name, None)


def get_metric(name: str, where: str = "") -> Metric:
    """The metric registered as ``name`` (``name@P``: its base metric); a ``ConfigError`` naming ``where`` otherwise."""
    base, perturbation = base_metric(name)
    if perturbation is not None and base == CONSISTENCY:
        from qa_gate.metrics.consistency import Consistency

        return Consistency(get_metric)
    if base not in METRICS:  # a user's plug-in (``qa_gate.metrics.plugins``), or the unknown-metric error
        from qa_gate.metrics.plugins import plugin_metric

        return plugin_metric(base, where)
    return METRICS.get(base, where)()
