"""POPE: the official answer parsing, confusion counts by hand, scikit-learn on random data, the yes-ratio trap."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qa_gate.golden.manifest import Sample
from qa_gate.metrics.pope import (
    PopeAccuracy,
    PopeF1,
    PopePrecision,
    PopeRecall,
    PopeYesRatio,
    parse_answer,
    queried_object,
    truth_problem,
)
from qa_gate.metrics.registry import get_metric

METRICS = (PopeAccuracy(), PopePrecision(), PopeRecall(), PopeF1(), PopeYesRatio())


def official(text: str) -> str:
    """AoiDragon/POPE evaluate.py lines 10-21, verbatim but for the dict."""
    if text.find('.') != -1:
        text = text.split('.')[0]
    text = text.replace(',', '')
    words = text.split(' ')
    if 'No' in words or 'not' in words or 'no' in words:
        return 'no'
    return 'yes'


@dataclass
class Inputs:
    sample_ids: tuple[str, ...]
    said: list[str]
    true: list[str]

    def predictions(self) -> list[str]:
        return self.said

    def truths(self) -> list[str]:
        return self.true


def _inputs(said: list[str], true: list[str]) -> Inputs:
    return Inputs(tuple(f"s{i}" for i in range(len(said))), said, true)


TRICKY = ["Yes", "No", "no", "NO", "Not", "not sure", "No.", "no, there is not", "Yes. No.", "Yes, there is no doubt",
          "There is no dog.", "no!", "no\n", " no", "nope", "No,", "I do not see one", "Yes there is. not",
          "", ".", "It is not.", "yes, no", "Absolutely not", "not,", "Nothing", "no.no", "cannot"]


@pytest.mark.parametrize("text", TRICKY)
def test_parsing_follows_the_official_rule(text: str) -> None:
    assert parse_answer(text) == official(text)


def test_parsing_cases_worked_by_hand() -> None:
    # first sentence only; commas dropped; single-space words; case-sensitive No/no/not
    assert [parse_answer(t) for t in ("Yes. No.", "no, there", "NO", "Not here", "no!", "It is not.")] == \
        ["yes", "no", "yes", "yes", "yes", "no"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["No", "no", "not", "Not", "NO", "yes", "Yes", "there", ".", ",", " ", "!", "\n",
                                 "is", "a", "cat"]), max_size=12))
def test_parsing_equals_the_official_code_on_random_answers(parts: list[str]) -> None:
    text = "".join(parts)
    assert parse_answer(text) == official(text)


def test_confusion_matrix_by_hand() -> None:
    # truth  yes yes yes no  no  no  no  yes
    # said   yes no  yes yes no  no  no  yes   -> TP 3, FN 1, FP 1, TN 3
    inputs = _inputs(["Yes", "No.", "yes, it is", "Yes", "no", "There is no cat.", "not", "Yes"],
                     ["yes", "yes", "yes", "no", "no", "no", "no", "yes"])
    stats = METRICS[0].per_sample(inputs, {})
    assert stats.sum(axis=0).tolist() == [3, 1, 3, 1]  # tp, fp, tn, fn
    assert (stats.sum(axis=1) == 1).all()
    values = [float(m.aggregate(stats)) for m in METRICS]
    assert values == pytest.approx([6 / 8, 3 / 4, 3 / 4, 2 * 3 / (2 * 3 + 1 + 1), 4 / 8])


def test_metrics_equal_scikit_learn_on_random_data() -> None:
    from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score

    rng = np.random.default_rng(7)
    for trial in range(30):
        n = int(rng.integers(1, 40))
        true = list(rng.choice(["yes", "no"], n))
        said = list(rng.choice(["Yes", "No", "no, it is not", "There is one."], n))
        parsed = [official(s) for s in said]
        stats = METRICS[0].per_sample(_inputs(said, true), {})
        expected = [accuracy_score(true, parsed),
                    precision_score(true, parsed, pos_label="yes", zero_division=0),
                    recall_score(true, parsed, pos_label="yes", zero_division=0),
                    f1_score(true, parsed, pos_label="yes", zero_division=0),
                    parsed.count("yes") / n]
        assert [float(m.aggregate(stats)) for m in METRICS] == pytest.approx(expected, abs=1e-12), trial


def test_yes_ratio_counts_predicted_yes_not_ground_truth_yes() -> None:
    # balanced ground truth (half yes), a model that says yes to 9 of 10
    true = ["yes"] * 5 + ["no"] * 5
    said = ["Yes"] * 9 + ["No"]
    stats = METRICS[0].per_sample(_inputs(said, true), {})
    assert float(PopeYesRatio().aggregate(stats)) == pytest.approx(0.9)  # not the 0.5 of the ground truth
    assert float(PopeRecall().aggregate(stats)) == 1.0
    assert float(PopePrecision().aggregate(stats)) == pytest.approx(5 / 9)


def test_resamples_recount_the_confusion_matrix() -> None:
    rng = np.random.default_rng(3)
    true = list(rng.choice(["yes", "no"], 25))
    said = list(rng.choice(["yes", "no"], 25))
    stats = METRICS[0].per_sample(_inputs(said, true), {})
    draws = rng.integers(0, 25, size=(50, 25))
    for metric in METRICS:
        batched = metric.aggregate(stats[draws])
        one_by_one = [float(metric.aggregate(stats[d])) for d in draws]
        assert batched == pytest.approx(one_by_one)
        assert metric.mean_sufficient
        assert batched == pytest.approx(metric.aggregate(stats[draws].mean(axis=1, keepdims=True)))


def test_no_predicted_yes_gives_zero_precision_and_f1() -> None:
    stats = METRICS[0].per_sample(_inputs(["no", "no"], ["yes", "no"]), {})
    assert [float(m.aggregate(stats)) for m in METRICS] == [0.5, 0.0, 0.0, 0.0, 0.0]


@pytest.mark.parametrize("answer, ok", [("yes", True), ("No", True), (" YES ", True), ("maybe", False),
                                        ("yes.", False), (None, False)])
def test_ground_truth_must_be_yes_or_no(answer: str | None, ok: bool) -> None:
    problem = truth_problem(answer)
    assert (problem is None) == ok
    if not ok and answer is not None:
        assert repr(answer) in problem and "expected yes or no" in problem


def test_queried_object_from_the_template_or_the_tag() -> None:
    assert queried_object("Is there a dining table in the image?", {}) == "dining table"
    assert queried_object("Is there an apple in the image?", {}) == "apple"
    assert queried_object("is there a red circle in the image? ", {}) == "red circle"
    assert queried_object("Do you see a dog?", {}) is None
    assert queried_object("Do you see a dog?", {"pope_object": "dog"}) == "dog"


def test_sample_problem_names_the_bad_answer_and_the_unreadable_question() -> None:
    metric = get_metric("pope_f1")
    good = Sample("a", "a.png", "a.png", question="Is there a dog in the image?", answer="Yes")
    assert metric.sample_problem(good, metric.params) is None
    bad = Sample("b", "b.png", "b.png", question="Is there a dog in the image?", answer="perhaps")
    assert "'perhaps'" in str(metric.sample_problem(bad, metric.params))
    odd = Sample("c", "c.png", "c.png", question="Any dogs?", answer="no")
    assert "pope_object" in str(metric.sample_problem(odd, metric.params))


def test_definition_names_the_rule_and_the_reference() -> None:
    definition = PopeYesRatio().definition({"prompt": "a photo of a {object}", "top_k": 1}, "candidate")
    assert "evaluate.py" in definition["reference"] and "split('.')[0]" in definition["parsing"]
    assert definition["score"] == "yes_ratio" and json.dumps(definition)


@pytest.mark.parametrize("params, problem", [({"top_k": 0}, "top_k"), ({"prompt": "a photo of a {label}"}, "prompt")])
def test_bad_params_are_refused(params: dict, problem: str) -> None:
    assert str(PopeF1().check_params({**PopeF1.params, **params})).startswith(problem)
