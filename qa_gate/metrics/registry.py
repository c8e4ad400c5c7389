"""The registry of metric names: lazy entries, did-you-mean errors."""

from __future__ import annotations

import importlib

from qa_gate.errors import ConfigError, did_you_mean
from qa_gate.metrics.base import Metric

_ENTRIES: dict[str, str] = {
    "clipscore": "qa_gate.metrics.clip:CLIPScore",
    "refclipscore": "qa_gate.metrics.clip:RefCLIPScore",
    "cosine": "qa_gate.metrics.clip:Cosine",
}


def metric_names() -> tuple[str, ...]:
    """Every registered metric name, sorted."""
    return tuple(sorted(_ENTRIES))


def get_metric(name: str, where: str = "") -> Metric:
    """The metric registered as ``name``; a ``ConfigError`` naming ``where`` otherwise."""
    try:
        target = _ENTRIES[name]
    except KeyError:
        prefix = f"{where}: " if where else ""
        raise ConfigError(
            f"{prefix}unknown metric '{name}'{did_you_mean(name, _ENTRIES)}; "
            f"known metrics: {', '.join(metric_names())}"
        ) from None
    module, attr = target.split(":")
    cls = getattr(importlib.import_module(module), attr)
    return cls()
