"""VQA accuracy as the official VQA v2 evaluation computes it (DESIGN.md §4).

Reference: GT-Vision-Lab/VQA, ``PythonEvaluationTools/vqaEvaluation/vqaEval.py`` at its
current master (commit a013f00, "Fixed processing answers bug", 2021-03-11). For each of
the 10 human answers, leave it out and score ``min(1, matches among the other 9 / 3)``;
the sample's accuracy is the mean of the 10 scores (1 match = 0.3, 2 = 0.6, 3 = 0.9,
4 or more = 1.0). The suite value is the mean over samples.

Normalisation, ``normalisation: official`` (the default) reproduces that code:

- both the prediction and the human answers: newlines and tabs become spaces, then
  ``strip``;
- when the human answers (so cleaned) are **not unanimous**, both sides then go through
  ``process_punctuation`` and ``process_digit_article`` (lower case, number words to
  digits, articles dropped, contractions restored);
- when they are unanimous, neither side is normalised further: ``"two"`` matches ten
  ``"two"`` (1.0), ``"2"`` or ``"Two"`` does not (0.0);
- answers compare by exact string equality (case-sensitive).

``normalisation: official-2016`` keeps the revision before that fix (commit 458a8b2,
2016-10-08, the code on master until 2021): the prediction always went through
both steps, the human answers only through ``process_punctuation`` and only when not
unanimous (and were never stripped). It scores 0 when a prediction equals ten unanimous
human answers that are number words or carry an article (``"two"``, ``"a dog"``). It is
kept only to reproduce numbers published with that code.

The tables and regular expressions are the official ones, quirks included: the
period regex's ``(?!<=\\d)`` is a lookahead, not a lookbehind; its ``re.UNICODE``
argument lands in ``count`` (at most 32 periods are removed); capitalised
contraction keys (``"Im"``) never match lower-cased text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any, ClassVar, Protocol

import numpy as np

from qa_gate.metrics.base import Metric, prompt_problem

ANSWERS_PER_QUESTION = 10
RANKING_PROMPT = "{answer}"
"""How a dual encoder ranking candidate answers writes each one (``{question}`` may appear too)."""
NORMALISATIONS = ("official", "official-2016")
RETIRED: Mapping[str, str] = MappingProxyType({
    "symmetric": "what 'official' now computes (the official code since 2021); write normalisation: official",
})
"""Normalisation names that existed once, with what to write instead."""
RULES: Mapping[str, str] = MappingProxyType({
    "official": "both sides stripped; both sides punctuation, digits, articles and contractions when the human "
                "answers are not unanimous, neither when they are",
    "official-2016": "prediction always; human answers punctuation only, when not unanimous",
})
"""What each normalisation does to which side, as the definition records it."""
REFERENCES: Mapping[str, str] = MappingProxyType({
    "official": "a013f00 (2021-03-11, master)", "official-2016": "458a8b2 (2016-10-08)"})
"""The official code's commit each normalisation reproduces."""

CONTRACTIONS: Mapping[str, str] = MappingProxyType({
    "aint": "ain't", "arent": "aren't", "cant": "can't", "couldve": "could've", "couldnt": "couldn't",
    "couldn'tve": "couldn't've", "couldnt've": "couldn't've", "didnt": "didn't", "doesnt": "doesn't",
    "dont": "don't", "hadnt": "hadn't", "hadnt've": "hadn't've", "hadn'tve": "hadn't've",
    "hasnt": "hasn't", "havent": "haven't", "hed": "he'd", "hed've": "he'd've", "he'dve": "he'd've",
    "hes": "he's", "howd": "how'd", "howll": "how'll", "hows": "how's", "Id've": "I'd've",
    "I'dve": "I'd've", "Im": "I'm", "Ive": "I've", "isnt": "isn't", "itd": "it'd", "itd've": "it'd've",
    "it'dve": "it'd've", "itll": "it'll", "let's": "let's", "maam": "ma'am", "mightnt": "mightn't",
    "mightnt've": "mightn't've", "mightn'tve": "mightn't've", "mightve": "might've",
    "mustnt": "mustn't", "mustve": "must've", "neednt": "needn't", "notve": "not've",
    "oclock": "o'clock", "oughtnt": "oughtn't", "ow's'at": "'ow's'at", "'ows'at": "'ow's'at",
    "'ow'sat": "'ow's'at", "shant": "shan't", "shed've": "she'd've", "she'dve": "she'd've",
    "she's": "she's", "shouldve": "should've", "shouldnt": "shouldn't", "shouldnt've": "shouldn't've",
    "shouldn'tve": "shouldn't've", "somebody'd": "somebodyd", "somebodyd've": "somebody'd've",
    "somebody'dve": "somebody'd've", "somebodyll": "somebody'll", "somebodys": "somebody's",
    "someoned": "someone'd", "someoned've": "someone'd've", "someone'dve": "someone'd've",
    "someonell": "someone'll", "someones": "someone's", "somethingd": "something'd",
    "somethingd've": "something'd've", "something'dve": "something'd've",
    "somethingll": "something'll", "thats": "that's", "thered": "there'd", "thered've": "there'd've",
    "there'dve": "there'd've", "therere": "there're", "theres": "there's", "theyd": "they'd",
    "theyd've": "they'd've", "they'dve": "they'd've", "theyll": "they'll", "theyre": "they're",
    "theyve": "they've", "twas": "'twas", "wasnt": "wasn't", "wed've": "we'd've", "we'dve": "we'd've",
    "weve": "we've", "werent": "weren't", "whatll": "what'll", "whatre": "what're", "whats": "what's",
    "whatve": "what've", "whens": "when's", "whered": "where'd", "wheres": "where's",
    "whereve": "where've", "whod": "who'd", "whod've": "who'd've", "who'dve": "who'd've",
    "wholl": "who'll", "whos": "who's", "whove": "who've", "whyll": "why'll", "whyre": "why're",
    "whys": "why's", "wont": "won't", "wouldve": "would've", "wouldnt": "wouldn't",
    "wouldnt've": "wouldn't've", "wouldn'tve": "wouldn't've", "yall": "y'all", "yall'll": "y'all'll",
    "y'allll": "y'all'll", "yall'd've": "y'all'd've", "y'alld've": "y'all'd've",
    "y'all'dve": "y'all'd've", "youd": "you'd", "youd've": "you'd've", "you'dve": "you'd've",
    "youll": "you'll", "youre": "you're", "youve": "you've",
})
"""The official ``contractions`` table, verbatim (including ``"somebody'd": "somebodyd"``)."""

