"""Embeddings as the suite keeps them: one float32 matrix, L2-normalised in place.

Encoders return float32 (or are cast to it by ``as_rows``); the normalised copy is the only one
kept, so a suite's embeddings cost ``4 d`` bytes per row. Metrics that need float64 accuracy
(the cosines of CLIPScore, the ranks of retrieval) accumulate in float64 from these rows
without a float64 copy of the matrix (``qa_gate.metrics.clip.rowwise_cosines``, ``qa_gate.metrics.ranking``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

BLOCK_ROWS = 8192
"""Rows normalised (or multiplied) at a time: bounds the float64 temporaries."""


def normalised_float32(chunks: Sequence[np.ndarray]) -> np.ndarray:
    """The batches ``chunks`` (``[b_i, d]`` each) as one ``[sum b_i, d]`` float32 array, each row divided by
    its L2 norm (computed in float64) in place; an all-zero row stays zero."""
    total = sum(len(c) for c in chunks)
    width = chunks[0].shape[1] if chunks else 0
    out = np.empty((total, width), dtype=np.float32)
    start = 0
    for chunk in chunks:
        out[start:start + len(chunk)] = chunk
        start += len(chunk)
    return normalise_in_place(out)


def normalise_in_place(matrix: np.ndarray) -> np.ndarray:
    """``matrix`` (float32 ``[n, d]``) with each row divided by its L2 norm (computed in float64), in place, a
    block of rows at a time; an all-zero row stays zero."""
    for a in range(0, len(matrix), BLOCK_ROWS):
        block = matrix[a:a + BLOCK_ROWS]
        norms = np.sqrt(np.einsum("ij,ij->i", block, block, dtype=np.float64))
        block /= np.where(norms == 0, 1.0, norms).astype(np.float32)[:, None]
    return matrix
