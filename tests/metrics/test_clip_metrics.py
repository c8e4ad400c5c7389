"""CLIPScore, RefCLIPScore and cosine against hand computations on fixed embeddings."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qa_gate.errors import AdapterError
from qa_gate.metrics.base import fingerprint
from qa_gate.metrics.clip import CLIPScore, Cosine, RefCLIPScore, prompt_prefix


def unit(angle_deg: float) -> list[float]:
    a = math.radians(angle_deg)
    return [math.cos(a), math.sin(a)]


class FixedInputs:
    """AlignmentInputs over fixed embeddings; records the prefixes it was asked for."""

    def __init__(self, images, captions, refs=None, owner=None):
        self.images = np.asarray(images, dtype=np.float64)
        self.captions = np.asarray(captions, dtype=np.float64)
        self.refs = None if refs is None else np.asarray(refs, dtype=np.float64)
        self.owner = None if owner is None else np.asarray(owner)
        self.sample_ids = tuple(str(i) for i in range(len(self.images)))
        self.prefixes: list[str] = []

    def image_embeddings(self):
        return self.images

    def caption_embeddings(self, prefix):
        self.prefixes.append(prefix)
        return self.captions

    def reference_rows(self, prefix):
        self.prefixes.append(prefix)
        return self.refs, self.owner, np.arange(len(self.refs))


PARAMS = {"prefix": "A photo depicts ", "w": 2.5}


def test_clipscore_clamps_each_sample_then_averages() -> None:
    # cos = 0.5 -> 2.5 * 0.5 = 1.25; cos = -0.5 -> clamped to 0. Mean 0.625.
    inputs = FixedInputs([[1, 0], [1, 0]], [unit(60), unit(120)])
    metric = CLIPScore()
    stats = metric.per_sample(inputs, PARAMS)
    assert stats.shape == (2, 1)
    assert stats[:, 0] == pytest.approx([1.25, 0.0], abs=1e-12)
    assert float(metric.aggregate(stats)) == pytest.approx(0.625, abs=1e-12)
    # Clamping the mean instead (torchmetrics) would give 2.5 * max(0, 0) = 0.
    assert float(metric.aggregate(stats)) != pytest.approx(0.0)


def test_clipscore_weight_and_prefix_are_used() -> None:
    inputs = FixedInputs([[1, 0]], [unit(0)])
    stats = CLIPScore().per_sample(inputs, {"prefix": "A photo of", "w": 1.0})
    assert stats[0, 0] == pytest.approx(1.0)
    # The reference code adds the missing space after the prefix.
    assert inputs.prefixes == ["A photo of "]


def test_refclipscore_is_harmonic_mean_of_clipscore_and_raw_max_reference_cosine() -> None:
    images = [[1, 0], [1, 0]]
    captions = [[0.6, 0.8], [0.6, -0.8]]
    refs = [[1, 0], [0, 1], [-1, 0]]
    owner = [0, 0, 1]
    stats = RefCLIPScore().per_sample(FixedInputs(images, captions, refs, owner), PARAMS)
    # sample 0: clip = 2.5 * 0.6 = 1.5; refs cos 0.6 and 0.8 -> max 0.8; HM = 2*1.5*0.8/2.3
    # sample 1: clip = 1.5; only ref cos = -0.6 (not clamped); HM = 2*1.5*-0.6/0.9 = -2
    assert stats[:, 1] == pytest.approx([1.5, 1.5])
    assert stats[:, 2] == pytest.approx([0.8, -0.6])
    assert stats[:, 0] == pytest.approx([2 * 1.5 * 0.8 / 2.3, -2.0])
    assert float(RefCLIPScore().aggregate(stats)) == pytest.approx((2 * 1.5 * 0.8 / 2.3 - 2.0) / 2)


def test_refclipscore_zero_denominator_is_zero_not_nan() -> None:
    stats = RefCLIPScore().per_sample(FixedInputs([[1, 0]], [[0, 1]], [[0, 1.0]], [0]), PARAMS)
    # clip = 0 (cos 0), ref cos = 1 -> HM 0; and a both-zero case:
    assert stats[0, 0] == 0.0
    both = RefCLIPScore().per_sample(FixedInputs([[1, 0]], [[0, 1]], [[1.0, 0]], [0]), PARAMS)
    assert both[0, 0] == 0.0 and not np.isnan(both[0, 0])


def test_refclipscore_matches_the_reference_formula_where_it_has_a_value() -> None:
    # jmhessel/clipscore: 2 * clip * ref / (clip + ref), no guard; ours differs only where that is 0/0.
    rng = np.random.default_rng(3)
    images, captions, refs = (rng.normal(size=(n, 4)) for n in (6, 6, 12))
    images, captions, refs = (x / np.linalg.norm(x, axis=1, keepdims=True) for x in (images, captions, refs))
    owner = np.repeat(np.arange(6), 2)
    stats = RefCLIPScore().per_sample(FixedInputs(images, captions, refs, owner), PARAMS)
    clip = 2.5 * np.maximum(np.sum(images * captions, axis=1), 0)
    ref = np.array([max(float(captions[i] @ refs[j]) for j in np.flatnonzero(owner == i)) for i in range(6)])
    with np.errstate(divide="ignore", invalid="ignore"):
        expected = 2 * clip * ref / (clip + ref)
    assert (clip == 0).any() and (clip > 0).any()  # both branches are exercised
    assert stats[:, 0] == pytest.approx(np.where(clip == 0, 0.0, expected), abs=1e-12)


def test_refclipscore_at_the_pole_names_the_samples() -> None:
    # clip = w * cos = 1.0 and the only reference cosine is exactly -1.0: 2ab / (a + b) has no value.
    inputs = FixedInputs([[1, 0], [1, 0]], [[1, 0], [1, 0]], [[1.0, 0], [-1.0, 0]], [0, 1])
    with pytest.raises(AdapterError) as info:
        RefCLIPScore().per_sample(inputs, {**PARAMS, "w": 1.0})
    assert str(info.value) == (
        "refclipscore: 1 sample(s) ('1') have a reference cosine of exactly -CLIPScore, where the harmonic mean "
        "2ab/(a+b) has no value (the reference code gives an infinity); expected embeddings where a + b != 0")


def test_cosine_is_raw_and_unclamped() -> None:
    stats = Cosine().per_sample(FixedInputs([[1, 0], [1, 0]], [unit(60), unit(120)]), {"prefix": ""})
    assert stats[:, 0] == pytest.approx([0.5, -0.5])
    assert float(Cosine().aggregate(stats)) == pytest.approx(0.0, abs=1e-12)


def test_prompt_prefix_keeps_empty_and_trailing_space() -> None:
    assert prompt_prefix({"prefix": ""}) == ""
    assert prompt_prefix({"prefix": "A photo depicts "}) == "A photo depicts "
    assert prompt_prefix({"prefix": "A photo depicts"}) == "A photo depicts "


def test_fingerprint_changes_with_definition() -> None:
    metric = CLIPScore()
    base = fingerprint(metric.definition(PARAMS, "candidate"))
    assert base == fingerprint(metric.definition(dict(PARAMS), "candidate"))
    assert base != fingerprint(metric.definition({**PARAMS, "w": 1.0}, "candidate"))
    assert base != fingerprint(metric.definition({**PARAMS, "prefix": ""}, "candidate"))
    assert base != fingerprint(metric.definition(PARAMS, "openai/clip-vit-base-patch32"))


@settings(max_examples=50, deadline=None)
@given(
    n=st.integers(min_value=1, max_value=12),
    seed=st.integers(min_value=0, max_value=2**31 - 1),
)
def test_aggregate_over_resampled_rows_equals_metric_on_resampled_inputs(n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    images = rng.normal(size=(n, 4))
    captions = rng.normal(size=(n, 4))
    images /= np.linalg.norm(images, axis=1, keepdims=True)
    captions /= np.linalg.norm(captions, axis=1, keepdims=True)
    refs = rng.normal(size=(2 * n, 4))
    refs /= np.linalg.norm(refs, axis=1, keepdims=True)
    owner = np.repeat(np.arange(n), 2)
    idx = rng.integers(0, n, size=n)
    for metric in (CLIPScore(), RefCLIPScore(), Cosine()):
        params = {**metric.params}
        full = metric.per_sample(FixedInputs(images, captions, refs, owner), params)
        ref_rows = np.concatenate([refs[2 * i:2 * i + 2] for i in idx])
        resampled = metric.per_sample(
            FixedInputs(images[idx], captions[idx], ref_rows, np.repeat(np.arange(n), 2)), params)
        assert float(metric.aggregate(full[idx])) == pytest.approx(float(metric.aggregate(resampled)), abs=1e-12)
        # A batch of resamples at once gives one aggregate per resample.
        batch = metric.aggregate(np.stack([full[idx], full]))
        assert batch.shape == (2,)
        assert batch[1] == pytest.approx(float(metric.aggregate(full)))