NUMBER_WORDS: Mapping[str, str] = MappingProxyType({
    "none": "0", "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5",
    "six": "6", "seven": "7", "eight": "8", "nine": "9", "ten": "10",
})
"""The official ``manualMap`` (note ``"none" -> "0"``)."""

ARTICLES = frozenset({"a", "an", "the"})
PUNCTUATION = (";", "/", "[", "]", '"', "{", "}", "(", ")", "=", "+", "\\", "_", "-",
               ">", "<", "@", "`", ",", "?", "!")
"""The official ``punct`` list, in its order (order matters: replacements chain)."""

PERIOD_STRIP = re.compile(r"(?!<=\d)(\.)(?!\d)")
COMMA_STRIP = re.compile(r"(\d)(\,)(\d)")
PERIOD_STRIP_COUNT = int(re.UNICODE)
"""The official ``periodStrip.sub("", text, re.UNICODE)`` passes the flag as ``count`` (32)."""


class VQAInputs(Protocol):
    """What VQA accuracy reads: one generated answer and 10 human answers per sample.

    A runner may also offer ``question_types()`` / ``answer_types()`` (one string per
    sample) for ``accuracy_by_type``; the metric itself does not read them.
    """

    sample_ids: tuple[str, ...]

    def predictions(self) -> list[str]:
        """The model's answer to each sample's question."""
        ...

    def answers(self) -> list[list[str]]:
        """The 10 human answers of each sample, in annotation order."""
        ...


def process_punctuation(text: str) -> str:
    """The official ``processPunctuation``: drop or space out punctuation, strip periods.

    A mark is deleted when it touches a space somewhere in ``text`` (or when ``text``
    holds a digit-comma-digit group), otherwise it becomes a space.
    """
    out = text
    for mark in PUNCTUATION:
        if (mark + " " in text or " " + mark in text) or COMMA_STRIP.search(text) is not None:
            out = out.replace(mark, "")
        else:
            out = out.replace(mark, " ")
    return PERIOD_STRIP.sub("", out, count=PERIOD_STRIP_COUNT)


def process_digit_article(text: str) -> str:
    """The official ``processDigitArticle``: lower case, number words to digits, no articles,
    then contractions restored word by word; words joined by single spaces."""
    words = [NUMBER_WORDS.get(word, word) for word in text.lower().split()]
    return " ".join(CONTRACTIONS.get(word, word) for word in words if word not in ARTICLES)


def normalise(text: str) -> str:
    """Both official steps: ``process_digit_article(process_punctuation(text))``."""
    return process_digit_article(process_punctuation(text))


def _clean(text: str) -> str:
    return text.replace("\n", " ").replace("\t", " ").strip()


def normalisation_problem(mode: Any) -> str | None:
    """Why ``mode`` is not a known normalisation (``None`` when it is), as a problem string."""
    if mode in NORMALISATIONS:
        return None
    retired = RETIRED.get(mode) if isinstance(mode, str) else None
    if retired is not None:
        return f"normalisation: {mode!r} is {retired}"
    return f"normalisation: expected {' or '.join(NORMALISATIONS)}, got {mode!r}"


