"""BLEU-1..4, CIDEr-D, ROUGE-L and METEOR against pycocoevalcap on the same tokenised captions.

Java runs a bounded number of times: our tokenizer once per caption set, pycocoevalcap's
twice per set, and one METEOR jar each for us and for pycocoevalcap (module fixtures).
"""

from __future__ import annotations

import random
import shutil
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("pycocoevalcap")
from pycocoevalcap.bleu.bleu import Bleu as CocoBleu  # noqa: E402
from pycocoevalcap.cider.cider import Cider as CocoCider  # noqa: E402
from pycocoevalcap.rouge.rouge import Rouge as CocoRouge  # noqa: E402

from qa_gate.metrics import tokenize  # noqa: E402
from qa_gate.metrics.base import fingerprint  # noqa: E402
from qa_gate.metrics.text import (  # noqa: E402
    Bleu1,
    Bleu2,
    Bleu3,
    Bleu4,
    CIDErD,
    Meteor,
    RougeL,
    TokenizedCaptions,
)

JAVA = shutil.which("java") is not None
EXACT = 1e-12  # BLEU, CIDEr-D, ROUGE-L: measured 0 overall, <= 5.6e-17 per sample
METEOR_TOL = 1e-12  # measured 0 overall, <= 5.6e-17 per sample (jar prints full doubles)
BLEUS = (Bleu1, Bleu2, Bleu3, Bleu4)


@dataclass
class Captions:
    sample_ids: tuple[str, ...]
    preds: list[str]
    refs: list[list[str]]

    def predictions(self) -> list[str]:
        return self.preds

    def references(self) -> list[list[str]]:
        return self.refs


HAND = [
    ("dog", "A dog runs on the grass.", ["A dog is running on green grass.", "A brown dog runs."]),
    ("empty1", "", ["A man rides a horse.", "Someone on a horse."]),
    ("same", "A man riding a horse", ["a man riding a horse"]),
    ("repeat", "the the the the the the the", ["The cat sits on the mat.", "A cat on the mat."]),
    ("one", "Cat", ["A cat.", "Cat sleeping on a sofa", "a grey cat", "kitten", "The cat is asleep."]),
    ("long", "Two young children in red jackets are playing with a big blue ball in a park near a "
             "small lake while their parents watch from a wooden bench",
     ["Children play with a ball in the park.", "Two kids in red coats playing with a ball.",
      "Kids and a blue ball near a lake."]),
    ("punct", "Wow!!! A (very) tall building, isn't it?", ["A tall building.", "A skyscraper (tall)."]),
    ("quotes", 'A sign that says "STOP".', ["A red stop sign.", 'A sign reading "stop" on a pole.']),
    ("numbers", "3 people and 2 dogs at 5:30 p.m.", ["Three people with two dogs.", "People and dogs."]),
    ("unicode", "Un café à Paris — naïve art", ["A cafe in Paris.", "Café with naïve paintings."]),
    ("case", "A MAN IN A SUIT", ["a man in a suit", "A Man In A Black Suit", "man wearing suit"]),
    ("empty2", "   ", ["A bowl of fruit on a table."]),
    ("dots", "...", ["Nothing to see here.", "An empty room"]),
    ("stem", "Dogs running quickly across fields", ["A dog runs quick across the field."]),
    ("synonym", "A car on the road", ["An automobile on the street.", "A vehicle driving on a road."]),
    ("tie", "one two three four five", ["one two three four", "one two three four five six"]),
    ("short_ref", "a very long caption about a small thing indeed", ["small thing"]),
    ("refdots", "A bird on a branch.", ["A bird sits on a branch.", "..."]),
    ("hyphen", "A well-known state-of-the-art red-brick house", ["A red brick house.", "A famous house"]),
    ("contraction", "It's a dog's life, don't you think", ["A dog's life.", "The dog is lazy"]),
    ("empty3", "", ["Snow on a mountain.", "A snowy peak", "Mountains"]),
    ("swap", "horse a riding man a", ["a man riding a horse", "a person on a horse"]),
    ("semicolon", "A plate; a fork; a knife", ["Cutlery and a plate.", "A plate with a fork and knife."]),
    ("last", "A train at the station.", ["A train stops at a station.", "A red train.",
                                         "Passengers wait for a train.", "Train station",
                                         "A train arriving."]),
]


def random_set(seed: int, n: int) -> list[tuple[str, str, list[str]]]:
    rng = random.Random(seed)
    vocab = ("a the man woman dog cat sits runs on in of with red blue big small ball "
             "grass street car two riding horse is are near tree Bird PARK").split()

    def sentence(lo: int) -> str:
        words = [rng.choice(vocab) for _ in range(rng.randint(lo, 14))]
        return " ".join(words) + rng.choice(["", ".", "!", ", too.", " (again)"])

    return [(f"r{i}", sentence(0), [sentence(1) for _ in range(rng.randint(1, 5))])
            for i in range(n)]


