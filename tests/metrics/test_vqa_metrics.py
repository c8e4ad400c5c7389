"""VQA accuracy against hand computations and an independent transcription of the official loop."""

from __future__ import annotations

import random
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qa_gate.metrics.base import fingerprint, prompt_problem
from qa_gate.metrics.vqa import (
    CONTRACTIONS,
    VQAAccuracy,
    accuracy_by_type,
    process_digit_article,
    process_punctuation,
    vqa_accuracy,
)

# --- reference: GT-Vision-Lab/VQA PythonEvaluationTools/vqaEvaluation/vqaEval.py, transcribed loop by
# loop at master (a013f00, "Fixed processing answers bug", 2021) and at the revision before it (458a8b2,
# 2016); only the contractions table is shared with the module under test.
REF_PERIOD = re.compile("(?!<=\\d)(\\.)(?!\\d)")
REF_COMMA = re.compile("(\\d)(\\,)(\\d)")
REF_PUNCT = [';', r"/", '[', ']', '"', '{', '}', '(', ')', '=', '+', '\\', '_', '-',
             '>', '<', '@', '`', ',', '?', '!']
REF_MANUAL = {'none': '0', 'zero': '0', 'one': '1', 'two': '2', 'three': '3', 'four': '4',
              'five': '5', 'six': '6', 'seven': '7', 'eight': '8', 'nine': '9', 'ten': '10'}
REF_ARTICLES = ['a', 'an', 'the']


def ref_punctuation(inText):
    outText = inText
    for p in REF_PUNCT:
        if (p + ' ' in inText or ' ' + p in inText) or (re.search(REF_COMMA, inText) is not None):
            outText = outText.replace(p, '')
        else:
            outText = outText.replace(p, ' ')
    outText = REF_PERIOD.sub("", outText, re.UNICODE)
    return outText


def ref_digit_article(inText):
    manual = dict(REF_MANUAL)
    outText = []
    for word in inText.lower().split():
        word = manual.setdefault(word, word)
        if word not in REF_ARTICLES:
            outText.append(word)
    for wordId, word in enumerate(outText):
        if word in CONTRACTIONS:
            outText[wordId] = CONTRACTIONS[word]
    return ' '.join(outText)


def _gts(answers):
    return {'answers': [{'answer': a, 'answer_confidence': 'yes', 'answer_id': i + 1}
                        for i, a in enumerate(answers)]}


def _leave_one_out(gts, resAns):
    gtAcc = []
    for gtAnsDatum in gts['answers']:
        otherGTAns = [item for item in gts['answers'] if item != gtAnsDatum]
        matchingAns = [item for item in otherGTAns if item['answer'] == resAns]
        acc = min(1, float(len(matchingAns)) / 3)
        gtAcc.append(acc)
    return float(sum(gtAcc)) / len(gtAcc)


def official_accuracy(prediction, answers):
    """The evaluate() body for one question at master (2021); answers are dicts with distinct answer_id."""
    gts = _gts(answers)
    for ansDic in gts['answers']:
        ansDic['answer'] = ansDic['answer'].replace('\n', ' ')
        ansDic['answer'] = ansDic['answer'].replace('\t', ' ')
        ansDic['answer'] = ansDic['answer'].strip()
    resAns = prediction
    resAns = resAns.replace('\n', ' ')
    resAns = resAns.replace('\t', ' ')
    resAns = resAns.strip()
    gtAnswers = [ans['answer'] for ans in gts['answers']]
    if len(set(gtAnswers)) > 1:
        for ansDic in gts['answers']:
            ansDic['answer'] = ref_punctuation(ansDic['answer'])
            ansDic['answer'] = ref_digit_article(ansDic['answer'])
        resAns = ref_punctuation(resAns)
        resAns = ref_digit_article(resAns)
    return _leave_one_out(gts, resAns)


