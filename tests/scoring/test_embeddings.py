"""Embeddings kept once in float32, normalised in place: equal to the float64 path within stated tolerances."""

from __future__ import annotations

import numpy as np

from qa_gate.metrics.clip import clip_scores, max_reference_cosine, rowwise_cosines
from qa_gate.scoring.embeddings import normalised_float32


def float64_normalised(chunks: list[np.ndarray]) -> np.ndarray:
    """The previous path: float64 batches divided by their norms."""
    rows = np.concatenate([np.asarray(c, dtype=np.float64) for c in chunks])
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return rows / np.where(norms == 0, 1.0, norms)


def encoder_like(rng: np.random.Generator, n: int, d: int = 512) -> list[np.ndarray]:
    """Float32 batches of unnormalised embeddings around one direction (cosines ~0.2-0.4, as CLIP's)."""
    shared = np.random.default_rng(99).normal(size=d)
    rows = (rng.normal(size=(n, d)) + 0.6 * shared).astype(np.float32) * 7.0
    return [rows[a:a + 64] for a in range(0, n, 64)]


def test_one_float32_matrix_normalised_in_place_in_batch_order() -> None:
    rng = np.random.default_rng(0)
    chunks = encoder_like(rng, 300, 32)
    chunks[1][3] = 0.0  # an all-zero row stays zero
    before = [c.copy() for c in chunks]
    out = normalised_float32(chunks)
    assert out.dtype == np.float32 and out.shape == (300, 32)
    np.testing.assert_allclose(out, float64_normalised(chunks), rtol=0, atol=2e-7)
    assert not out[64 + 3].any()
    norms = np.linalg.norm(out.astype(np.float64), axis=1)
    np.testing.assert_allclose(norms[norms > 0], 1.0, rtol=0, atol=1e-6)
    assert all(np.array_equal(a, b) for a, b in zip(chunks, before))  # the batches are not changed
    assert normalised_float32([]).shape == (0, 0)


def test_alignment_statistics_from_float32_embeddings_are_within_1e6_of_float64() -> None:
    """CLIPScore (w = 2.5), RefCLIPScore's reference cosine and the raw cosine per sample, computed from the
    float32 embeddings with float64 accumulation, differ from the float64 path by < 1e-6 (observed ~1e-7)."""
    rng = np.random.default_rng(1)
    images, texts, refs = encoder_like(rng, 1000), encoder_like(rng, 1000), encoder_like(rng, 3000)
    owner = np.repeat(np.arange(1000), 3)
    new = [normalised_float32(x) for x in (images, texts, refs)]
    old = [float64_normalised(x) for x in (images, texts, refs)]
    old_clip = 2.5 * np.clip(np.sum(old[0] * old[1], axis=1), 0.0, None)
    np.testing.assert_allclose(clip_scores(new[0], new[1], 2.5), old_clip, rtol=0, atol=1e-6)
    old_ref = np.full(1000, -np.inf)
    np.maximum.at(old_ref, owner, np.sum(old[1][owner] * old[2], axis=1))
    np.testing.assert_allclose(max_reference_cosine(new[1], new[2], owner), old_ref, rtol=0, atol=1e-6)
    cos = rowwise_cosines(new[0], new[1])
    assert cos.dtype == np.float64 and 0.1 < cos.mean() < 0.6  # the realistic range the tolerance is shown on
    np.testing.assert_allclose(cos, np.sum(old[0] * old[1], axis=1), rtol=0, atol=1e-6)