def vqa_accuracy(prediction: str, answers: Sequence[str], normalisation: str = "official") -> float:
    """One sample's accuracy: the mean over the 10 leave-one-out subsets of
    ``min(1, matches / 3)``, summed in answer order as the official code does."""
    if normalisation == "official":
        predicted, humans = _clean(prediction), [_clean(a) for a in answers]
        if len(set(humans)) > 1:
            predicted, humans = normalise(predicted), [normalise(a) for a in humans]
    elif normalisation == "official-2016":
        predicted = normalise(_clean(prediction))
        humans = list(answers)
        if len(set(humans)) > 1:
            humans = [process_punctuation(a) for a in humans]
    else:
        raise ValueError(f"vqa_accuracy: {normalisation_problem(normalisation)}")
    hits = [human == predicted for human in humans]
    total = sum(hits)
    scores = [min(1.0, (total - hit) / 3) for hit in hits]
    return sum(scores) / len(scores)


def accuracy_by_type(stats: np.ndarray, types: Sequence[str]) -> dict[str, float]:
    """Mean per-sample accuracy grouped by question or answer type, types sorted."""
    values = np.asarray(stats, dtype=np.float64)[:, 0]
    if len(types) != len(values):
        raise ValueError(f"got {len(types)} types for {len(values)} samples")
    keys = np.asarray(types, dtype=object)
    return {t: float(values[keys == t].mean()) for t in sorted(set(types))}


class VQAAccuracy(Metric[VQAInputs]):
    """Official VQA v2 accuracy: leave-one-out over 10 human answers, mean over samples."""

    name: ClassVar[str] = "vqa_accuracy"
    version: ClassVar[int] = 2
    """2: ``official`` follows the official code's 2021 fix (version 1 scored its 2016 revision)."""
    params: ClassVar[Mapping[str, Any]] = {"normalisation": "official", "prompt": RANKING_PROMPT}
    needs: ClassVar[tuple[str, ...]] = ("question", "answers")
    family: ClassVar[str] = "vqa"
    mean_sufficient: ClassVar[bool] = True

    def check_params(self, params: Mapping[str, Any]) -> str | None:
        """``normalisation`` is a known mode; the ranking ``prompt`` places ``{answer}`` (and may place
        ``{question}``)."""
        problem = normalisation_problem(params.get("normalisation", self.params["normalisation"]))
        if problem is not None:
            return problem
        return prompt_problem(params.get("prompt", RANKING_PROMPT), "answer", ("answer", "question"))

    def sample_problem(self, sample: Any, params: Mapping[str, Any]) -> str | None:
        """Refuses VQA ``choices`` none of which matches a human answer under the ``normalisation``:
        ranking them could never score above 0."""
        mode = params.get("normalisation", self.params["normalisation"])
        if not sample.choices or sample.answers is None or len(sample.answers) != ANSWERS_PER_QUESTION:
            return None
        if any(vqa_accuracy(choice, sample.answers, mode) > 0 for choice in sample.choices):
            return None
        return (f"has choices {list(sample.choices)} but no choice matches any human answer "
                f"{list(dict.fromkeys(sample.answers))} (normalisation {mode!r}), so every choice "
                "scores 0; expected at least one choice that matches a human answer")

    def definition(self, params: Mapping[str, Any], scorer: str) -> dict[str, Any]:
        """The official leave-one-out rule and which normalisation is applied to which side."""
        mode = params.get("normalisation", self.params["normalisation"])
        reference = REFERENCES.get(mode, "")
        return {**super().definition(params, scorer),
                "reference": f"GT-Vision-Lab/VQA vqaEval.py {reference} (VQA v2), leave-one-out over 10 answers",
                "normalisation_rule": RULES.get(mode, ""), "match": "exact string", "aggregate": "mean"}

    def per_sample(self, inputs: VQAInputs, params: Mapping[str, Any]) -> np.ndarray:
        """One column: each sample's accuracy in [0, 1]."""
        mode = params.get("normalisation", self.params["normalisation"])
        if mode not in NORMALISATIONS:
            raise ValueError(f"vqa_accuracy: {normalisation_problem(mode)}")
        ids = inputs.sample_ids
        predictions, answers = list(inputs.predictions()), list(inputs.answers())
        if len(predictions) != len(ids) or len(answers) != len(ids):
            raise ValueError(f"vqa_accuracy: {len(ids)} samples but {len(predictions)} predictions "
                             f"and {len(answers)} answer lists")
        values = np.empty((len(ids), 1))
        for row, (sample_id, prediction, humans) in enumerate(zip(ids, predictions, answers)):
            humans = list(humans)
            if len(humans) != ANSWERS_PER_QUESTION:
                raise ValueError(f"sample '{sample_id}': vqa_accuracy needs exactly "
                                 f"{ANSWERS_PER_QUESTION} human answers, got {len(humans)}")
            if not isinstance(prediction, str) or not all(isinstance(a, str) for a in humans):
                raise ValueError(f"sample '{sample_id}': the prediction and answers must be strings")
            values[row, 0] = vqa_accuracy(prediction, humans, mode)
        return values
