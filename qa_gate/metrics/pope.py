"""POPE (Li et al. 2023): object-existence yes/no questions scored as the official evaluation does.

Reference: AoiDragon/POPE ``evaluate.py`` (its only revision, commit f3ec604 "Initial commit"; the
repository's head is 08d957b, 2025-08-21), lines 9-21 parse each answer and lines 36-62 count and score:

- **answer parsing** (``parse_answer``): keep the text before the first ``.`` (``text.split('.')[0]``),
  delete commas (``replace(',', '')``), split on single spaces (``split(' ')``); the answer is ``no``
  when one of the words is exactly ``No``, ``no`` or ``not`` (case-sensitive: ``NO`` and ``Not`` read
  as yes, as do ``no!`` and ``no\\n``), else ``yes``. LLaVA's ``eval_pope.py`` applies the same rule.
- **ground truth**: the sample's ``answer``, ``yes`` or ``no`` (case-insensitive, stripped); anything
  else is refused naming the sample (the official script reads every label but ``no`` as yes).
- **counts**: "yes" is the positive class. Accuracy ``(TP + TN) / n``, precision ``TP / (TP + FP)``,
  recall ``TP / (TP + FN)``, F1 ``2 P R / (P + R)`` (= ``2 TP / (2 TP + FP + FN)``), and the yes
  ratio, the share of **predicted** yes ``(TP + FP) / n`` (official line 38: ``pred_list.count(1)``;
  not the share of ground-truth yes, which is 0.5 on balanced POPE whatever the model says).
  Where the official script divides by zero (no predicted yes, no true yes) the value is 0, as
  scikit-learn's ``zero_division=0``.

Per-sample statistics are one-hot ``[tp, fp, tn, fn]`` rows, so every metric is a ratio of sums:
bootstrap resamples recount the confusion matrix (``mean_sufficient``). Slices by the tag
``pope_split`` (random, popular, adversarial) work as any tag slice.

A dual encoder answers by ranking (``qa_gate.scoring.pope_views``): ``yes`` when the queried object's
``prompt`` is among the ``top_k`` best-scoring prompts of every object the suite asks about.
The queried object is the sample's tag ``pope_object`` when set, else read from the official
question template ``Is there a/an {object} in the image?`` (``queried_object``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Protocol

import numpy as np

from qa_gate.metrics.base import Metric, prompt_problem

PROMPT = "a photo of a {object}"
"""How a dual encoder writes each object it ranks; the score is the raw cosine to the image."""
OBJECT_TAG = "pope_object"
"""A sample tag naming the queried object, for questions not in the official template."""
QUESTION = re.compile(r"\s*is there an? (?P<object>.+?) in the image\?\s*", re.IGNORECASE)
"""The official POPE question template (``main.py --template``, "an" before a vowel, ``utils.py``)."""
NO_WORDS = ("No", "not", "no")
"""The words that make an answer "no" (official ``evaluate.py`` line 18)."""
COLUMNS = ("tp", "fp", "tn", "fn")
REFERENCE = "AoiDragon/POPE evaluate.py f3ec604 (lines 9-21 parsing, 36-62 scores)"
PARSING = ("text.split('.')[0]; replace(',', ''); split(' '); 'no' when a word is 'No', 'no' or 'not', "
           "else 'yes'")


class PopeInputs(Protocol):
    """What the POPE metrics read: the model's raw answer (or ranking verdict) and the yes/no truth."""

    sample_ids: tuple[str, ...]

    def predictions(self) -> list[str]:
        """The model's answer to each sample's question (parsed by ``parse_answer``)."""
        ...

    def truths(self) -> list[str]:
        """Each sample's ground truth, ``yes`` or ``no``."""
        ...


def parse_answer(text: str) -> str:
    """``yes`` or ``no`` as the official ``evaluate.py`` (lines 12-21) reads a free-form answer."""
    first = text.split(".")[0]
    words = first.replace(",", "").split(" ")
    return "no" if any(word in NO_WORDS for word in words) else "yes"


def truth_problem(answer: Any) -> str | None:
    """Why ``answer`` is no POPE ground truth (``None`` when it is yes or no, any case, stripped)."""
    if answer is None:
        return "has no answer (POPE's ground truth: yes or no)"
    if not isinstance(answer, str) or answer.strip().lower() not in ("yes", "no"):
        return f"has answer {answer!r}; expected yes or no (POPE's ground truth)"
    return None


def truth(answer: str) -> str:
    """The ground truth ``answer`` as ``yes`` or ``no``."""
    return answer.strip().lower()


def queried_object(question: str | None, tags: Mapping[str, str]) -> str | None:
    """The object a POPE question asks about: tag ``pope_object``, else the official template's object."""
    tagged = str(tags.get(OBJECT_TAG, "")).strip()
    if tagged:
        return tagged
    found = QUESTION.fullmatch(question or "")
    return found.group("object").strip() if found else None


