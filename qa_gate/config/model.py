"""The validated ``thresholds.yaml`` as frozen dataclasses: rule kinds, modes, metrics, slices, suites, model."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

RULE_KINDS: tuple[str, ...] = ("min", "max", "max_drop", "max_drop_pct")
FLOOR_KINDS: frozenset[str] = frozenset({"min", "max"})
MODES: tuple[str, ...] = ("significant", "strict")
MISSING_BASELINE: tuple[str, ...] = ("warn", "fail")
"""``gate.missing_baseline``: what a regression rule with no baseline to compare with does."""
"""How a regression rule judges a drop: beyond the allowed drop with the configured
confidence (paired bootstrap), or on the point estimate alone (release sign-off)."""
RULE_SETTINGS: tuple[str, ...] = ("mode", "confidence")
"""Keys beside a metric's rules that set how its regression rules judge (not metric params)."""
ADAPTERS: tuple[str, ...] = ("open_clip", "transformers", "predictions")
DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda")
DTYPES: tuple[str, ...] = ("auto", "float32", "float16", "bfloat16")
USER_ADAPTER = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*:[A-Za-z_]\w*")
DEFAULT_MAX_PIXELS = 40_000_000
"""``golden.max_pixels``: the most pixels (width x height) one golden image may have (40 MP)."""
PILLOW_MAX_PIXELS = 178_956_970
"""Pillow's own decompression-bomb limit (``2 * Image.MAX_IMAGE_PIXELS``): ``golden.max_pixels`` cannot exceed it."""


@dataclass(frozen=True)
class Rule:
    """One rule on one metric: an absolute floor (``min``/``max``) or a regression bound."""

    kind: str
    value: float
    mode: str = "significant"
    confidence: float = 0.95

    @property
    def is_floor(self) -> bool:
        """True for absolute floors, which hold whatever the baseline."""
        return self.kind in FLOOR_KINDS


@dataclass(frozen=True)
class MetricConfig:
    """A metric to score on a suite, its definition parameters and its rules."""

    name: str
    params: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    rules: tuple[Rule, ...] = ()


@dataclass(frozen=True)
class SliceConfig:
    """Rules for the samples of a suite tagged ``key=value``; metric params come from the suite."""

    slice: str
    key: str
    value: str
    metrics: tuple[MetricConfig, ...]


@dataclass(frozen=True)
class ShadowConfig:
    """``suites.X.shadow``: the production model's predictions file the agreement metrics compare with."""

    reference: Path
    """Absolute path of the reference predictions file."""
    label: str
    """The path as written, relative to the thresholds file's folder (what messages and the bar show)."""


@dataclass(frozen=True)
class Perturbation:
    """``suites.X.perturbations.NAME: {KIND: VALUE}``: one deterministic change of the images or texts
    (``qa_gate.config.perturbations``); ``seed`` (``gate.seed``) seeds the random kinds."""

    name: str
    kind: str
    value: Any
    seed: int = 0

    def spec(self) -> dict[str, Any]:
        """What enters the definition of every metric scored under it (and the output cache's keys)."""
        return {"name": self.name, "kind": self.kind, "value": self.value, "seed": self.seed}


@dataclass(frozen=True)
class SuiteConfig:
    """A golden suite: its name, its folder, the metrics gated on it and per-slice rules.

    ``metrics`` holds the clean metrics and, per perturbation, ``name@P`` copies whose params carry
    the perturbation's spec under ``perturbation`` (``qa_gate.config.perturbations``).
    """

    name: str
    path: Path
    label: str
    metrics: tuple[MetricConfig, ...]
    slices: tuple[SliceConfig, ...] = ()
    perturbations: tuple[Perturbation, ...] = ()
    shadow: ShadowConfig | None = None
    """The production model's outputs the agreement metrics compare with (shadow mode), if any."""


@dataclass(frozen=True)
class ModelConfig:
    """The checkpoint under test and how to run it."""

    adapter: str
    checkpoint: str
    model_name: str | None = None
    pretrained: str | None = None
    device: str = "auto"
    dtype: str = "auto"
    batch_size: int = 32
    allow_pickle: bool = False
    options: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    workers: int | None = None
    """Image decoding threads (0: in the model's thread); ``None``: none on the CPU, ``min(4, CPU count)`` on an
    accelerator. Outputs do not depend on it."""


@dataclass(frozen=True)
class GateConfig:
    """The whole validated ``thresholds.yaml`` with command-line overrides applied."""

    source: Path
    version: int
    model: ModelConfig
    suites: tuple[SuiteConfig, ...]
    baseline_path: Path
    report_path: Path | None
    resamples: int = 10000
    seed: int = 0
    baseline_ref: str | None = None
    accept_bar_change: bool = False
    baseline_explicit: bool = False
    scorer: ModelConfig | None = None
    """A fixed dual encoder that scores generated captions (``caption: generated``); runs on the model's device."""
    max_pixels: int = DEFAULT_MAX_PIXELS
    """``golden.max_pixels``: a golden image with more pixels is refused when it is opened, before decoding."""
    mode: str = "significant"
    """``gate.mode`` as written (each regression rule carries its own effective mode)."""
    confidence: float = 0.95
    """``gate.confidence`` as written (each regression rule carries its own effective confidence)."""
    missing_baseline: str = "warn"
    """``gate.missing_baseline``: ``fail`` makes a regression rule with no baseline fail the build."""
    missing_baseline_why: str = "the default outside CI"
    """Where :attr:`missing_baseline` came from, for messages: ``gate.missing_baseline``, or the default."""


@dataclass(frozen=True)
class Overrides:
    """Values from the command line (or ini options) that replace the file's.

    ``None`` means "not given". Relative paths are taken relative to the current
    directory, unlike the file's paths, which are relative to the file.
    ``option_prefix`` is how the face spells its options, so an error names the
    option as the user typed it: ``--`` for ``mm-gate`` (``--batch-size``), ``--mm-``
    for pytest (``--mm-batch-size``).
    """

    checkpoint: str | None = None
    adapter: str | None = None
    model_name: str | None = None
    device: str | None = None
    dtype: str | None = None
    batch_size: int | None = None
    workers: int | None = None
    baseline_path: str | None = None
    report_path: str | None = None
    baseline_ref: str | None = None
    accept_bar_change: bool | None = None
    mode: str | None = None
    cache_dir: str | None = None
    """The model-output cache folder (``qa_gate.scoring.cache``); ``None``: ``$XDG_CACHE_HOME/qa_gate/outputs``."""
    no_cache: bool | None = None
    """Neither read nor write the model-output cache (a sign-off always runs so)."""
    quiet: bool | None = None
    """No progress lines (pytest ``-q``, ``mm-gate --quiet``)."""
    option_prefix: str = "--"
    sources: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    """Where a given value came from when not the command line, by field: ``"pytest.ini"``,
    ``"pyproject.toml addopts"``, ``"PYTEST_ADDOPTS"``. The bar-change block names them."""
