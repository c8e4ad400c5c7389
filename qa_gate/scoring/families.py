"""The family table: the one place that knows what each metric family is.

A metric names its family (``Metric.family_for(params)``); the row says which model
capability serves it, which view its metrics read (built once per suite and shared by
the family's metrics), what enters every definition beyond the metric's parameters,
what the report shows as the model's output per sample, and which report section
the family adds. The runner, the model loader, the golden checks and the report ask
this table; nothing else tests family names or view types.

Adding a family costs one view, one row here, its metrics and its report section.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from qa_gate.adapters.protocols import ANSWERER, CAPTIONER, CLASSIFIER, ENCODER, Demand
from qa_gate.metrics.plugin_metric import PLUGIN_KEY
from qa_gate.metrics.registry import get_metric, metric_names
from qa_gate.scoring.pope_views import ChairView, PopeView
from qa_gate.scoring.shadow_views import (
    AnswerAgreementView,
    EmbeddingAgreementView,
    LabelAgreementView,
    ScoredAgreementView,
    TextAgreementView,
)
from qa_gate.scoring.task_views import CaptionView, MultilabelView, OCRView, VQAView
from qa_gate.scoring.views import (
    EfficiencyView,
    RetrievalView,
    ScoredCaptionInputs,
    ZeroShotView,
)

if TYPE_CHECKING:
    from qa_gate.config.model import GateConfig, ShadowConfig
    from qa_gate.scoring.inputs import SuiteInputs

Params = Mapping[str, Any]
ANY_MODEL = (ENCODER, CAPTIONER, ANSWERER, CLASSIFIER)
CANDIDATE = "candidate"
"""How a definition names the scorer when the checkpoint under test embeds its own texts."""


def _none(_: Any) -> str:
    return ""


def _same(view: Any) -> Any:
    return view


def _nothing(_: Any) -> dict[str, Any]:
    return {}


def _method(view: Any) -> dict[str, Any]:
    return dict(view.method())


def _predictions(view: Any, _: Params) -> list[str]:
    return list(view.predictions())


def _predicted_labels(view: MultilabelView, params: Params) -> list[str]:
    return view.predicted(float(params.get("threshold", 0.5)))


def _prompt(params: Params) -> str:
    return str(params.get("prompt", ""))


@dataclass(frozen=True)
class Family:
    """One metric family: what it needs from the model and what its metrics read."""

    name: str
    accepts: tuple[str, ...]
    """The capabilities that serve it, preferred first (``qa_gate.adapters.protocols``)."""
    what: str
    """How an error names what it needs: "a dual encoder", "a VQA model or a dual encoder"."""
    view: Callable[[SuiteViews, Params], Any]
    """Builds the view from the suite's inputs (and the suite's other views)."""
    key: Callable[[Params], str] = _none
    """The parameter that sets one view of the family apart from another (a prompt, a tag)."""
    read: Callable[[Any], Any] = _same
    """What the metrics read from the view."""
    extras: Callable[[Any], dict[str, Any]] = _nothing
    """What enters every definition of the family beyond the metric's parameters."""
    scored: bool = False
    """Its texts are embedded by the fixed ``scorer``, whose id the definitions name."""
    output: Callable[[Any, Params], list[str]] | None = None
    """The model's output per sample, shown in the report (a caption, an answer, labels)."""
    output_rank: int = 0
    """Which family's output a report shows when a suite has several (lowest first)."""
    section: str | None = None
    """The report section the family adds (``qa_gate.report.sections.SECTIONS``)."""
    timed: bool = False
    """Its metrics read the model's batch timings: on CUDA each batch is then synchronised."""
    compared: Callable[[Any], list[tuple[str, str]]] | None = None
    """Shadow families: each sample's ``(candidate output, production output)``, shown where they disagree."""
    generated_field: str = "caption"
    """The predictions-file field ``mm-gate predict`` writes the generated text of an image-to-text family to."""
    params: tuple[str, ...] = ()
    """The metric parameters its view reads: every metric of the family declares them (a plug-in too)."""


