"""TODO docstring."""

from __future__ import annotations

from qa_gate.config.model import SuiteConfig
from qa_gate.errors import GoldenError
from qa_gate.golden.manifest import Sample
from qa_gate.golden.suite import Suite, sample_hint, suite_hint
from qa_gate.metrics.registry import get_metric
from qa_gate.metrics.vqa import ANSWERS_PER_QUESTION


def check_samples(suite: Suite, suite_cfg: SuiteConfig) -> None:
    """Refuse, naming the suite and sample, any sample that lacks a field a configured metric reads
    (or holds it in a form the metric cannot score: not 10 answers, an empty reference, VQA choices
    none of which matches a human answer)."""
    for metric_cfg in suite_cfg.metrics:
        metric = get_metric(metric_cfg.name)
        fields = metric.needs_for(metric_cfg.params)
        if metric.name == "vqa_accuracy":  # after 'answers', so a sample here has its 10 answers
            fields = (*fields, "choices")
        mode = metric_cfg.params.get("normalisation", metric.params.get("normalisation", "official"))
        for field in fields:
            if field == "labels" and not suite.labels:
                raise GoldenError(f"{suite_hint(suite)}: the manifest "
                                  f"declares no label set (top-level 'labels'), which metric '{metric_cfg.name}' "
                                  f"(suites.{suite_cfg.name}.metrics) needs")
            for sample in suite.samples:
                problem = _problem(sample, field, mode)
                if problem:
                    raise GoldenError(f"{sample_hint(suite, sample)}: {problem}, which metric "
                                      f"'{metric_cfg.name}' (suites.{suite_cfg.name}.metrics) needs")


def _problem(sample: Sample, field: str, normalisation: str = "official") -> str | None:
    """Why ``sample`` does not give ``field`` in a usable form, or ``None``.

    ``choices`` (VQA candidates, optional) are refused when, with ``normalisation``, none of them
    matches a human answer: ranking them could never score above 0.
    """
    if field == "choices":
        from qa_gate.metrics.vqa import vqa_accuracy

        if not sample.choices or sample.answers is None or len(sample.answers) != ANSWERS_PER_QUESTION:
            return None
        if any(vqa_accuracy(choice, sample.answers, normalisation) > 0 for choice in sample.choices):
            return None
        return (f"has choices {list(sample.choices)} but no choice matches any human answer "
                f"{list(dict.fromkeys(sample.answers))} (normalisation {normalisation!r}), so every choice "
                "scores 0; expected at least one choice that matches a human answer")
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