def official_accuracy_2016(prediction, answers):
    """The evaluate() body for one question at 458a8b2 (2016), before the 2021 fix."""
    gts = _gts(answers)
    resAns = prediction
    resAns = resAns.replace('\n', ' ')
    resAns = resAns.replace('\t', ' ')
    resAns = resAns.strip()
    resAns = ref_punctuation(resAns)
    resAns = ref_digit_article(resAns)
    gtAnswers = [ans['answer'] for ans in gts['answers']]
    if len(set(gtAnswers)) > 1:
        for ansDic in gts['answers']:
            ansDic['answer'] = ref_punctuation(ansDic['answer'])
    return _leave_one_out(gts, resAns)


class Inputs:
    def __init__(self, predictions, answers):
        self._predictions, self._answers = predictions, answers
        self.sample_ids = tuple(f"q{i}" for i in range(len(predictions)))

    def predictions(self):
        return list(self._predictions)

    def answers(self):
        return [list(a) for a in self._answers]


def humans(match: str, m: int, other: str = "other") -> list[str]:
    return [match] * m + [f"{other}{i}" for i in range(10 - m)]


@pytest.mark.parametrize(("m", "expected"), [(0, 0.0), (1, 0.3), (2, 0.6), (3, 0.9), (4, 1.0), (10, 1.0)])
def test_leave_one_out_values(m: int, expected: float) -> None:
    # m matching answers: each matching one left out sees m-1 matches, each other one m.
    # 1: (1*0 + 9*(1/3))/10 = 0.3;  2: (2*(1/3) + 8*(2/3))/10 = 0.6
    # 3: (3*(2/3) + 7*1)/10 = 0.9 (not min(3/3, 1) = 1);  4: (4*1 + 6*1)/10 = 1.0
    # The official float sums come out exactly at these decimals (checked against the loop).
    value = vqa_accuracy("cat", humans("cat", m))
    assert value == official_accuracy("cat", humans("cat", m))
    assert value == pytest.approx(expected, abs=1e-12)
    assert value == expected


def test_metric_rows_and_mean() -> None:
    inputs = Inputs(["cat", "cat", "dog"], [humans("cat", 1), humans("cat", 3), humans("cat", 4)])
    metric = VQAAccuracy()
    stats = metric.per_sample(inputs, {"normalisation": "official"})
    assert stats.shape == (3, 1)
    assert stats[:, 0].tolist() == [0.3, 0.9, 0.0]
    assert float(metric.aggregate(stats)) == pytest.approx(0.4, abs=1e-12)
    assert metric.aggregate(np.stack([stats, stats[[1, 1, 1]]])).tolist() == pytest.approx([0.4, 0.9])


def test_unanimous_humans_leave_both_sides_as_written() -> None:
    # Master: unanimous humans, so neither side is normalised beyond newlines, tabs and outer blanks.
    for prediction, answers in [("two", ["two"] * 10), ("a dog", ["a dog"] * 10), ("Yes", ["Yes"] * 10),
                                ("yes.", ["yes."] * 10), (" yes\t", ["yes "] * 10)]:
        assert vqa_accuracy(prediction, answers) == 1.0 == official_accuracy(prediction, answers)
    for prediction, answers in [("2", ["two"] * 10), ("dog", ["a dog"] * 10), ("yes", ["Yes"] * 10),
                                ("  YES.\n", ["yes"] * 10)]:
        assert vqa_accuracy(prediction, answers) == 0.0 == official_accuracy(prediction, answers)


def test_official_2016_normalises_the_prediction_only() -> None:
    # The 2016 revision: the prediction always normalised, so number words and articles never match
    # unanimous humans who wrote them; "Yes" can never be matched (the prediction is lower-cased).
    for prediction, answers, expected in [("two", ["two"] * 10, 0.0), ("a dog", ["a dog"] * 10, 0.0),
                                          ("Yes", ["Yes"] * 10, 0.0), ("yes.", ["yes."] * 10, 0.0),
                                          ("  YES.\n", ["yes"] * 10, 1.0), ("2", humans("two", 3), 0.0),
                                          ("dog", humans("a dog", 3), 0.0), ("two", humans("2", 3), 0.9)]:
        assert vqa_accuracy(prediction, answers, "official-2016") == expected
        assert official_accuracy_2016(prediction, answers) == expected