SETS = {"hand": HAND, "random": random_set(1234, 80)}


def as_inputs(rows) -> Captions:
    return Captions(tuple(r[0] for r in rows), [r[1] for r in rows], [list(r[2]) for r in rows])


@pytest.fixture(scope="module")
def meteors():
    """Both METEOR jars, started together so their slow start-ups overlap."""
    if not JAVA:
        pytest.skip("Java is required for METEOR; install a JRE")
    from pycocoevalcap.meteor.meteor import Meteor as CocoMeteor
    tokenize.meteor_jar()
    coco = CocoMeteor()
    yield coco
    coco.meteor_p.kill()
    coco.meteor_p.wait()


@pytest.fixture(scope="module", params=sorted(SETS))
def case(request):
    """(ours: TokenizedCaptions, gts, res) for one caption set, tokenised by each side."""
    if not JAVA:
        pytest.skip("Java is required for the PTB tokenizer; install a JRE")
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer
    raw = as_inputs(SETS[request.param])
    gts = PTBTokenizer().tokenize({i: [{"caption": r} for r in rs]
                                   for i, rs in zip(raw.sample_ids, raw.refs)})
    res = PTBTokenizer().tokenize({i: [{"caption": p}] for i, p in zip(raw.sample_ids, raw.preds)})
    return TokenizedCaptions.of(raw), gts, res


def resampled(gts: dict, res: dict, keys: list[str]) -> tuple[dict, dict]:
    return ({j: gts[k] for j, k in enumerate(keys)}, {j: res[k] for j, k in enumerate(keys)})


def test_tokenizer_matches_pycocoevalcap(case) -> None:
    ours, gts, res = case
    assert list(ours.tokenized_predictions) == [res[i][0] for i in ours.sample_ids]
    assert [list(r) for r in ours.tokenized_references] == [gts[i] for i in ours.sample_ids]


def test_bleu_matches_pycocoevalcap(case) -> None:
    ours, gts, res = case
    scores, per_image = CocoBleu(4).compute_score(gts, res, verbose=0)
    for n, cls in enumerate(BLEUS, 1):
        metric = cls()
        stats = metric.per_sample(ours, {})
        assert stats.shape == (len(ours.sample_ids), len(metric.columns))
        assert float(metric.aggregate(stats)) == pytest.approx(scores[n - 1], abs=EXACT, rel=0)
        assert metric.sample_values(stats) == pytest.approx(per_image[n - 1], abs=EXACT, rel=0)


def test_cider_and_rouge_match_pycocoevalcap(case) -> None:
    ours, gts, res = case
    for metric, coco in ((CIDErD(), CocoCider()), (RougeL(), CocoRouge())):
        score, per_image = coco.compute_score(gts, res)
        stats = metric.per_sample(ours, {})
        assert float(metric.aggregate(stats)) == pytest.approx(score, abs=EXACT, rel=0)
        assert stats[:, 0] == pytest.approx(per_image, abs=EXACT, rel=0)


def test_meteor_matches_pycocoevalcap(case, meteors) -> None:
    ours, gts, res = case
    score, per_image = meteors.compute_score(gts, res)
    metric = Meteor()
    stats = metric.per_sample(ours, {})
    assert stats.shape == (len(ours.sample_ids), len(metric.columns))
    assert float(metric.aggregate(stats)) == pytest.approx(score, abs=METEOR_TOL, rel=0)
    assert metric.sample_values(stats) == pytest.approx(per_image, abs=METEOR_TOL, rel=0)
    # The overall score comes from summed statistics, not the mean of the segment scores.
    assert abs(stats[:, 0].mean() - score) > 1e-6


def test_resampled_rows_equal_pycocoevalcap_on_resampled_inputs(case, meteors) -> None:
    ours, gts, res = case
    rng = np.random.default_rng(7)
    idx = rng.integers(0, len(ours.sample_ids), size=(3, len(ours.sample_ids)))
    for metric in (*(cls() for cls in BLEUS), RougeL(), Meteor()):
        stats = metric.per_sample(ours, {})
        batch = metric.aggregate(stats[idx])
        assert batch.shape == (3,)
        for row, b in zip(idx, batch):
            g, r = resampled(gts, res, [ours.sample_ids[i] for i in row])
            if isinstance(metric, Meteor):
                expected = meteors.compute_score(g, r)[0]
            elif isinstance(metric, RougeL):
                expected = CocoRouge().compute_score(g, r)[0]
            else:
                expected = CocoBleu(4).compute_score(g, r, verbose=0)[0][metric.order - 1]
            assert float(b) == pytest.approx(expected, abs=METEOR_TOL, rel=0), metric.name