class SuiteViews:
    """The views of one suite, each built once and shared by the metrics that read it."""

    def __init__(self, inputs: SuiteInputs, shadow: ShadowConfig | None = None) -> None:
        self.inputs = inputs
        self.shadow = shadow
        """The suite's ``shadow`` section: the production outputs its agreement metrics compare with."""
        self._built: dict[tuple[str, str], tuple[Family, Any, Params]] = {}

    def get(self, family: Family, params: Params) -> Any:
        """The view of ``family`` for ``params``, built on first use."""
        key = (family.name, family.key(params))
        if key not in self._built:
            self._built[key] = (family, family.view(self, params), params)
        self.inputs.family = family.name  # the model calls its metrics make next serve this family
        return self._built[key][1]

    def outputs(self) -> list[str | None]:
        """The model's output per sample from the first view that has one, else ``None`` each."""
        shown = [(family.output_rank, i, family, view, params)
                 for i, (family, view, params) in enumerate(self._built.values()) if family.output is not None]
        if not shown:
            return [None] * len(self.inputs.sample_ids)
        _, _, family, view, params = min(shown, key=lambda row: row[:2])
        assert family.output is not None
        return list(family.output(view, params))


def _caption_view(views: SuiteViews, _: Params) -> CaptionView:
    return views.get(FAMILIES["caption"], {})


def _pairs(view: Any) -> list[tuple[str, str]]:
    return list(view.pairs())


def _threshold(params: Params) -> str:
    return f"{_prompt(params)}\0{float(params.get('threshold', 0.5))!r}"


def _label_agreement(views: SuiteViews, params: Params) -> LabelAgreementView:
    labels = views.get(FAMILIES["multilabel"], params)
    return LabelAgreementView(views.inputs, views.shadow, labels, float(params.get("threshold", 0.5)))


def _agreed_labels(view: LabelAgreementView, _: Params) -> list[str]:
    return [candidate for candidate, _ in view.pairs()]


def _pope_key(params: Params) -> str:
    return f"{_prompt(params)}\0{params.get('top_k', 1)!r}"


