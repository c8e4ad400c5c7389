"""Agreement metrics of shadow mode, each against an independent implementation on the same outputs."""

from __future__ import annotations

from dataclasses import dataclass

import jiwer
import numpy as np
import pytest
from pycocoevalcap.bleu.bleu import Bleu
from pycocoevalcap.cider.cider import Cider
from scipy.spatial.distance import cosine as scipy_cosine
from sklearn.metrics import jaccard_score
from sklearn.preprocessing import MultiLabelBinarizer

from qa_gate.metrics.agreement import same_answer
from qa_gate.metrics.registry import get_metric
from qa_gate.metrics.tokenize import TokenizedCaptions


@dataclass
class Pairs:
    """Candidate and production outputs per sample (``Agreement``)."""

    candidate: list
    production: list

    @property
    def sample_ids(self) -> tuple[str, ...]:
        return tuple(f"s{i}" for i in range(len(self.candidate)))

    def predictions(self) -> list:
        return list(self.candidate)

    def references(self) -> list:
        return list(self.production)


@pytest.mark.parametrize(("candidate", "production", "agree"), [
    ("Two", "2", True), ("a dog", "dog", True), ("yes.", "yes", True), ("  red\n", "red", True),
    ("dont", "don't", True), ("red", "blue", False), ("circle", "circles", False),
])
def test_answer_agreement_uses_the_vqa_normalisation(candidate: str, production: str, agree: bool) -> None:
    assert same_answer(candidate, production) is agree
    metric = get_metric("answer_agreement")
    stats = metric.per_sample(Pairs([candidate], [production]), metric.params)
    assert stats.tolist() == [[float(agree)]]


def test_answer_agreement_is_the_share_of_agreeing_samples() -> None:
    metric = get_metric("answer_agreement")
    stats = metric.per_sample(Pairs(["red", "blue", "Two", "circle"], ["red", "green", "2", "square"]), {})
    assert float(metric.aggregate(stats)) == pytest.approx(2 / 4)


LABELS = [(("red", "circle"), ("red",)), ((), ()), (("blue",), ("green", "square")),
          (("red", "square"), ("square", "red")), (("circle",), ())]


def _binarised() -> tuple[np.ndarray, np.ndarray]:
    binarizer = MultiLabelBinarizer(classes=["red", "blue", "green", "circle", "square"])
    return (binarizer.fit_transform([c for c, _ in LABELS]), binarizer.fit_transform([p for _, p in LABELS]))


def test_label_agreement_is_sklearn_samples_jaccard_with_empty_sets_agreeing() -> None:
    metric = get_metric("label_agreement")
    stats = metric.per_sample(Pairs([c for c, _ in LABELS], [p for _, p in LABELS]), metric.params)
    candidate, production = _binarised()
    expected = jaccard_score(production, candidate, average="samples", zero_division=1.0)
    assert float(metric.aggregate(stats)) == pytest.approx(expected)
    assert metric.sample_values(stats).tolist() == pytest.approx([0.5, 1.0, 0.0, 1.0, 0.0])


def test_label_agreement_micro_is_sklearn_micro_jaccard_a_ratio_of_sums() -> None:
    metric = get_metric("label_agreement_micro")
    stats = metric.per_sample(Pairs([c for c, _ in LABELS], [p for _, p in LABELS]), metric.params)
    candidate, production = _binarised()
    assert float(metric.aggregate(stats)) == pytest.approx(jaccard_score(production, candidate, average="micro"))
    assert stats.shape == (5, 2)
    resampled = stats[[0, 0, 2]]  # a ratio of sums of the resampled rows, as the bootstrap draws them
    assert float(metric.aggregate(resampled)) == pytest.approx((1 + 1 + 0) / (2 + 2 + 3))
    assert float(metric.aggregate(np.zeros((3, 2)))) == 1.0


CAPTIONS = [("a red circle on white", "a red circle"), ("a blue square", "a blue square"),
            ("two green triangles", "a green triangle on a table"), ("a yellow star", "the sun in the sky")]


def test_caption_agreement_is_pycocoevalcap_with_production_as_the_one_reference() -> None:
    ids = tuple(f"s{i}" for i in range(len(CAPTIONS)))
    texts = TokenizedCaptions(ids, tuple(c for c, _ in CAPTIONS), tuple((p,) for _, p in CAPTIONS))
    gts = {sid: [p] for sid, (_, p) in zip(ids, CAPTIONS)}
    res = {sid: [c] for sid, (c, _) in zip(ids, CAPTIONS)}
    cider = get_metric("caption_agreement")
    stats = cider.per_sample(texts, cider.params)
    expected, per = Cider().compute_score(gts, res)
    assert float(cider.aggregate(stats)) == pytest.approx(expected)
    assert stats[:, 0] == pytest.approx(per)
    bleu = get_metric("caption_agreement_bleu4")
    (b1, b2, b3, b4), _ = Bleu(4).compute_score(gts, res, verbose=0)
    assert float(bleu.aggregate(bleu.per_sample(texts, bleu.params))) == pytest.approx(b4)


def test_text_agreement_is_jiwer_cer_with_production_as_reference_lower_is_better() -> None:
    candidate, production = ["HELLO WORLD", "qa gate", "STOP"], ["HELLO WORD", "qa gate", "SHOP 24"]
    metric = get_metric("text_agreement")
    assert metric.higher_is_better is False
    stats = metric.per_sample(Pairs(candidate, production), metric.params)
    assert float(metric.aggregate(stats)) == pytest.approx(jiwer.cer(production, candidate))
    assert metric.sample_values(stats)[1] == 0.0


class Embeddings:
    sample_ids = ("a", "b", "c")

    def __init__(self) -> None:
        rng = np.random.default_rng(0)
        self.candidate, self.production = rng.normal(size=(3, 8)), rng.normal(size=(3, 8)) * 3.0
        self.production[1] = self.candidate[1] * 2.0  # the same direction: cosine 1

    def embeddings(self, kind: str) -> tuple[np.ndarray, np.ndarray]:
        assert kind == "image"
        return self.candidate, self.production


def test_embedding_agreement_is_the_mean_cosine_of_unnormalised_rows() -> None:
    inputs = Embeddings()
    metric = get_metric("embedding_agreement")
    stats = metric.per_sample(inputs, metric.params)
    expected = [1 - scipy_cosine(a, b) for a, b in zip(inputs.candidate, inputs.production)]
    assert stats[:, 0] == pytest.approx(expected)
    assert stats[1, 0] == pytest.approx(1.0)
    assert float(metric.aggregate(stats)) == pytest.approx(np.mean(expected))


def test_agreement_metrics_say_they_read_the_reference_and_check_params() -> None:
    for name in ("answer_agreement", "label_agreement", "label_agreement_micro", "caption_agreement",
                 "caption_agreement_bleu4", "text_agreement", "embedding_agreement"):
        assert getattr(get_metric(name), "compares_reference", False), name
    assert get_metric("embedding_agreement").check_params({"embedding": "audio"}) is not None
    assert get_metric("embedding_agreement").needs_for({"embedding": "text"}) == ("caption",)
    assert get_metric("answer_agreement").check_params({"prompt": "no field"}) is not None