words = st.lists(st.sampled_from("a the dog cat on mat red big runs".split()), max_size=12)


@settings(max_examples=60, deadline=None)
@given(samples=st.lists(st.tuples(words, st.lists(words.filter(bool), min_size=1, max_size=4)),
                        min_size=1, max_size=12),
       draws=st.lists(st.integers(0, 10_000), min_size=1, max_size=20))
def test_bleu_resample_property(samples, draws) -> None:
    ids = tuple(str(i) for i in range(len(samples)))
    inputs = TokenizedCaptions(ids, tuple(" ".join(p) for p, _ in samples),
                               tuple(tuple(" ".join(r) for r in refs) for _, refs in samples))
    keys = [d % len(samples) for d in draws]
    gts = {j: list(inputs.tokenized_references[k]) for j, k in enumerate(keys)}
    res = {j: [inputs.tokenized_predictions[k]] for j, k in enumerate(keys)}
    expected = CocoBleu(4).compute_score(gts, res, verbose=0)[0]
    for n, cls in enumerate(BLEUS, 1):
        metric = cls()
        stats = metric.per_sample(inputs, {})
        assert float(metric.aggregate(stats[keys])) == pytest.approx(expected[n - 1], abs=EXACT, rel=0)


def test_bleu_statistics_closest_reference_ties_to_shorter() -> None:
    inputs = TokenizedCaptions(("t",), ("one two three four five",),
                               (("one two three four", "one two three four five six"),))
    stats = Bleu4().per_sample(inputs, {})
    assert dict(zip(Bleu4.columns, stats[0])) == {
        "correct1": 5, "correct2": 4, "correct3": 3, "correct4": 2,
        "guess1": 5, "guess2": 4, "guess3": 3, "guess4": 2, "hyp_len": 5, "ref_len": 4}


def test_cider_of_a_single_sample_is_zero() -> None:
    inputs = TokenizedCaptions(("x",), ("a dog runs",), (("a dog runs",),))
    assert CIDErD().per_sample(inputs, {})[:, 0] == pytest.approx([0.0])


def test_empty_prediction_scores_zero() -> None:
    inputs = TokenizedCaptions(("e", "f"), ("", "a cat"), (("a dog runs",), ("a cat sits",)))
    for metric in (*(cls() for cls in BLEUS), CIDErD(), RougeL()):
        assert metric.sample_values(metric.per_sample(inputs, {}))[0] == 0.0


@pytest.mark.parametrize("refs, message", [
    ([["a dog"], ["", "a cat"]], "sample 'b': empty reference; every reference must hold text"),
    ([["a dog"], ["   "]], "sample 'b': empty reference; every reference must hold text"),
    ([["a dog"], []], "sample 'b': no reference"),
])
def test_empty_references_are_refused(refs, message) -> None:
    raw = Captions(("a", "b"), ["a dog", "a cat"], refs)
    for metric in (Bleu4(), CIDErD(), RougeL(), Meteor()):
        with pytest.raises(ValueError, match=message):
            metric.per_sample(raw, {})


def test_pretokenized_inputs_skip_java(monkeypatch) -> None:
    def no_java(texts):
        raise AssertionError("tokenized inputs must not be tokenised again")

    monkeypatch.setattr(tokenize, "ptb_tokenize", no_java)
    inputs = TokenizedCaptions(("a",), ("a dog",), (("a dog runs",),))
    for metric in (Bleu4(), CIDErD(), RougeL()):
        metric.per_sample(inputs, {})


def test_missing_java_is_a_clear_error(monkeypatch) -> None:
    monkeypatch.setattr(tokenize.shutil, "which", lambda name: None)
    monkeypatch.setattr(tokenize, "_JAR", [])
    with pytest.raises(tokenize.JavaMissingError, match="Java is required for the PTB tokenizer"):
        Bleu4().per_sample(Captions(("a",), ["a dog"], [["a dog"]]), {})
    with pytest.raises(tokenize.JavaMissingError, match="Java is required for METEOR; install a JRE"):
        Meteor().per_sample(TokenizedCaptions(("a",), ("a dog",), (("a dog",),)), {})


def test_definitions_name_the_tokenizer_and_differ() -> None:
    metrics = [*(cls() for cls in BLEUS), CIDErD(), RougeL(), Meteor()]
    assert [m.name for m in metrics] == ["bleu1", "bleu2", "bleu3", "bleu4", "cider", "rouge_l", "meteor"]
    definitions = [m.definition({}, "candidate") for m in metrics]
    assert all("ptb" in d["tokenizer"] and "punctuation removed" in d["tokenizer"] for d in definitions)
    assert len({fingerprint(d) for d in definitions}) == len(metrics)
