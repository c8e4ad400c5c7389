"""``adapter: predictions``: a predictions file served as the capabilities its fields allow.

``image_embedding`` + ``text_embedding`` serve a dual encoder, ``caption`` or ``text`` an image-to-text
model (one generated text per image: a row's ``caption`` when it has one, else its ``text``),
``answer`` a VQA model, ``labels`` or ``scores`` a multilabel classifier (``labels``: the predicted
label names, scored 1, every other label 0; ``scores``: a score in [0, 1] per label name, extra names
ignored). Every output is looked up by sample id (``ServesBySample``): no image is decoded.

Texts are looked up by content: a text row's ``input_text``, else a sample's golden ``caption`` (as the
manifest writes it, no prefix) whose row has a ``text_embedding`` (the first such row wins). A
metric the file cannot serve is refused before scoring, naming the missing fields; so are the
efficiency metrics (nothing was timed). The checkpoint record is the file's path, its sha256 (with
its sidecars) and ``model.options.model_id``; the output cache never holds a predictions file's outputs.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qa_gate.adapters.predictions.served import (
    PredictedAnswerer,
    PredictedCaptioner,
    PredictedClassifier,
    PredictedEncoder,
    Served,
)
from qa_gate.adapters.predictions.table import PredictionTable, read_predictions
from qa_gate.adapters.protocols import ANSWERER, CAPABILITIES, CAPTIONER, CLASSIFIER, ENCODER, Built, Demand
from qa_gate.config.model import ModelConfig
from qa_gate.errors import AdapterError, did_you_mean

if TYPE_CHECKING:
    import torch

NEEDS: Mapping[str, tuple[tuple[str, ...], ...]] = {
    ENCODER: (("image_embedding", "text_embedding"),),
    CAPTIONER: (("caption",), ("text",)),
    ANSWERER: (("answer",),),
    CLASSIFIER: (("labels",), ("scores",)),
}
"""The fields that serve each capability: any one group of them, all of its fields."""
OPTIONS = ("model_id",)


def serves(table: PredictionTable) -> tuple[str, ...]:
    """The capabilities ``table``'s fields serve."""
    return tuple(c for c in CAPABILITIES if any(all(table.has(f) for f in group) for group in NEEDS[c]))


def _fields(capability: str) -> str:
    groups = [" and ".join(group) for group in NEEDS[capability]]
    plural = "fields" if len(NEEDS[capability][0]) > 1 else "field"
    return f"{plural} {' or '.join(groups)}"


@dataclass(frozen=True)
class PredictionsOffer:
    """One predictions file, read and type-checked; it serves what its fields allow."""

    table: PredictionTable
    model_id: str

    @property
    def serves(self) -> tuple[str, ...]:
        """The capabilities the file's fields serve."""
        return serves(self.table)

    @property
    def description(self) -> str:
        """``a predictions file (caption, answer)``."""
        return f"a predictions file ({', '.join(self.table.present()) or 'no prediction fields'})"

    def check_demands(self, demands: Sequence[Demand], refused: Sequence[Demand]) -> None:
        """One line for the first metrics the file cannot serve: the efficiency metrics (nothing was
        timed), then those whose fields it lacks."""
        name = self.table.name
        timed = sorted({m for d in demands if d.timed for m in d.metrics})
        if timed:
            raise AdapterError(f"{', '.join(timed)} time the model's calls, but {name} holds outputs made "
                               "elsewhere (nothing was timed here); gate efficiency metrics in a thresholds file "
                               "whose model runs")
        if not refused:
            return
        demand = refused[0]
        needed = ", or ".join(_fields(c) for c in demand.accepts)
        has = ", ".join(self.table.present()) or "no prediction field"
        ignored = ""
        if self.table.ignored:
            hints = "".join(did_you_mean(k, (*NEEDS_FIELDS,)) for k in self.table.ignored[:1])
            ignored = f" (and keys it ignores: {', '.join(self.table.ignored[:5])}{hints})"
        verb = "needs" if len(demand.metrics) == 1 else "need"
        raise AdapterError(f"{', '.join(demand.metrics)} {verb} {needed} in {name}, which has {has}{ignored}")

    def load(self, chosen: Collection[str]) -> Built:
        """Every capability the file serves, whatever was chosen, sharing one table (aligned to the suites
        by ``check_suites``): the outputs a file holds are what its model produced, so a file with answers
        and embeddings serves VQA by its answers, as a VQA model would, never by ranking."""
        served = Served(self.table)
        made: dict[str, Any] = {ENCODER: PredictedEncoder(served), CAPTIONER: PredictedCaptioner(served),
                                ANSWERER: PredictedAnswerer(served), CLASSIFIER: PredictedClassifier(served)}
        wanted = {c: made[c] if c in self.serves else None for c in CAPABILITIES}
        return Built(self.model_id, encoder=wanted[ENCODER], captioner=wanted[CAPTIONER],
                     answerer=wanted[ANSWERER], classifier=wanted[CLASSIFIER], sha256=self.table.sha256)


NEEDS_FIELDS = tuple(f for groups in NEEDS.values() for group in groups for f in group)


def model_id(model: ModelConfig) -> str:
    """``model.options.model_id``: required, a non-empty string; other options are refused."""
    unknown = [k for k in model.options if k not in OPTIONS]
    if unknown:
        raise AdapterError(f"model.options.{unknown[0]}: not an option of adapter predictions"
                           f"{did_you_mean(unknown[0], OPTIONS)}; it takes model_id (the model and serving stack "
                           "that wrote the file, e.g. 'llava-1.5-7b@vllm-2026-11')")
    value = model.options.get("model_id")
    if not isinstance(value, str) or not value.strip():
        got = "nothing" if value is None else repr(value)
        raise AdapterError(f"model.options.model_id: adapter predictions needs the id of the model that wrote "
                           f"{model.checkpoint} (e.g. model_id: llava-1.5-7b@vllm-2026-11), got {got}; it is "
                           "recorded with the file's sha256 as the checkpoint")
    return value.strip()


class PredictionsBackend:
    """Opens ``model.checkpoint`` as a predictions file (reading it whole, every value checked)."""

    def open(self, model: ModelConfig, device: torch.device) -> PredictionsOffer:
        """Read and check the file; ``model.options.model_id`` is required."""
        identity = model_id(model)
        try:
            table = read_predictions(Path(model.checkpoint))
        except AdapterError as exc:
            raise AdapterError(f"model.checkpoint: {exc}") from None
        return PredictionsOffer(table, identity)


BACKEND = PredictionsBackend()
