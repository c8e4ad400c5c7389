"""Batch golden samples through an encoder and score every configured metric once per suite."""

from __future__ import annotations

import platform
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from types import MappingProxyType
from typing import TYPE_CHECKING

import numpy as np

from qa_gate.config.model import GateConfig, SuiteConfig
from qa_gate.golden.suite import Sample, Suite
from qa_gate.metrics.base import fingerprint
from qa_gate.metrics.registry import get_metric
from qa_gate.metrics.tokenize import JavaMissingError
from qa_gate.results import MetricResult, RunResult, SampleInfo, SuiteResult
from qa_gate.scoring.device import autocast_label
from qa_gate.scoring.inputs import SuiteInputs
from qa_gate.scoring.task_views import MultilabelView, OCRView, VQAView
from qa_gate.scoring.views import CaptionView, EfficiencyView, view_for

if TYPE_CHECKING:
    import torch

    from qa_gate.adapters.load import LoadedModel

SCORER = "candidate"


def score_suite(suite: Suite, suite_cfg: SuiteConfig, inputs: SuiteInputs) -> SuiteResult:
    """Every configured metric of one suite, with per-sample statistics.

    A metric that needs Java when none is on PATH (``JavaMissingError``, from its
    inputs or its ``per_sample``) is recorded in ``skipped`` with the reason and the
    run goes on; any other error propagates.
    """
    metrics: dict[str, MetricResult] = {}
    skipped: dict[str, str] = {}
    views: dict[tuple[str, str], object] = {}  # shared per suite, so the ranks and class prompts are computed once
    for metric_cfg in suite_cfg.metrics:
        metric = get_metric(metric_cfg.name)
        family = metric.family_for(metric_cfg.params)
        try:
            view = view_for(family, metric_cfg.params, inputs, views)
            stats = np.asarray(metric.per_sample(view, metric_cfg.params), dtype=np.float64)
        except JavaMissingError as exc:
            skipped[metric.name] = str(exc)
            continue
        definition = metric.definition(metric_cfg.params, inputs.scorer_id if family == "scored_caption" else SCORER)
        if family in ("caption", "scored_caption"):
            definition["generation"] = dict(inputs.captioner.settings)
        elif isinstance(view, EfficiencyView):  # measured on this device: another device never compares
            definition.update(view.measurement())
        elif hasattr(view, "method"):  # generated or ranked answers, classifier or prompt scores
            definition.update(view.method())
        metrics[metric.name] = MetricResult(
            name=metric.name, value=float(metric.aggregate(stats)),
            higher_is_better=metric.higher_is_better, fingerprint=fingerprint(definition),
            definition=definition, stats=stats,
            per_sample=tuple(float(v) for v in metric.sample_values(stats)),
        )
    outputs = _outputs(suite_cfg, views, len(suite.samples))
    samples = tuple(SampleInfo(s.id, _shown_text(s), s.tags, out) for s, out in zip(suite.samples, outputs))
    return SuiteResult(suite_cfg.name, suite_cfg.label, suite.fingerprint, samples, metrics,
                       MappingProxyType(skipped))


def _shown_text(sample: Sample) -> str:
    """What a report shows beside a sample: its caption, question, transcription or labels."""
    if sample.caption:
        return sample.caption
    if sample.question:
        return sample.question
    if sample.text is not None:
        return sample.text
    return ", ".join(sample.labels) if sample.labels else ""


def _outputs(suite_cfg: SuiteConfig, views: Mapping[tuple[str, str], object], n: int) -> list[str | None]:
    """The model's output per sample, when it made text: caption, answer, transcription, predicted labels."""
    for view in views.values():
        if isinstance(view, (CaptionView, VQAView, OCRView)):
            return list(view.predictions())
    for metric_cfg in suite_cfg.metrics:
        for view in views.values():
            if isinstance(view, MultilabelView) and get_metric(metric_cfg.name).family_for(metric_cfg.params) == "multilabel":
                return list(view.predicted(float(metric_cfg.params.get("threshold", 0.5))))
    return [None] * n


def environment(device: torch.device, dtype: torch.dtype | None, batch_size: int) -> Mapping[str, str]:
    """Versions and hardware a result was measured with."""
    import torch

    env = {
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "torch": torch.__version__,
        "device": str(device),
        "autocast": autocast_label(dtype),
        "batch_size": str(batch_size),
    }
    if device.type == "cuda":
        env["gpu"] = torch.cuda.get_device_name(device)
    for module in ("open_clip", "transformers"):
        try:
            env[module] = __import__(module).__version__
        except ImportError:
            continue
    return env


def families(config: GateConfig) -> dict[str, list[str]]:
    """The metric families (hence model capabilities) the configured metrics read, each with its metrics."""
    out: dict[str, list[str]] = {}
    for suite in config.suites:
        for metric in suite.metrics:
            names = out.setdefault(get_metric(metric.name).family_for(metric.params), [])
            if metric.name not in names:
                names.append(metric.name)
    return out


def run(config: GateConfig, suites: Sequence[Suite], model: LoadedModel, device: torch.device,
        dtype: torch.dtype | None) -> RunResult:
    """Score every suite of ``config`` (already loaded, verified and checked as ``suites``) with
    the capabilities ``model`` was loaded as (see ``qa_gate.adapters.capabilities``)."""
    from qa_gate.adapters.load import LoadedModel, scorer_id

    cache: dict[str, np.ndarray] = {}
    scorer_cache: dict[str, np.ndarray] = {}  # another embedding space: never mixed with the model's texts
    results = []
    for suite_cfg, suite in zip(config.suites, suites):
        inputs = SuiteInputs(suite, model, config.model.batch_size, device, dtype, cache)
        if model.scorer is not None and model.scorer_checkpoint is not None:
            scorer = LoadedModel(model.scorer_checkpoint, encoder=model.scorer)
            inputs.scorer_inputs = SuiteInputs(suite, scorer, config.model.batch_size, device, dtype, scorer_cache)
            inputs.scorer_id = scorer_id(model.scorer_checkpoint)
        results.append(score_suite(suite, suite_cfg, inputs))
    created = datetime.now(timezone.utc).replace(microsecond=0).isoformat()
    return RunResult(model.checkpoint, environment(device, dtype, config.model.batch_size), tuple(results), created)
