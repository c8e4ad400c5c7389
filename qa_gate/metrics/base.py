"""The metric contract: per-sample sufficient statistics plus an aggregate over rows."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Generic, Protocol, TypeVar

import numpy as np


class AlignmentInputs(Protocol):
    """What an image-text alignment metric reads, computed lazily by the runner.

    Embeddings are L2-normalised float32 numpy arrays (read-only: a suite keeps each one
    once). Text embeddings are cached per prompt prefix, so metrics sharing a prefix encode
    the texts once and read the same matrix; a reference many samples share is one row.
    """

    sample_ids: tuple[str, ...]

    def image_embeddings(self) -> np.ndarray:
        """``[n, d]``: one row per sample."""
        ...

    def caption_embeddings(self, prefix: str) -> np.ndarray:
        """``[n, d]``: ``prefix + caption`` of every sample."""
        ...

    def reference_rows(self, prefix: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``([k, d], owner[m], which[m])``: the distinct references, and for each of the ``m`` references (in
        sample order) the index of its sample and its row among the ``k``."""
        ...

    def reference_embeddings(self, prefix: str) -> tuple[np.ndarray, np.ndarray]:
        """``([m, d], owner[m])``: every reference, a row each, with the index of its sample."""
        ...


InputsT = TypeVar("InputsT")
"""What a metric reads: its family's view (``AlignmentInputs``, ``RetrievalInputs``, ...)."""


class Metric(Generic[InputsT]):
    """Base class: subclasses set the class attributes and implement ``per_sample``.

    ``Metric[RetrievalInputs]`` reads a ``RetrievalInputs``: each family types its own inputs.

    ``params`` holds the definition parameters a user may set in ``thresholds.yaml``
    with their defaults; anything that changes a value goes into ``definition``
    and hence the fingerprint.
    """

    name: ClassVar[str]
    higher_is_better: ClassVar[bool] = True
    params: ClassVar[Mapping[str, Any]] = {}
    columns: ClassVar[tuple[str, ...]] = ("value",)
    version: ClassVar[int] = 1
    needs: ClassVar[tuple[str, ...]] = ()
    """Sample fields the metric reads (``"caption"``, ``"references"``, ``"tag:{param}"`` for the tag a param names)."""
    mean_sufficient: ClassVar[bool] = False
    """True when ``aggregate(stats)`` depends only on the mean of the rows (a mean, or a ratio of
    sums): the bootstrap then aggregates each resample's mean row instead of gathering all rows."""
    family: ClassVar[str] = "alignment"
    """Which inputs the runner builds for it: ``alignment``, ``retrieval``, ``zeroshot``, ``efficiency``
    (a dual encoder), ``caption``, ``ocr`` (an image-to-text model), ``scored_caption`` (an
    image-to-text model's captions scored by the fixed ``scorer`` dual encoder), ``vqa`` (a VQA model, or a dual
    encoder ranking answers), ``multilabel`` (a multilabel classifier, or a dual encoder scoring prompts),
    ``pope`` (yes/no object questions: a VQA model, or a dual encoder ranking objects) or ``chair`` (an
    image-to-text model's captions against the sample's ``objects``); ``qa_gate.scoring.families`` lists them all."""

    def family_for(self, params: Mapping[str, Any]) -> str:
        """The family these ``params`` put the metric in (``family`` unless a parameter changes it)."""
        return self.family

    def needs_for(self, params: Mapping[str, Any]) -> tuple[str, ...]:
        """The sample fields the metric reads with these ``params`` (``needs``, formatted)."""
        return tuple(need.format(**params) for need in self.needs)

    def sample_problem(self, sample: Any, params: Mapping[str, Any]) -> str | None:
        """Why a golden sample that has every field in ``needs`` still cannot be scored (``None`` when it can)."""
        return None

    def suite_problem(self, samples: Sequence[Any], params: Mapping[str, Any]) -> str | None:
        """Why a suite whose every sample can be scored still gives no meaningful value (``None`` when it
        does): zero-shot top-k over k classes or fewer is 1 for any model."""
        return None

    def check_params(self, params: Mapping[str, Any]) -> str | None:
        """What is wrong with ``params`` beyond their types (``None`` when nothing is); config loading reports it."""
        return None

    def definition(self, params: Mapping[str, Any], scorer: str) -> dict[str, Any]:
        """Everything that changes this metric's value, as plain JSON data."""
        return {
            "metric": self.name,
            "version": self.version,
            "scorer": scorer,
            **{k: params.get(k, v) for k, v in self.params.items()},
        }

    def per_sample(self, inputs: InputsT, params: Mapping[str, Any]) -> np.ndarray:
        """``[n, k]`` sufficient statistics, one row per sample, vectorised over the suite."""
        raise NotImplementedError

    def aggregate(self, stats: np.ndarray) -> np.ndarray:
        """Aggregate over the sample axis (``-2``) of ``stats`` shaped ``[..., n, k]``.

        Leading axes are kept, so a bootstrap can pass ``[b, n, k]`` at once.
        The default is the mean of the first column.
        """
        return np.asarray(stats, dtype=np.float64)[..., 0].mean(axis=-1)

    def sample_values(self, stats: np.ndarray) -> np.ndarray:
        """The per-sample value a report shows (the first column by default)."""
        return np.asarray(stats, dtype=np.float64)[:, 0]


def prompt_problem(prompt: Any, required: str, allowed: tuple[str, ...]) -> str | None:
    """Why ``prompt`` is not a usable template (``None`` when it is), as a problem string.

    A usable template is a string that places ``{required}``, uses no field outside
    ``allowed``, and can be filled in with text for every allowed field: a conversion
    other than ``!s``/``!r``/``!a``, a format spec that does not apply to text
    (``{label:d}``) or a nested field in a format spec (``{label:>{w}}``) is refused
    here, when the config loads, rather than once the model has loaded.
    """
    import string

    if not isinstance(prompt, str):
        return f"prompt: expected a string, got {prompt!r}"
    try:
        fields = {name for _, name, _, _ in string.Formatter().parse(prompt) if name is not None}
    except ValueError as exc:
        return f"prompt: {prompt!r} is not a valid template ({exc}); write literal braces as '{{{{' and '}}}}'"
    unknown = sorted(fields - set(allowed))
    places = " and ".join(f"{{{name}}}" for name in allowed)
    if unknown or required not in fields:
        return f"prompt: expected a template with {{{required}}} (it may use {places}), got {prompt!r}"
    try:
        prompt.format(**{name: "x" for name in allowed})
    except KeyError as exc:
        reason = f"a format spec uses the unknown field {{{exc.args[0]}}}"
    except IndexError:
        reason = "a format spec uses a positional field {}"
    except (ValueError, TypeError, AttributeError) as exc:
        reason = str(exc)
    else:
        return None
    return (f"prompt: {prompt!r} cannot be filled in with text ({reason}); expected {places} written plainly, "
            f"or with a conversion (!s, !r, !a) or a format spec for text such as {{{required}:>12}}")


def fingerprint(definition: Mapping[str, Any]) -> str:
    """A short, stable hash of a metric definition."""
    blob = json.dumps(definition, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]