def confusion(predicted: Sequence[str], truths: Sequence[str], sample_ids: Sequence[str]) -> np.ndarray:
    """``[n, 4]`` one-hot ``tp, fp, tn, fn`` rows ("yes" positive) from parsed predictions and truths."""
    if not len(predicted) == len(truths) == len(sample_ids):
        raise ValueError(f"{len(sample_ids)} samples but {len(predicted)} predictions and {len(truths)} truths")
    rows = np.zeros((len(sample_ids), 4))
    for row, (sample_id, said, true) in enumerate(zip(sample_ids, predicted, truths)):
        if said not in ("yes", "no") or true not in ("yes", "no"):
            raise ValueError(f"sample '{sample_id}': expected yes or no, got prediction {said!r}, truth {true!r}")
        column = (0 if true == "yes" else 1) if said == "yes" else (2 if true == "no" else 3)
        rows[row, column] = 1.0
    return rows


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """``numerator / denominator`` element-wise, 0 where the denominator is 0."""
    return np.divide(numerator, denominator, out=np.zeros(np.shape(denominator)), where=denominator > 0)


def scores(stats: np.ndarray) -> dict[str, np.ndarray]:
    """Accuracy, precision, recall, F1 and yes ratio of ``[..., n, 4]`` rows over the sample axis."""
    sums = np.asarray(stats, dtype=np.float64).sum(axis=-2)
    tp, fp, tn, fn = (sums[..., i] for i in range(4))
    total = tp + fp + tn + fn
    return {"accuracy": _ratio(tp + tn, total), "precision": _ratio(tp, tp + fp), "recall": _ratio(tp, tp + fn),
            "f1": _ratio(2 * tp, 2 * tp + fp + fn), "yes_ratio": _ratio(tp + fp, total)}


class _Pope(Metric[PopeInputs]):
    """Shared POPE machinery; subclasses set ``name`` and ``score``."""

    score: ClassVar[str]
    params: ClassVar[Mapping[str, Any]] = {"prompt": PROMPT, "top_k": 1}
    columns: ClassVar[tuple[str, ...]] = COLUMNS
    needs: ClassVar[tuple[str, ...]] = ("question", "answer")
    family: ClassVar[str] = "pope"
    mean_sufficient: ClassVar[bool] = True  # ratios of summed counts are scale-free

    def check_params(self, params: Mapping[str, Any]) -> str | None:
        """The ranking ``prompt`` places ``{object}``; ``top_k`` is a whole number of at least 1."""
        top_k = params.get("top_k", 1)
        if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
            return f"top_k: expected a whole number of at least 1, got {top_k!r}"
        return prompt_problem(params.get("prompt", PROMPT), "object", ("object",))

    def sample_problem(self, sample: Any, params: Mapping[str, Any]) -> str | None:
        """Refuses an answer other than yes/no, and a question whose object cannot be told."""
        problem = truth_problem(sample.answer)
        if problem is not None:
            return problem
        if queried_object(sample.question, sample.tags) is None:
            return (f"has question {sample.question!r}, which is not 'Is there a/an <object> in the image?' "
                    f"(POPE's template); expected that form or a tag '{OBJECT_TAG}' naming the object")
        return None

    def definition(self, params: Mapping[str, Any], scorer: str) -> dict[str, Any]:
        """The official parsing rule, "yes" as the positive class, and the score's formula."""
        return {**super().definition(params, scorer), "reference": REFERENCE, "parsing": PARSING,
                "positive": "yes", "score": self.score, "zero_division": 0.0}

    def per_sample(self, inputs: PopeInputs, params: Mapping[str, Any]) -> np.ndarray:
        """Columns ``tp, fp, tn, fn``: one 1 per sample."""
        predicted = [parse_answer(text) for text in inputs.predictions()]
        return confusion(predicted, list(inputs.truths()), tuple(inputs.sample_ids))

    def aggregate(self, stats: np.ndarray) -> np.ndarray:
        """The score from the counts summed over the sample axis of ``[..., n, 4]``."""
        return scores(stats)[self.score]

    def sample_values(self, stats: np.ndarray) -> np.ndarray:
        """1 where the parsed answer equals the truth (TP or TN), else 0."""
        stats = np.asarray(stats, dtype=np.float64)
        return stats[:, 0] + stats[:, 2]


class PopeAccuracy(_Pope):
    """``(TP + TN) / n``."""

    name: ClassVar[str] = "pope_accuracy"
    score: ClassVar[str] = "accuracy"


class PopePrecision(_Pope):
    """``TP / (TP + FP)``: of the predicted yes, how many objects are there."""

    name: ClassVar[str] = "pope_precision"
    score: ClassVar[str] = "precision"


class PopeRecall(_Pope):
    """``TP / (TP + FN)``: of the objects there, how many were confirmed."""

    name: ClassVar[str] = "pope_recall"
    score: ClassVar[str] = "recall"


class PopeF1(_Pope):
    """``2 TP / (2 TP + FP + FN)``: the harmonic mean of precision and recall."""

    name: ClassVar[str] = "pope_f1"
    score: ClassVar[str] = "f1"


class PopeYesRatio(_Pope):
    """``(TP + FP) / n``: the share of **predicted** yes (near 0.5 on balanced POPE for an unbiased model)."""

    name: ClassVar[str] = "pope_yes_ratio"
    score: ClassVar[str] = "yes_ratio"

    def sample_values(self, stats: np.ndarray) -> np.ndarray:
        """1 where the model said yes."""
        stats = np.asarray(stats, dtype=np.float64)
        return stats[:, 0] + stats[:, 1]