def test_official_normalisation_quirks() -> None:
    assert process_punctuation("red-white") == "red white"
    assert process_punctuation("red - white") == "red  white"
    assert process_punctuation("1,000.5 yes.") == "1000.5 yes"
    assert process_punctuation("it's") == "it's"  # the apostrophe is not in the list
    assert process_punctuation("." * 40) == "." * 8  # re.UNICODE lands in count: 32 removed
    assert process_digit_article("Im at the ten") == "im at 10"  # "Im" key is capitalised
    assert process_digit_article("somebody'd") == "somebodyd"
    assert len(CONTRACTIONS) == 120


def test_wrong_answer_count_names_the_sample() -> None:
    inputs = Inputs(["cat", "cat"], [humans("cat", 3), ["cat"] * 9])
    with pytest.raises(ValueError, match=r"sample 'q1'.*exactly 10 human answers, got 9"):
        VQAAccuracy().per_sample(inputs, {"normalisation": "official"})


def test_bad_normalisation_and_non_string() -> None:
    with pytest.raises(ValueError, match="normalisation: expected official or official-2016, got 'loose'"):
        VQAAccuracy().per_sample(Inputs(["a"], [humans("a", 3)]), {"normalisation": "loose"})
    assert VQAAccuracy().check_params({"normalisation": "symmetric"}) == (
        "normalisation: 'symmetric' is what 'official' now computes (the official code since 2021); "
        "write normalisation: official")
    with pytest.raises(ValueError, match="sample 'q0'.*strings"):
        VQAAccuracy().per_sample(Inputs([None], [humans("a", 3)]), {"normalisation": "official"})


def test_definition_records_the_rule() -> None:
    metric = VQAAccuracy()
    official = metric.definition({"normalisation": "official"}, "candidate")
    assert "leave-one-out" in official["reference"]
    assert official["normalisation"] == "official"
    assert "a013f00" in official["reference"] and official["version"] == 2
    assert "not unanimous" in official["normalisation_rule"]
    old = metric.definition({"normalisation": "official-2016"}, "candidate")
    assert "458a8b2" in old["reference"] and "prediction always" in old["normalisation_rule"]
    assert fingerprint(official) != fingerprint(old)
    # Version 1 scored the 2016 rule under the name "official": such a baseline reads as incomparable.
    assert fingerprint(official) != fingerprint({**official, "version": 1})


def test_accuracy_by_type() -> None:
    stats = np.array([[0.3], [0.9], [1.0]])
    assert accuracy_by_type(stats, ["yes/no", "number", "yes/no"]) == pytest.approx(
        {"number": 0.9, "yes/no": 0.65})


VOCAB = ["2", "two", "Two", "dog", "a dog", "the dog", "Dog.", "dog?", "dont", "don't", "yes", "Yes",
         "yes.", "none", "0", "1,000", "1000", "3.5", "red-white", "red white", "red - white", "hi!",
         "it's", "its", " dog\t", "no", "an apple", "apple", "Im", "im", "...", "", "a", "(b)", "b"]


def test_matches_official_loop_on_random_inputs() -> None:
    rng = random.Random(1234)
    for _ in range(3000):
        pool = rng.sample(VOCAB, rng.randint(1, 4))
        answers = [rng.choice(pool) for _ in range(10)]
        prediction = rng.choice(VOCAB + pool * 3)
        if rng.random() < 0.3:
            prediction = rng.choice(["", " ", "\n"]) + prediction + rng.choice(["", "\t", " ."])
        expected = official_accuracy(prediction, answers)
        assert vqa_accuracy(prediction, answers) == expected, (prediction, answers)
        expected = official_accuracy_2016(prediction, answers)
        assert vqa_accuracy(prediction, answers, "official-2016") == expected, (prediction, answers)


