"""One suite's side of the output cache and of the progress bars, as ``SuiteInputs`` uses them.

For each model operation ``SuiteInputs`` asks for a plan: which inputs are cached (their outputs are
read, their images never decoded) and which must run; it runs those in its batches, passing each
batch's outputs through :meth:`ImagePlan.done` (the progress bar), then merges the cached outputs
back in sample order (:meth:`ImagePlan.merge`), which also stores the new ones. With nothing cached
the outputs come back exactly as they were computed. Outputs that the runner will refuse (not
finite, rows of several widths, not strings) are never stored.

The timed operation of a suite with an efficiency metric is always run (``reuse_images=False``):
timings measure the model, so they never come from the cache.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

import numpy as np

from qa_gate.golden.suite import Suite
from qa_gate.scoring.cache import OutputStore
from qa_gate.scoring.cache_key import entry_key, image_digests, image_keys
from qa_gate.scoring.cache_pack import embedding
from qa_gate.scoring.progress import QUIET, Bar, Progress

T = TypeVar("T")
LABELS = {"image encoding": "decode + encode images", "text encoding": "encode texts",
          "generation": "decode + generate", "answering": "decode + answer", "classification": "decode + score labels"}
"""How a progress bar names each operation."""


def _storable(values: Sequence[Any]) -> bool:
    """Whether ``values`` are outputs the runner accepts (so worth storing): strings, or finite rows of one width."""
    if not values:
        return False
    if all(isinstance(v, str) for v in values):
        return True
    if any(isinstance(v, str) for v in values) or len({len(v) for v in values}) != 1:
        return False
    step = 4096  # a block at a time: no copy of every row at once
    return all(np.isfinite(np.asarray(values[i:i + step], dtype=np.float64)).all() for i in range(0, len(values), step))


def _rows(chunks: Sequence[Any]) -> list[Any]:
    """The outputs of a list of chunks, one per input: a ``[b, k]`` array adds ``b`` rows, a string itself."""
    out: list[Any] = []
    for chunk in chunks:
        if isinstance(chunk, np.ndarray) and chunk.ndim == 2:
            out.extend(chunk)
        else:
            out.append(chunk)
    return out


def _chunks(values: Sequence[Any]) -> list[Any]:
    """Rows back into ``[b, k]`` chunks (consecutive rows of one width together); strings stay as they are."""
    if values and isinstance(values[0], str):
        return list(values)
    out: list[Any] = []
    start = 0
    for end in range(1, len(values) + 1):
        if end == len(values) or len(values[end]) != len(values[start]):
            out.append(np.stack(values[start:end]))
            start = end
    return out


class ImagePlan:
    """One operation over a suite's images: which samples run, their progress, and the merge with the cached.

    Embeddings come from the store as one float32 matrix (``gathered``: the cached rows in place, the others
    zero) that the merge fills with the computed rows and returns as the operation's one chunk, so a warm
    suite's image embeddings are copied once, from the packs into that matrix.
    """

    def __init__(self, store: OutputStore | None, operation: str, keys: list[bytes] | None,
                 found: list[Any] | None, bar: Bar,
                 gathered: tuple[np.ndarray | None, np.ndarray] | None = None) -> None:
        self._store, self._operation, self._keys, self._bar = store, operation, keys, bar
        self.matrix: np.ndarray | None = None
        """The float32 matrix the merge returned as the operation's one chunk (owned by the plan), if any."""
        self._gathered: np.ndarray | None = None
        self._hit: np.ndarray | None = None
        if gathered is not None:
            self._gathered, self._hit = gathered
        self._found = found if found is not None else [None] * (len(keys) if keys is not None else 0)
        if self._hit is not None:
            self.todo: list[int] | None = np.flatnonzero(~self._hit).tolist()
        else:
            self.todo = [i for i, x in enumerate(self._found) if x is None] if found is not None else None
        self.cached = len(self._found) - len(self.todo) if self.todo is not None else 0

    def _pick(self, items: Sequence[T]) -> Sequence[T]:
        return items if not self.cached or self.todo is None else [items[i] for i in self.todo]

    def pick(self, samples: Sequence[T], extra: Sequence[Any] | None) -> tuple[Sequence[T], Sequence[Any] | None]:
        """The samples that must run, in order, with their ``extra`` items (questions) if any; they go on the bar."""
        picked = self._pick(samples)
        self._bar.grow(len(picked))
        return picked, None if extra is None else self._pick(extra)

    def done(self, items: list[Any]) -> list[Any]:
        """A batch ran: count it on the bar; its outputs pass through."""
        self._bar.update(sum(len(x) if isinstance(x, np.ndarray) and x.ndim == 2 else 1 for x in items))
        return items

    def merge(self, out: list[Any]) -> list[Any]:
        """The outputs of every sample in order: the cached ones and ``out`` (those that ran); stores the new."""
        computed = _rows(out)
        if self._store is not None and self._keys is not None and _storable(computed):
            todo = self.todo if self.todo is not None else range(len(self._keys))
            if len(todo) == len(computed):
                self._store.add(self._operation, [self._keys[i] for i in todo], computed)
        if not self.cached or self.todo is None:
            return out
        if self._gathered is not None:
            return self._filled(self._gathered, out)
        values = list(self._found)
        for index, value in zip(self.todo, computed):
            values[index] = value
        return _chunks(values)

    def _filled(self, matrix: np.ndarray, out: list[Any]) -> list[Any]:
        """The gathered matrix with the computed chunks in their rows; the chunks beside it when their width
        differs (the runner refuses that, naming the operation)."""
        assert self.todo is not None
        if any(np.ndim(c) != 2 or np.shape(c)[1] != matrix.shape[1] for c in out):
            return [matrix[self._hit], *out]
        at = 0
        for chunk in out:
            matrix[self.todo[at:at + len(chunk)]] = chunk
            at += len(chunk)
        self.matrix = matrix
        return [matrix]


