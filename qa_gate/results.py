"""What one scoring run produces: per-suite, per-metric aggregates and per-sample statistics."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np


@dataclass(frozen=True)
class SampleInfo:
    """The parts of a golden sample a report shows: id, the golden text, slice tags, and the
    model's own output for generative metrics (the generated caption; ``None`` otherwise)."""

    id: str
    text: str
    tags: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    output: str | None = None


@dataclass(frozen=True, eq=False)
class MetricResult:
    """One metric on one suite.

    ``stats`` holds one row of sufficient statistics per sample (shape ``[n, k]``);
    ``value`` is the metric's ``aggregate`` over all rows, and ``per_sample`` the
    per-sample value a report shows (for mean-type metrics, the same numbers).
    """

    name: str
    value: float
    higher_is_better: bool
    fingerprint: str
    definition: Mapping[str, Any]
    stats: np.ndarray
    per_sample: tuple[float, ...]


@dataclass(frozen=True)
class SuiteResult:
    """All metrics of one golden suite; ``samples`` and every ``stats`` row share one order.

    ``skipped`` maps each configured metric the run could not compute (Java missing for
    the captioning metrics) to the reason; such a metric has no entry in ``metrics``.
    """

    name: str
    label: str
    fingerprint: str
    samples: tuple[SampleInfo, ...]
    metrics: Mapping[str, MetricResult]
    skipped: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    compared: Mapping[str, tuple[tuple[str, str], ...]] = field(default_factory=lambda: MappingProxyType({}))
    """Per agreement metric of a shadow suite, each sample's ``(candidate output, production output)`` as it
    compared them: what the report shows where they disagree. Not kept in a baseline."""


@dataclass(frozen=True)
class CheckpointInfo:
    """Which model was scored: adapter, checkpoint location, content hash, architecture."""

    adapter: str
    checkpoint: str
    sha256: str
    model_name: str


@dataclass(frozen=True)
class RunResult:
    """Everything one scoring run produced, ready to gate, report and store as a baseline."""

    checkpoint: CheckpointInfo
    environment: Mapping[str, str]
    suites: tuple[SuiteResult, ...]
    created: str

    def suite(self, name: str) -> SuiteResult | None:
        """The result of the suite called ``name``, or ``None``."""
        return next((s for s in self.suites if s.name == name), None)

    def skipped(self) -> list[tuple[SuiteResult, str, str]]:
        """Every metric the run could not compute: ``(suite, metric name, reason)``."""
        return [(s, name, reason) for s in self.suites for name, reason in s.skipped.items()]
