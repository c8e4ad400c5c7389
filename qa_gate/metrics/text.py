"""Captioning metrics equal to pycocoevalcap 1.2: BLEU-1..4, CIDEr-D, ROUGE-L, METEOR (DESIGN.md §4).

Every metric scores PTB-tokenised text (``tokenize.TOKENIZER``). Tokenise once per
suite with ``TokenizedCaptions.of(inputs)`` and hand the result to every text metric;
raw ``CaptionInputs`` also work, but then each metric runs the Java tokenizer itself.
BLEU keeps per-sample n-gram counts and lengths and aggregates with pycocoevalcap's
corpus formula; METEOR keeps the jar's per-sample statistics and aggregates with the
jar's formula; CIDEr-D and ROUGE-L keep per-sample scores and take the mean.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from qa_gate.metrics.base import Metric
from qa_gate.metrics.tokenize import (
    METEOR_STATS,
    TOKENIZER,
    CaptionInputs,
    TokenizedCaptions,
    meteor_jar,
)

__all__ = ["CaptionInputs", "TokenizedCaptions", "Bleu1", "Bleu2", "Bleu3", "Bleu4", "CIDErD",
           "RougeL", "Meteor"]

TINY, SMALL = 1e-15, 1e-9
BLEU_COLUMNS = (*(f"correct{k}" for k in range(1, 5)), *(f"guess{k}" for k in range(1, 5)),
                "hyp_len", "ref_len")
METEOR_ALPHA, METEOR_BETA, METEOR_GAMMA, METEOR_DELTA = 0.85, 0.2, 0.6, 0.75
METEOR_WEIGHTS = (1.0, 0.6, 0.8, 0.6)


class CaptionMetric(Metric[CaptionInputs]):
    """Shared definition fields of the pycocoevalcap metrics."""

    needs: ClassVar[tuple[str, ...]] = ("references",)
    family: ClassVar[str] = "caption"
    constants: ClassVar[Mapping[str, Any]] = {}

    def definition(self, params: Mapping[str, Any], scorer: str) -> dict[str, Any]:
        return {**super().definition(params, scorer), "reference": "pycocoevalcap 1.2",
                "tokenizer": TOKENIZER, **self.constants}


# --- BLEU --------------------------------------------------------------------------------------

def ngrams(words: Sequence[str], n: int = 4) -> Counter:
    """Counts of every 1..n-gram, in pycocoevalcap's order."""
    return Counter(tuple(words[i:i + k]) for k in range(1, n + 1) for i in range(len(words) - k + 1))


def bleu_row(prediction: str, references: Sequence[str]) -> list[float]:
    """Clipped matches and guesses per order 1..4, hypothesis length, closest reference length."""
    words = prediction.split()
    maxcounts: dict[tuple[str, ...], int] = {}
    ref_lens = []
    for ref in references:
        ref_words = ref.split()
        ref_lens.append(len(ref_words))
        for gram, count in ngrams(ref_words).items():
            maxcounts[gram] = max(maxcounts.get(gram, 0), count)
    correct = [0] * 4
    for gram, count in ngrams(words).items():
        correct[len(gram) - 1] += min(maxcounts.get(gram, 0), count)
    guess = [max(0, len(words) - k + 1) for k in range(1, 5)]
    closest = min((abs(length - len(words)), length) for length in ref_lens)[1]
    return [*correct, *guess, len(words), closest]


def bleu_from_totals(total: np.ndarray, order: int) -> np.ndarray:
    """pycocoevalcap's BLEU-``order`` from summed ``[..., 10]`` counts (tiny/small, no smoothing)."""
    bleu = np.ones(total.shape[:-1])
    for k in range(order):
        bleu = bleu * ((total[..., k] + TINY) / (total[..., 4 + k] + SMALL))
    ratio = (total[..., 8] + TINY) / (total[..., 9] + SMALL)
    return bleu ** (1.0 / order) * np.where(ratio < 1, np.exp(1 - 1 / ratio), 1.0)


class Bleu(CaptionMetric):
    """Corpus BLEU-n as pycocoevalcap computes it: the n-gram counts and lengths of every
    sample are summed, then ``prod_k (correct_k + 1e-15) / (guess_k + 1e-9)`` to the power
    ``1/n``, times ``exp(1 - r/c)`` when the hypotheses are shorter than the closest references."""

    order: ClassVar[int] = 4
    columns: ClassVar[tuple[str, ...]] = BLEU_COLUMNS
    constants: ClassVar[Mapping[str, Any]] = {
        "reference_length": "closest, ties to the shorter",
        "constants": "tiny=1e-15, small=1e-9 (no smoothing)", "aggregate": "corpus"}

    def definition(self, params: Mapping[str, Any], scorer: str) -> dict[str, Any]:
        return {**super().definition(params, scorer), "n": self.order}

    def per_sample(self, inputs: CaptionInputs, params: Mapping[str, Any]) -> np.ndarray:
        texts = TokenizedCaptions.of(inputs)
        rows = [bleu_row(p, r) for p, r in zip(texts.tokenized_predictions, texts.tokenized_references)]
        return np.asarray(rows, dtype=np.float64).reshape(len(rows), len(BLEU_COLUMNS))

    def aggregate(self, stats: np.ndarray) -> np.ndarray:
        return bleu_from_totals(np.asarray(stats, dtype=np.float64).sum(axis=-2), self.order)

    def sample_values(self, stats: np.ndarray) -> np.ndarray:
        """pycocoevalcap's per-image BLEU-n (the corpus formula on one row)."""
        return bleu_from_totals(np.asarray(stats, dtype=np.float64), self.order)