class TextPlan:
    """Distinct texts to embed: the cached rows already in ``matrix`` (float32, ``[len(texts), d]`` in the order of
    ``texts``; ``None`` when none is cached), and the ``misses`` to run (``missing``: their positions), shortest
    first so that similar lengths share a batch."""

    def __init__(self, store: OutputStore | None, texts: Sequence[str], bar: Bar) -> None:
        self._store, self._bar = store, bar
        self._keys = [entry_key("text encoding", t) for t in texts] if store is not None else []
        self.matrix: np.ndarray | None = None
        hit = np.zeros(len(texts), dtype=np.bool_)
        if store is not None:
            self.matrix, hit = store.gather("text encoding", self._keys)
        self.missing = sorted(np.flatnonzero(~hit).tolist(), key=lambda i: len(texts[i]))
        self.misses = [texts[i] for i in self.missing]
        self._done: list[Any] = []
        bar.grow(len(self.misses))

    def done(self, items: list[Any]) -> list[Any]:
        """A batch of misses ran: count it, keep its rows to store; the rows pass through."""
        self._bar.update(sum(len(x) for x in items))
        self._done.extend(items)
        return items

    def finish(self) -> None:
        """Store the rows of the misses (when the runner will accept them)."""
        computed = _rows(self._done)
        self._done = []
        if self._store is not None and len(computed) == len(self.misses) and _storable(computed):
            self._store.add("text encoding", [self._keys[i] for i in self.missing], computed)


class SuiteCache:
    """The output cache (``store``; ``None``: off) and progress bars of one model on one suite."""

    def __init__(self, suite: Suite, store: OutputStore | None = None, progress: Progress = QUIET, *,
                 label: str | None = None, reuse_images: bool = True, variant: str | None = None) -> None:
        self.suite, self.store, self.progress = suite, store, progress
        self.label = label or suite.name
        self.reuse_images = reuse_images
        self.variant = variant
        """A perturbation's canonical spec: its image outputs are keyed apart from the clean ones."""
        self._digests = image_digests(suite) if store is not None else None

    def perturbed(self, variant: str, label: str) -> SuiteCache:
        """The cache of the same model on the suite's images perturbed as ``variant`` says (never the clean
        entries: ``variant`` enters every image key), its bars under ``label``; never timed, so reused."""
        return SuiteCache(self.suite, self.store, self.progress, label=label, variant=variant)

    def images(self, operation: str, extra: Sequence[Any] | None = None) -> ImagePlan:
        """The plan of ``operation`` on every image of the suite (with one ``extra`` text per sample, if any)."""
        bar = self.progress.bar(self.label, LABELS.get(operation, operation))
        if self.store is None or self._digests is None:
            return ImagePlan(None, operation, None, None, bar)
        keys = image_keys(operation, self._digests, None if extra is None else [str(e) for e in extra],
                          self.variant)
        if not self.reuse_images:
            return ImagePlan(self.store, operation, keys, [None] * len(keys), bar)
        if embedding(operation):
            return ImagePlan(self.store, operation, keys, None, bar, self.store.gather(operation, keys))
        return ImagePlan(self.store, operation, keys, self.store.lookup(operation, keys), bar)

    def texts(self, texts: Sequence[str]) -> TextPlan:
        """The plan of embedding ``texts`` (distinct)."""
        return TextPlan(self.store, texts, self.progress.bar(self.label, LABELS["text encoding"]))

    def end(self) -> None:
        """The suite is done: close its bars."""
        self.progress.end_suite(self.label)
