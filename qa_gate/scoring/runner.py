"""Score every configured metric once per suite, each on its family's view, into a ``RunResult``."""

from __future__ import annotations

import platform
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from importlib import metadata
from types import MappingProxyType
from typing import TYPE_CHECKING

import numpy as np

from qa_gate.config.model import GateConfig, SuiteConfig
from qa_gate.golden.suite import Sample, Suite
from qa_gate.metrics.base import fingerprint
from qa_gate.metrics.plugins import for_suite
from qa_gate.metrics.registry import get_metric
from qa_gate.metrics.tokenize import JavaMissingError
from qa_gate.results import MetricResult, RunResult, SampleInfo, SuiteResult
from qa_gate.scoring.device import Device, autocast_label, torch_version
from qa_gate.scoring.families import CANDIDATE, FAMILIES, SuiteViews, family_of
from qa_gate.scoring.inputs import SuiteInputs
from qa_gate.scoring.perturbed import PerturbedViews, perturbation_extras

if TYPE_CHECKING:
    import torch

    from qa_gate.adapters.load import LoadedModel
    from qa_gate.scoring.cached_model import RunOutputs

def score_suite(suite: Suite, suite_cfg: SuiteConfig, inputs: SuiteInputs) -> SuiteResult:
    """Every configured metric of one suite, with per-sample statistics.

    Each metric reads its family's view (``qa_gate.scoring.families``), built once per
    suite. A metric that needs Java when none is on PATH (``JavaMissingError``, from its
    inputs or its ``per_sample``) is recorded in ``skipped`` with the reason and the
    run goes on; any other error propagates.
    """
    metrics: dict[str, MetricResult] = {}
    skipped: dict[str, str] = {}
    compared: dict[str, tuple[tuple[str, str], ...]] = {}
    views = SuiteViews(inputs, suite_cfg.shadow)
    perturbed = PerturbedViews(views)  # name@P metrics read their perturbation's views
    for metric_cfg in suite_cfg.metrics:
        metric = for_suite(metric_cfg, suite) or get_metric(metric_cfg.name)  # a plug-in: its config's class
        family = FAMILIES[metric.family_for(metric_cfg.params)]
        try:
            view, read = perturbed.read(metric, family, metric_cfg.params)
            stats = np.asarray(metric.per_sample(read, metric_cfg.params), dtype=np.float64)
        except JavaMissingError as exc:
            skipped[metric_cfg.name] = str(exc)
            continue
        definition = metric.definition(metric_cfg.params, inputs.scorer_id if family.scored else CANDIDATE)
        definition.update(family.extras(view))
        definition.update(perturbation_extras(metric_cfg.params))
        metrics[metric_cfg.name] = MetricResult(
            name=metric_cfg.name, value=float(metric.aggregate(stats)),
            higher_is_better=metric.higher_is_better, fingerprint=fingerprint(definition),
            definition=definition, stats=stats,
            per_sample=tuple(float(v) for v in metric.sample_values(stats)),
        )
        if family.compared is not None:
            compared[metric_cfg.name] = tuple(family.compared(view))
    samples = tuple(SampleInfo(s.id, _shown_text(s), s.tags, out) for s, out in zip(suite.samples, views.outputs()))
    return SuiteResult(suite_cfg.name, suite_cfg.label, suite.fingerprint, samples, metrics,
                       MappingProxyType(skipped), MappingProxyType(compared))


def _shown_text(sample: Sample) -> str:
    """What a report shows beside a sample: its caption, question, transcription or labels."""
    if sample.caption:
        return sample.caption
    if sample.question:
        return sample.question
    if sample.text is not None:
        return sample.text
    return ", ".join(sample.labels) if sample.labels else ""


def environment(device: Device, dtype: torch.dtype | None, batch_size: int) -> Mapping[str, str]:
    """Versions and hardware a result was measured with (torch's version read without importing it)."""
    env = {
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "torch": torch_version(),
        "device": str(device),
        "autocast": autocast_label(dtype),
        "batch_size": str(batch_size),
    }
    if device.type == "cuda":
        import torch

        env["gpu"] = torch.cuda.get_device_name(str(device))
    for name, distribution in BACKEND_DISTRIBUTIONS:
        try:  # the installed metadata: importing a backend only for its version costs seconds
            env[name] = metadata.version(distribution)
        except metadata.PackageNotFoundError:
            continue
    return env


BACKEND_DISTRIBUTIONS = (("open_clip", "open_clip_torch"), ("transformers", "transformers"))
"""Each backend's name in an environment record and the distribution whose version it records."""


def timed(suite_cfg: SuiteConfig) -> bool:
    """True when an efficiency metric of the suite reads the model's batch timings."""
    return any(family_of(m.name, m.params).timed for m in suite_cfg.metrics)


def run(config: GateConfig, suites: Sequence[Suite], model: LoadedModel, device: Device,
        dtype: torch.dtype | None, outputs: RunOutputs | None = None) -> RunResult:
    """Score every suite of ``config`` (already loaded, verified and checked as ``suites``) with
    the capabilities ``model`` was loaded as (see ``qa_gate.adapters.load``); ``outputs``: the run's
    output cache and progress bars (``qa_gate.scoring.cached_model``), none when not given."""
    from qa_gate.adapters.load import LoadedModel, scorer_id

    cache: dict[str, np.ndarray] = {}
    scorer_cache: dict[str, np.ndarray] = {}  # another embedding space: never mixed with the model's texts
    results = []
    for suite_cfg, suite in zip(config.suites, suites):
        workers, synced = config.model.workers, timed(suite_cfg)
        inputs = SuiteInputs(suite, model, config.model.batch_size, device, dtype, cache,
                             workers=workers, timed=synced)
        if outputs is not None:
            inputs.cache = outputs.suite(suite, suite_cfg)
        if model.scorer is not None and model.scorer_checkpoint is not None:
            scorer = LoadedModel(model.scorer_checkpoint, encoder=model.scorer)
            inputs.scorer_inputs = SuiteInputs(suite, scorer, config.model.batch_size, device, dtype, scorer_cache,
                                              role="scorer", workers=workers, timed=synced)
            inputs.scorer_id = scorer_id(model.scorer_checkpoint)
            if outputs is not None:
                inputs.scorer_inputs.cache = outputs.suite(suite, suite_cfg, role="scorer")
        results.append(score_suite(suite, suite_cfg, inputs))
    created = datetime.now(timezone.utc).replace(microsecond=0).isoformat()
    return RunResult(model.checkpoint, environment(device, dtype, config.model.batch_size), tuple(results), created)
