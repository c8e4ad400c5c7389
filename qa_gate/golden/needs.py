"""The check, before any model loads, that every sample carries what its suite's metrics read."""

from __future__ import annotations

from pathlib import Path

from qa_gate.config.model import SuiteConfig
from qa_gate.errors import ConfigError, GoldenError, did_you_mean
from qa_gate.golden.manifest import Sample
from qa_gate.golden.suite import Suite, sample_hint, suite_hint
from qa_gate.metrics.registry import get_metric
from qa_gate.metrics.vqa import ANSWERS_PER_QUESTION


def check_samples(suite: Suite, suite_cfg: SuiteConfig) -> None:
    """Refuse, naming the suite and sample, any sample that lacks a field a configured metric reads
    (or holds it in a form the metric cannot score: not 10 answers, an empty reference, VQA choices
    none of which matches a human answer), then a suite the metric cannot judge as a whole
    (zero-shot top-k over k classes or fewer)."""
    for metric_cfg in suite_cfg.metrics:
        metric = get_metric(metric_cfg.name)
        for field in metric.needs_for(metric_cfg.params):
            if field == "labels" and not suite.labels:
                raise GoldenError(f"{suite_hint(suite)}: the manifest "
                                  f"declares no label set (top-level 'labels'), which metric '{metric_cfg.name}' "
                                  f"(suites.{suite_cfg.name}.metrics) needs")
            for sample in suite.samples:
                _refuse(suite, suite_cfg.name, sample, metric_cfg.name, _problem(sample, field))
        for sample in suite.samples:  # after the fields: a sample here carries every field the metric reads
            _refuse(suite, suite_cfg.name, sample, metric_cfg.name, metric.sample_problem(sample, metric_cfg.params))
        problem = metric.suite_problem(suite.samples, metric_cfg.params)
        if problem:
            raise GoldenError(f"{suite_hint(suite)}: suite '{suite_cfg.name}' {problem}, which metric "
                              f"'{metric_cfg.name}' (suites.{suite_cfg.name}.metrics) needs")


def _refuse(suite: Suite, suite_name: str, sample: Sample, metric: str, problem: str | None) -> None:
    if problem:
        traffic = (" (the manifest says kind: traffic, real traffic without ground truth: gate it with agreement "
                   "metrics such as answer_agreement against suites.<name>.shadow.reference, or give the field)"
                   if suite.kind == "traffic" else "")
        raise GoldenError(f"{sample_hint(suite, sample)}: {problem}, which metric "
                          f"'{metric}' (suites.{suite_name}.metrics) needs{traffic}")


def _problem(sample: Sample, field: str) -> str | None:
    """Why ``sample`` does not give ``field`` in a usable form, or ``None``."""
    if field.startswith("tag:"):
        return None if sample.tags.get(field[4:], "").strip() else f"has no tag '{field[4:]}'"
    if field == "answers":
        if sample.answers is None:
            return "has no answers"
        if len(sample.answers) != ANSWERS_PER_QUESTION:
            return (f"has {len(sample.answers)} human answers; expected exactly {ANSWERS_PER_QUESTION} "
                    "(official VQA accuracy leaves each of the 10 out in turn)")
        return None
    if field == "text":
        if sample.text is None:
            return "has no text (the reference transcription)"
        return None if sample.text.strip() else "has an empty text (the reference transcription must not be empty)"
    if field == "labels":
        return None if sample.labels is not None else "has no labels (an empty list means no positive label)"
    if field == "references":
        return None if sample.references else "has no references"
    value = getattr(sample, field, None)
    return None if isinstance(value, str) and value.strip() else f"has no {field}"


def check_slices(suite: Suite, suite_cfg: SuiteConfig, source: Path) -> None:
    """A slice rule must name a tag value that some sample carries."""
    present = {f"{k}={v}" for sample in suite.samples for k, v in sample.tags.items()}
    for slice_cfg in suite_cfg.slices:
        if slice_cfg.slice not in present:
            raise ConfigError(
                f"{source.name}: suites.{suite_cfg.name}.slices.{slice_cfg.slice}: "
                f"no sample of {suite_cfg.label} is tagged "
                f"{slice_cfg.key}={slice_cfg.value}{did_you_mean(slice_cfg.slice, present)}; "
                f"tags present: {', '.join(sorted(present)) or 'none'}"
            )