# A prediction (maybe padded with the blanks / trailing period the official code strips) and
# 10 answers drawn from a small pool, so matches, case, punctuation and number words all occur.
_DECORATED = st.tuples(st.sampled_from(["", " ", "\n"]), st.sampled_from(["", "\t", " ."]))
VQA_SAMPLE = st.lists(st.sampled_from(VOCAB), min_size=1, max_size=4).flatmap(
    lambda pool: st.tuples(
        st.tuples(_DECORATED, st.sampled_from(pool) | st.sampled_from(VOCAB)).map(lambda t: t[0][0] + t[1] + t[0][1]),
        st.lists(st.sampled_from(pool), min_size=10, max_size=10)))


@settings(max_examples=80, deadline=None)
@given(samples=st.lists(VQA_SAMPLE, min_size=1, max_size=10), data=st.data())
def test_resampled_aggregate_equals_official_loop_on_resampled_inputs(samples, data) -> None:
    predictions, answers = [p for p, _ in samples], [a for _, a in samples]
    metric = VQAAccuracy()
    stats = metric.per_sample(Inputs(predictions, answers), {"normalisation": "official"})
    n = len(samples)
    rows = data.draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=15), label="rows")
    expected = [official_accuracy(predictions[i], answers[i]) for i in rows]
    assert float(metric.aggregate(stats[rows])) == pytest.approx(sum(expected) / len(expected), abs=1e-12)
    # A batch of resamples at once: leading axes [b, m] are kept.
    batch = np.array(data.draw(st.lists(st.lists(st.integers(0, n - 1), min_size=4, max_size=4),
                                        min_size=1, max_size=4), label="batch"))
    values = metric.aggregate(stats[batch])
    assert values.shape == (len(batch),)
    for b, row in enumerate(batch):
        expected = [official_accuracy(predictions[i], answers[i]) for i in row]
        assert values[b] == pytest.approx(sum(expected) / len(expected), abs=1e-12)


@pytest.mark.parametrize("prompt", ["{answer}", "Q: {question} A: {answer}", "a {answer!r}", "{answer:>12}",
                                    "{{literal}} {answer:.20}"])
def test_prompt_that_fills_in(prompt: str) -> None:
    assert prompt_problem(prompt, "answer", ("answer", "question")) is None
    assert VQAAccuracy().check_params({"prompt": prompt}) is None


@pytest.mark.parametrize(("prompt", "expected"), [
    (3, "prompt: expected a string, got 3"),
    ("a {answer", "prompt: 'a {answer' is not a valid template (expected '}' before end of string)"),
    ("a photo", "prompt: expected a template with {answer} (it may use {answer} and {question}), got 'a photo'"),
    ("{answer} {colour}", "prompt: expected a template with {answer}"),
    ("a {answer!x}", "prompt: 'a {answer!x}' cannot be filled in with text (Unknown conversion specifier x); "
                     "expected {answer} and {question} written plainly, or with a conversion (!s, !r, !a) or a "
                     "format spec for text such as {answer:>12}"),
    ("a {answer:d}", "(Unknown format code 'd' for object of type 'str')"),
    ("a {answer:>{w}}", "(a format spec uses the unknown field {w})"),
    ("a {answer:>{}}", "(a format spec uses a positional field {})"),
    ("a {answer:{question}}", "(Unknown format code 'x' for object of type 'str')"),
])
def test_prompt_that_cannot_fill_in(prompt: object, expected: str) -> None:
    problem = prompt_problem(prompt, "answer", ("answer", "question"))
    assert problem is not None and expected in problem
    assert problem.startswith("prompt: ") and VQAAccuracy().check_params({"prompt": prompt}) == problem
