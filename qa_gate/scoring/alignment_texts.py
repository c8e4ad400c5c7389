"""The texts an alignment metric reads of a suite, each matrix built once: captions per prompt prefix, and the
references as their distinct rows.

A suite's references are often few texts shared by many samples (templated references, a class name per
sample); kept as one row per distinct text with each reference's row index (``reference_rows``), 200k
references of 60 texts cost 60 rows instead of 200k. ``reference_embeddings`` stacks them, for a plug-in
metric written against that form.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from qa_gate.golden.suite import Suite


def distinct_texts(texts: Sequence[str]) -> tuple[list[str], np.ndarray]:
    """The distinct ``texts`` in first-seen order, and each text's index among them."""
    distinct = list(dict.fromkeys(texts))
    index = {text: i for i, text in enumerate(distinct)}
    return distinct, np.fromiter((index[t] for t in texts), dtype=np.int64, count=len(texts))


def reference_rows(groups: Sequence[Sequence[str]], prefix: str,
                   text_rows: Callable[[Sequence[str]], tuple[np.ndarray, np.ndarray]]
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The distinct references (``prefix`` + each of every sample's ``groups``) embedded by ``text_rows``, and per
    reference the sample owning it and its row."""
    owner = np.array([i for i, group in enumerate(groups) for _ in group], dtype=np.int64)
    distinct, which = text_rows([prefix + r for group in groups for r in group])
    return distinct, owner, which


def stacked(rows: tuple[np.ndarray, np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """``reference_rows``' result as ``reference_embeddings`` gives it: a row per reference, and its sample."""
    distinct, owner, which = rows
    return distinct[which], owner


class AlignmentTexts:
    """``caption_embeddings``, ``reference_rows`` and ``reference_embeddings`` of ``AlignmentInputs`` for inputs
    that embed texts with ``_encode`` (``SuiteInputs``): ``[m, d]`` normalised, read-only rows of ``m`` texts."""

    suite: Suite
    _captions: dict[str, np.ndarray]
    """prefix -> its captions' matrix; empty for inputs on another suite (a text perturbation's)."""

    def _encode(self, texts: Sequence[str]) -> np.ndarray:
        raise NotImplementedError

    def text_rows(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """The embeddings of the distinct ``texts`` and each text's row among them."""
        distinct, which = distinct_texts(texts)
        return self._encode(distinct), which

    def caption_embeddings(self, prefix: str) -> np.ndarray:
        """``[n, d]`` embeddings of ``prefix + caption``, one matrix per prefix for every metric that reads it."""
        found = self._captions.get(prefix)
        if found is None:
            found = self._captions[prefix] = self._encode([prefix + (s.caption or "") for s in self.suite.samples])
        return found

    def reference_rows(self, prefix: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The distinct references (prefixed) ``[k, d]``, and per reference the sample owning it and its row."""
        return reference_rows([s.references for s in self.suite.samples], prefix, self.text_rows)

    def reference_embeddings(self, prefix: str) -> tuple[np.ndarray, np.ndarray]:
        """Every reference (prefixed), a row each, and the sample owning it."""
        return stacked(self.reference_rows(prefix))