FAMILIES: Mapping[str, Family] = {family.name: family for family in (
    Family("alignment", (ENCODER,), "a dual encoder", lambda views, _: views.inputs),
    Family("retrieval", (ENCODER,), "a dual encoder", lambda views, _: RetrievalView(views.inputs)),
    Family("zeroshot", (ENCODER,), "a dual encoder",
           lambda views, params: ZeroShotView(views.inputs, str(params.get("label_tag", ""))),
           key=lambda params: str(params.get("label_tag", ""))),
    Family("efficiency", ANY_MODEL, "any model",
           lambda views, _: EfficiencyView(views.inputs, ANY_MODEL), extras=_method, timed=True),
    Family("caption", (CAPTIONER,), "an image-to-text model", lambda views, _: CaptionView(views.inputs),
           read=lambda view: view.tokenized(), extras=_method, output=_predictions),
    Family("scored_caption", (CAPTIONER,), "an image-to-text model (caption: generated)",
           lambda views, params: ScoredCaptionInputs(views.inputs, _caption_view(views, params)),
           extras=_method, scored=True),
    Family("ocr", (CAPTIONER,), "an image-to-text model", lambda views, _: OCRView(views.inputs),
           extras=_method, output=_predictions, generated_field="text"),
    Family("vqa", (ANSWERER, ENCODER), "a VQA model or a dual encoder",
           lambda views, params: VQAView(views.inputs, str(params["prompt"])), key=_prompt,
           extras=_method, output=_predictions, section="vqa_types", params=("prompt",)),
    Family("multilabel", (CLASSIFIER, ENCODER), "a multilabel classifier or a dual encoder",
           lambda views, params: MultilabelView(views.inputs, str(params["prompt"])), key=_prompt,
           extras=_method, output=_predicted_labels, output_rank=1, section="label_f1", params=("prompt",)),
    Family("pope", (ANSWERER, ENCODER), "a VQA model or a dual encoder",
           lambda views, params: PopeView(views.inputs, str(params["prompt"]), int(params["top_k"])),
           key=_pope_key, extras=_method, output=_predictions, section="pope_splits", params=("prompt", "top_k")),
    Family("chair", (CAPTIONER,), "an image-to-text model",
           lambda views, params: ChairView(views.inputs, _caption_view(views, params)),
           extras=_method, output=_predictions, section="hallucinations", compared=_pairs),
    Family("answer_agreement", (ANSWERER, ENCODER), "a VQA model or a dual encoder",
           lambda views, params: AnswerAgreementView(views.inputs, views.shadow, views.get(FAMILIES["vqa"], params)),
           key=_prompt, extras=_method, output=_predictions, section="agreement", compared=_pairs,
           params=("prompt",)),
    Family("label_agreement", (CLASSIFIER, ENCODER), "a multilabel classifier or a dual encoder", _label_agreement,
           key=_threshold, extras=_method, output=_agreed_labels, output_rank=1, section="agreement",
           compared=_pairs, params=("prompt",)),
    Family("caption_agreement", (CAPTIONER,), "an image-to-text model",
           lambda views, _: TextAgreementView(views.inputs, views.shadow, _caption_view(views, {}),
                                              "caption_agreement"),
           read=lambda view: view.tokenized(), extras=_method, output=_predictions, section="agreement",
           compared=_pairs),
    Family("text_agreement", (CAPTIONER,), "an image-to-text model",
           lambda views, _: TextAgreementView(views.inputs, views.shadow, views.get(FAMILIES["ocr"], {}),
                                              "text_agreement"),
           extras=_method, output=_predictions, section="agreement", compared=_pairs, generated_field="text"),
    Family("scored_caption_agreement", (CAPTIONER,), "an image-to-text model (and a scorer)",
           lambda views, params: ScoredAgreementView(views.inputs, views.shadow,
                                                     views.get(FAMILIES["caption_agreement"], {})),
           extras=_method, scored=True, section="agreement", compared=_pairs),
    Family("embedding_agreement", (ENCODER,), "a dual encoder",
           lambda views, _: EmbeddingAgreementView(views.inputs, views.shadow), extras=_method,
           section="agreement"),
)}


def family_of(metric: str, params: Params) -> Family:
    """The row of the family that ``metric`` with ``params`` belongs to."""
    return FAMILIES[get_metric(metric).family_for(params)]


def configured(config: GateConfig) -> dict[str, list[str]]:
    """The families the configured metrics belong to, each with its metric names (first use first)."""
    out: dict[str, list[str]] = {}
    for suite in config.suites:
        for metric in suite.metrics:
            names = out.setdefault(family_of(metric.name, metric.params).name, [])
            if metric.name not in names:
                names.append(metric.name)
    return out


def demands(config: GateConfig) -> tuple[Demand, ...]:
    """What the configured metrics need from the checkpoint, one demand per family."""
    return tuple(Demand(tuple(metrics), FAMILIES[name].accepts, FAMILIES[name].what, FAMILIES[name].timed)
                 for name, metrics in configured(config).items())


def needs_scorer(config: GateConfig) -> bool:
    """True when some configured metric is scored by the fixed ``scorer`` (generated captions)."""
    return any(FAMILIES[name].scored for name in configured(config))


def sections(metrics: Sequence[tuple[str, Params]]) -> dict[str, list[str]]:
    """The report sections ``(metric name, definition)`` pairs call for, each with its metrics."""
    out: dict[str, list[str]] = {}
    known = set(metric_names())
    for name, definition in metrics:
        if name not in known:  # a metric of a newer or older qa_gate, in a stored run: no section
            continue
        if PLUGIN_KEY in definition:  # a user's plug-in: its rows are its own, not the section's
            continue
        section = family_of(name, definition).section
        if section is not None:
            out.setdefault(section, []).append(name)
    return out
