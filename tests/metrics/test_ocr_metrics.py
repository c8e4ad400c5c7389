"""CER and WER against jiwer 4: corpus-level counts, per-sample counts, resampling, lower case."""

from __future__ import annotations

import jiwer
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qa_gate.metrics.base import fingerprint
from qa_gate.metrics.ocr import CER, WER, edit_counts, error_rate

JIWER = {"cer": (jiwer.cer, jiwer.process_characters), "wer": (jiwer.wer, jiwer.process_words)}
METRICS = {"cer": CER(), "wer": WER()}
DEFAULT = {"lowercase": False}


class Inputs:
    def __init__(self, references, predictions):
        self._references, self._predictions = list(references), list(predictions)
        self.sample_ids = tuple(f"s{i}" for i in range(len(references)))

    def predictions(self):
        return self._predictions

    def references(self):
        return self._references


REFERENCES = ["Hello world", "the  quick brown fox", "STOP.", "a,b;c", "  padded  ", "x", "tab\tinside"]
PREDICTIONS = ["hello  world", "", "STOP", "a, b; c", "padded", "xyz w", "tab inside"]


@pytest.mark.parametrize("name", ["cer", "wer"])
def test_corpus_value_equals_jiwer_not_mean_of_rates(name: str) -> None:
    metric, (corpus, _) = METRICS[name], JIWER[name]
    stats = metric.per_sample(Inputs(REFERENCES, PREDICTIONS), DEFAULT)
    assert stats.shape == (len(REFERENCES), 2)
    assert float(metric.aggregate(stats)) == pytest.approx(corpus(REFERENCES, PREDICTIONS), abs=1e-12)
    per_sample = [corpus(r, p) for r, p in zip(REFERENCES, PREDICTIONS)]
    assert float(metric.aggregate(stats)) != pytest.approx(float(np.mean(per_sample)))
    assert metric.sample_values(stats) == pytest.approx(per_sample, abs=1e-12)


@pytest.mark.parametrize("name", ["cer", "wer"])
def test_per_sample_counts_equal_jiwer_process(name: str) -> None:
    stats = METRICS[name].per_sample(Inputs(REFERENCES, PREDICTIONS), DEFAULT)
    process = JIWER[name][1]
    for row, (reference, prediction) in enumerate(zip(REFERENCES, PREDICTIONS)):
        out = process(reference, prediction)
        assert stats[row].tolist() == [out.substitutions + out.deletions + out.insertions,
                                       out.hits + out.substitutions + out.deletions]


def test_known_values() -> None:
    # WER: "the cat sat" vs "the bat sat down": 1 substitution + 1 insertion over 3 words;
    # "a b" vs "a b": 0 over 2 -> corpus 2/5, while the mean of rates would be 1/3.
    stats = WER().per_sample(Inputs(["the cat sat", "a b"], ["the bat sat down", "a b"]), DEFAULT)
    assert stats.tolist() == [[2, 3], [0, 2]]
    assert float(WER().aggregate(stats)) == pytest.approx(0.4)
    # CER counts the inner space; outer blanks are stripped; case matters by default.
    stats = CER().per_sample(Inputs(["ab cd"], [" Ab cd "]), DEFAULT)
    assert stats.tolist() == [[1, 5]]


def test_lowercase_param() -> None:
    inputs = Inputs(["Hello World"], ["hello world"])
    assert WER().per_sample(inputs, DEFAULT).tolist() == [[2, 2]]
    assert WER().per_sample(inputs, {"lowercase": True}).tolist() == [[0, 2]]
    assert CER().per_sample(inputs, {"lowercase": True}).tolist() == [[0, 11]]
    lower = jiwer.Compose([jiwer.ToLowerCase(), jiwer.RemoveMultipleSpaces(), jiwer.Strip(),
                           jiwer.ReduceToListOfListOfWords()])
    stats = WER().per_sample(Inputs(REFERENCES, PREDICTIONS), {"lowercase": True})
    assert float(WER().aggregate(stats)) == pytest.approx(
        jiwer.wer(REFERENCES, PREDICTIONS, reference_transform=lower, hypothesis_transform=lower), abs=1e-12)
    with pytest.raises(ValueError, match="lowercase must be true or false"):
        WER().per_sample(inputs, {"lowercase": "yes"})


def test_definition_states_transforms() -> None:
    plain = WER().definition(DEFAULT, "candidate")
    assert plain["transforms"] == ["RemoveMultipleSpaces", "Strip", "ReduceToListOfListOfWords"]
    assert plain["lowercase"] is False
    assert CER().definition(DEFAULT, "candidate")["transforms"] == ["Strip", "ReduceToListOfListOfChars"]
    lower = WER().definition({"lowercase": True}, "candidate")
    assert lower["transforms"][0] == "ToLowerCase"
    assert fingerprint(plain) != fingerprint(lower)
    assert not WER.higher_is_better and not CER.higher_is_better


def test_empty_references() -> None:
    # One empty reference is fine (its insertions count, its length is 0) ...
    stats = WER().per_sample(Inputs(["", "a b"], ["x y", "a b"]), DEFAULT)
    assert stats.tolist() == [[2, 0], [0, 2]]
    assert float(WER().aggregate(stats)) == pytest.approx(jiwer.wer(["", "a b"], ["x y", "a b"]))
    # ... a resample holding only empty references mirrors jiwer (the insertion count) ...
    assert float(WER().aggregate(stats[[0, 0]])) == jiwer.wer(["", ""], ["x y", "x y"]) == 4
    assert WER().sample_values(stats).tolist() == [2.0, 0.0]
    # ... but a suite whose references are all empty is refused.
    with pytest.raises(ValueError, match="every reference is empty"):
        CER().per_sample(Inputs(["", "  "], ["a", ""]), DEFAULT)


def test_input_errors_name_the_sample() -> None:
    with pytest.raises(ValueError, match="sample 's1'"):
        CER().per_sample(Inputs(["a", "b"], ["a", None]), DEFAULT)
    with pytest.raises(ValueError, match="2 samples but 1 predictions"):
        bad = Inputs(["a", "b"], ["a", "b"])
        bad._predictions = ["a"]
        CER().per_sample(bad, DEFAULT)
    with pytest.raises(ValueError, match="unit"):
        edit_counts(["a"], ["a"], "line")


def test_aggregate_keeps_leading_axes() -> None:
    stats = np.array([[1.0, 4.0], [3.0, 4.0]])
    assert error_rate(np.stack([stats, stats[[0, 0]]])).tolist() == [0.5, 0.25]


TEXT = st.text(alphabet="ab AB.,\t", max_size=12)


@settings(max_examples=60, deadline=None)
@given(pairs=st.lists(st.tuples(TEXT, TEXT), min_size=1, max_size=8), data=st.data())
def test_resampled_aggregate_equals_jiwer_on_resampled_inputs(pairs, data) -> None:
    references, predictions = [p[0] for p in pairs], [p[1] for p in pairs]
    rows = data.draw(st.lists(st.integers(0, len(pairs) - 1), min_size=1, max_size=12))
    for unit, metric in (("char", CER()), ("word", WER())):
        stats = edit_counts(references, predictions, unit)
        corpus = JIWER[metric.name][0]
        assert float(metric.aggregate(stats[rows])) == pytest.approx(
            corpus([references[i] for i in rows], [predictions[i] for i in rows]), abs=1e-12)