class Bleu1(Bleu):
    name: ClassVar[str] = "bleu1"
    order: ClassVar[int] = 1


class Bleu2(Bleu):
    name: ClassVar[str] = "bleu2"
    order: ClassVar[int] = 2


class Bleu3(Bleu):
    name: ClassVar[str] = "bleu3"
    order: ClassVar[int] = 3


class Bleu4(Bleu):
    name: ClassVar[str] = "bleu4"
    order: ClassVar[int] = 4


# --- CIDEr-D -----------------------------------------------------------------------------------

def cider_scores(preds: Sequence[str], refs: Sequence[Sequence[str]],
                 n: int = 4, sigma: float = 6.0) -> np.ndarray:
    """pycocoevalcap's per-sample CIDEr-D, document frequency from the references of all samples."""
    crefs = [[ngrams(r.split(), n) for r in sample_refs] for sample_refs in refs]
    if not crefs:
        return np.zeros(0)
    df: Counter = Counter(g for sample in crefs for g in {g for ref in sample for g in ref})
    log_n = np.log(float(len(crefs)))

    def tfidf(counts: Counter) -> tuple[list[dict], list[float], int]:
        vec: list[dict] = [{} for _ in range(n)]
        norm, length = [0.0] * n, 0
        for gram, tf in counts.items():
            k = len(gram) - 1
            vec[k][gram] = float(tf) * (log_n - np.log(max(1.0, df.get(gram, 0.0))))
            norm[k] += pow(vec[k][gram], 2)
            length += tf if k == 1 else 0  # pycocoevalcap counts bigrams as the "length"
        return vec, [np.sqrt(x) for x in norm], length

    scores = []
    for pred, sample_refs in zip(preds, crefs):
        vec, norm, length = tfidf(ngrams(pred.split(), n))
        score = np.zeros(n)
        for ref in sample_refs:
            vec_r, norm_r, length_r = tfidf(ref)
            delta = float(length - length_r)
            val = np.zeros(n)
            for k in range(n):
                for gram, value in vec[k].items():
                    val[k] += min(value, vec_r[k].get(gram, 0.0)) * vec_r[k].get(gram, 0.0)
                if norm[k] != 0 and norm_r[k] != 0:
                    val[k] /= norm[k] * norm_r[k]
                val[k] *= np.e ** (-(delta ** 2) / (2 * sigma ** 2))
            score += val
        scores.append(np.mean(score) / len(sample_refs) * 10.0)
    return np.asarray(scores, dtype=np.float64)


class CIDErD(CaptionMetric):
    """CIDEr-D as pycocoevalcap's ``Cider``: n = 4, sigma = 6, x10, clipped tf-idf cosine
    with a Gaussian length penalty, averaged over references; one column, the per-sample score.

    Document frequencies come from the references of the whole suite, computed once. A
    bootstrap over these rows keeps that suite-level document frequency fixed (an
    approximation: pycocoevalcap on a resampled set would recount it), so only the
    full-suite mean equals pycocoevalcap exactly.
    """

    name: ClassVar[str] = "cider"
    constants: ClassVar[Mapping[str, Any]] = {
        "n": 4, "sigma": 6.0, "scale": 10.0, "document_frequency": "references of the whole suite",
        "aggregate": "mean of per-sample scores"}

    def per_sample(self, inputs: CaptionInputs, params: Mapping[str, Any]) -> np.ndarray:
        texts = TokenizedCaptions.of(inputs)
        return cider_scores(texts.tokenized_predictions, texts.tokenized_references)[:, None]


# --- ROUGE-L -----------------------------------------------------------------------------------

def lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest common subsequence of two token lists."""
    if len(a) < len(b):
        a, b = b, a
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b, 1):
            cur.append(prev[j - 1] + 1 if x == y else max(prev[j], cur[j - 1]))
        prev = cur
    return prev[-1]


def rouge_l(prediction: str, references: Sequence[str], beta: float = 1.2) -> float:
    """pycocoevalcap's ROUGE-L: tokens split on single spaces, precision and recall each
    maximised over the references, then the F-measure with ``beta``."""
    cand = prediction.split(" ")
    prec, rec = [], []
    for ref in references:
        ref_tokens = ref.split(" ")
        lcs = lcs_length(ref_tokens, cand)
        prec.append(lcs / float(len(cand)))
        rec.append(lcs / float(len(ref_tokens)))
    p, r = max(prec), max(rec)
    return ((1 + beta ** 2) * p * r) / float(r + beta ** 2 * p) if p != 0 and r != 0 else 0.0


class RougeL(CaptionMetric):
    """ROUGE-L as pycocoevalcap's ``Rouge`` (beta = 1.2); one column, the per-sample score."""

    name: ClassVar[str] = "rouge_l"
    constants: ClassVar[Mapping[str, Any]] = {
        "beta": 1.2, "references": "precision and recall maximised separately",
        "aggregate": "mean of per-sample scores"}

    def per_sample(self, inputs: CaptionInputs, params: Mapping[str, Any]) -> np.ndarray:
        texts = TokenizedCaptions.of(inputs)
        rows = [rouge_l(p, r) for p, r in zip(texts.tokenized_predictions, texts.tokenized_references)]
        return np.asarray(rows, dtype=np.float64)[:, None]


# --- METEOR ------------------------------------------------------------------------------------

def exact_single_chunk(s: np.ndarray) -> np.ndarray:
    """Where every word of both sides is matched in one chunk (the jar's fragmentation case)."""
    stage = s[..., 4:20].reshape(*s.shape[:-1], 4, 4)  # [..., stage, (tc, rc, tfn, rfn)]
    return ((stage[..., [0, 2]].sum(axis=(-2, -1)) == s[..., 0])
            & (stage[..., [1, 3]].sum(axis=(-2, -1)) == s[..., 1]) & (s[..., 20] == 1))


def meteor_from_stats(s: np.ndarray) -> np.ndarray:
    """The METEOR 1.5 jar's ``computeMetrics`` (en, task "rank") on ``[..., 23]`` statistics."""
    tl, rl, tf, rf = (s[..., i] for i in range(4))
    stage = s[..., 4:20].reshape(*s.shape[:-1], 4, 4)  # [..., stage, (tc, rc, tfn, rfn)]
    d, w = METEOR_DELTA, METEOR_WEIGHTS
    test_len = (d * (tl - tf)) + ((1.0 - d) * tf)
    ref_len = (d * (rl - rf)) + ((1.0 - d) * rf)
    test_m, ref_m = np.zeros(tl.shape), np.zeros(tl.shape)
    for i in range(4):
        test_m = test_m + stage[..., i, 0] * w[i] * d
    for i in range(4):
        ref_m = ref_m + stage[..., i, 1] * w[i] * d
    for i in range(4):
        test_m = test_m + stage[..., i, 2] * w[i] * (1.0 - d)
    for i in range(4):
        ref_m = ref_m + stage[..., i, 3] * w[i] * (1.0 - d)
    with np.errstate(divide="ignore", invalid="ignore"):
        f_mean = 1.0 / (((1.0 - METEOR_ALPHA) / (test_m / test_len)) + (METEOR_ALPHA / (ref_m / ref_len)))
        frag = np.where(exact_single_chunk(s), 0.0, s[..., 20] / ((s[..., 21] + s[..., 22]) / 2))
        score = f_mean * (1.0 - METEOR_GAMMA * np.power(frag, METEOR_BETA))
    return np.where(np.isnan(score), 0.0, np.maximum(score, 0.0))


class Meteor(CaptionMetric):
    """METEOR 1.5 as pycocoevalcap runs it (Java; ``-l en -norm``, best of the references).

    Columns: the per-sample score, the jar's 23 sufficient statistics of the best
    reference, and ``chunks_summed`` (0 for an exact match with one chunk, which the jar
    leaves out when it sums). The aggregate sums the statistics and applies the jar's
    formula, as pycocoevalcap's overall score does; it is not the mean of the scores.
    """

    name: ClassVar[str] = "meteor"
    columns: ClassVar[tuple[str, ...]] = ("value", *METEOR_STATS, "chunks_summed")
    constants: ClassVar[Mapping[str, Any]] = {
        "jar": "meteor-1.5.jar -l en -norm", "modules": "exact stem synonym paraphrase",
        "weights": list(METEOR_WEIGHTS),
        "alpha_beta_gamma_delta": [METEOR_ALPHA, METEOR_BETA, METEOR_GAMMA, METEOR_DELTA],
        "aggregate": "jar formula on summed statistics"}

    def per_sample(self, inputs: CaptionInputs, params: Mapping[str, Any]) -> np.ndarray:
        texts = TokenizedCaptions.of(inputs)
        if not texts.sample_ids:
            return np.zeros((0, len(self.columns)))
        s = np.asarray(meteor_jar().stats(texts.tokenized_predictions, texts.tokenized_references))
        chunks_summed = np.where(exact_single_chunk(s), 0.0, s[:, 20])
        return np.column_stack([meteor_from_stats(s), s, chunks_summed])

    def aggregate(self, stats: np.ndarray) -> np.ndarray:
        total = np.asarray(stats, dtype=np.float64)[..., 1:].sum(axis=-2)
        total[..., 20] = total[..., 23]  # chunks as the jar sums them
        return meteor_from_stats(total[..., :23])
