"""Batch golden samples through an encoder and score every configured metric once per suite."""

from __future__ import annotations

import platform
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np

from qa_gate.config import GateConfig, SuiteConfig
from qa_gate.errors import AdapterError, GoldenError
from qa_gate.families import (
    CaptionView,
    EfficiencyView,
    autocast_label,
    inference,
    view_for,
)
from qa_gate.golden import Sample, Suite, open_image, sample_hint, suite_hint
from qa_gate.metrics.base import fingerprint
from qa_gate.metrics.registry import get_metric
from qa_gate.metrics.tokenize import JavaMissingError
from qa_gate.metrics.vqa import ANSWERS_PER_QUESTION
from qa_gate.results import MetricResult, RunResult, SampleInfo, SuiteResult
from qa_gate.stopwatch import Stopwatch
from qa_gate.task_views import MultilabelView, OCRView, VQAView

if TYPE_CHECKING:
    import torch

    from qa_gate.adapters.capabilities import LoadedModel

SCORER = "candidate"


def _normalise(rows: torch.Tensor) -> np.ndarray:
    array = rows.detach().float().cpu().numpy().astype(np.float64)
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    return array / np.where(norms == 0, 1.0, norms)


class SuiteInputs:
    """``AlignmentInputs`` for one suite: encodes lazily, in batches, each distinct text once."""

    def __init__(self, suite: Suite, model: LoadedModel, batch_size: int,
                 device: torch.device, dtype: torch.dtype | None, text_cache: dict[str, np.ndarray]) -> None:
        self.suite, self.batch_size = suite, batch_size
        self.device, self.dtype, self._texts = device, dtype, text_cache
        self.encoder, self.captioner = model.encoder, model.captioner
        self.answerer, self.classifier = model.answerer, model.classifier
        self.scorer_inputs: SuiteInputs | None = None
        """The fixed scorer's inputs on the same suite (``caption: generated``), set by ``run``."""
        self.scorer_id = ""
        self.sample_ids = tuple(s.id for s in suite.samples)
        self._images: np.ndarray | None = None
        self._outputs: dict[str, Any] = {}
        self.stopwatches: dict[str, Stopwatch] = {}
        """One per model operation run on the suite (``image encoding``, ``generation``, ``answering``,
        ``classification``): the batches' timings and the operation's peak memory."""

    def batched(self, operation: str, call: Callable[..., Any], extra: Sequence[Any] | None = None) -> list[Any]:
        """``call(images[, extra])`` over the suite in batches under inference mode, each batch timed
        on ``stopwatches[operation]``, computed once.

        ``generation`` and ``answering`` return a list with one item per image: the result is those
        items, in sample order. Other operations return a ``[batch, ...]`` array per batch: the
        result is those arrays. Either way an adapter returning another count is refused.
        """
        if operation not in self._outputs:
            watch = self.stopwatches[operation] = Stopwatch(self.device)
            out: list[Any] = []
            samples = self.suite.samples
            for start in range(0, len(samples), self.batch_size):
                images = [open_image(s) for s in samples[start:start + self.batch_size]]
                args = (images,) if extra is None else (images, list(extra[start:start + self.batch_size]))
                with inference(self.device, self.dtype), watch.batch(len(images)):
                    result = call(*args)
                out.extend(_checked(operation, result, len(images)))
            watch.stop()
            self._outputs[operation] = out
        return self._outputs[operation]

    def image_embeddings(self) -> np.ndarray:
        """``[n, d]`` normalised image embeddings, computed once; each batch is timed."""
        if self._images is None:
            chunks = self.batched("image encoding", self.encoder.encode_images)
            self._images = np.concatenate([_normalise(c) for c in chunks])
        return self._images

    def _encode(self, texts: Sequence[str]) -> np.ndarray:
        missing = list(dict.fromkeys(t for t in texts if t not in self._texts))
        for start in range(0, len(missing), self.batch_size):
            batch = missing[start:start + self.batch_size]
            with inference(self.device, self.dtype):
                rows = _normalise(_checked("text encoding", self.encoder.encode_texts(batch), len(batch))[0])
            self._texts.update(zip(batch, rows))
        return np.stack([self._texts[t] for t in texts])

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        """``[m, d]`` normalised embeddings of ``texts`` (each distinct text encoded once)."""
        return self._encode(texts)

    def caption_embeddings(self, prefix: str) -> np.ndarray:
        """``[n, d]`` embeddings of ``prefix + caption``."""
        return self._encode([prefix + (s.caption or "") for s in self.suite.samples])

    def reference_embeddings(self, prefix: str) -> tuple[np.ndarray, np.ndarray]:
        """Every reference (prefixed) and the index of the sample that owns it."""
        owner = np.array([i for i, s in enumerate(self.suite.samples) for _ in s.references], dtype=np.int64)
        texts = [prefix + r for s in self.suite.samples for r in s.references]
        return self._encode(texts), owner


PER_SAMPLE_OPERATIONS = ("generation", "answering")


def _checked(operation: str, result: Any, count: int) -> list[Any]:
    """The items ``result`` adds to ``operation``'s output: its ``count`` texts, or itself as one
    ``[count, ...]`` array; an ``AdapterError`` saying what came back otherwise."""
    if operation in PER_SAMPLE_OPERATIONS:
        if not isinstance(result, (list, tuple)) or len(result) != count:
            got = f"{len(result)} items" if isinstance(result, (list, tuple)) else type(result).__name__
            raise AdapterError(f"the model's {operation} returned {got} for a batch of {count} images; "
                               "expected a list with one string per image")
        bad = next((x for x in result if not isinstance(x, str)), None)
        if bad is not None:
            raise AdapterError(f"the model's {operation} returned a {type(bad).__name__} ({bad!r}); "
                               "expected one string per image")
        return list(result)
    shape = tuple(getattr(result, "shape", ()))
    if len(shape) != 2 or shape[0] != count:
        raise AdapterError(f"the model's {operation} returned {type(result).__name__} of shape {shape} for "
                           f"{count} inputs; expected a 2-d tensor or array with one row per input")
    return [result]


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
    from qa_gate.adapters.capabilities import LoadedModel, scorer_id

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
