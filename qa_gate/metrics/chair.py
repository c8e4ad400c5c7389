"""CHAIR (Rohrbach et al. 2018, "Object Hallucination in Image Captioning") on generated captions.

Reference: LisaAnne/Hallucination ``utils/chair.py`` at a967f2f (2019-03-06, its last change),
``compute_chair`` (lines 190-273). Each caption's object mentions come from
``qa_gate.metrics.chair_words`` (the reference's ``caption_to_words``); a mention is
**hallucinated** when its category is not among the sample's ground-truth ``objects`` (each
name read through the same vocabulary: ``dogs`` and ``puppy`` both mean dog).

- ``chair_i`` = hallucinated mentions / all mentions, over the suite (CHAIR_i);
- ``chair_s`` = captions with at least one hallucinated mention / captions (CHAIR_s);
- ``object_recall`` = ground-truth categories the caption mentions / ground-truth categories.

``chair_i`` and ``chair_s`` are lower-is-better. Each metric's per-sample row is its numerator
and denominator, so the suite value is a ratio of sums and resamples correctly
(``mean_sufficient``); a suite without any mention has ``chair_i`` 0, as nothing was hallucinated.
A sample's own value is its ratio (0 for a caption without mentions, as the reference's per-caption
CHAIRi; 1 for recall of an empty object list). The reference's ground truth is the union of the
COCO instance categories and the objects its captions mention; here it is the ``objects`` field
(an importer may fill it either way). The vocabulary file's version and sha256 enter the definition.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Protocol

import numpy as np

from qa_gate.metrics.base import Metric
from qa_gate.metrics.chair_words import REFERENCE, VOCABULARY_FILE, category, mentions, unknown_objects, vocabulary

SHOWN = 3
"""How many unknown object names an error lists."""


class ChairInputs(Protocol):
    """What the CHAIR metrics read: one generated caption and the ground-truth objects per sample."""

    sample_ids: tuple[str, ...]

    def predictions(self) -> list[str]:
        """The captioner's caption of each image."""
        ...

    def objects(self) -> list[tuple[str, ...]]:
        """Each sample's ground-truth object names."""
        ...


def caption_counts(caption: str, objects: Sequence[str]) -> tuple[int, int, int, int]:
    """``(mentions, hallucinated mentions, ground-truth categories, of them mentioned)`` of one caption."""
    vocab = vocabulary()
    truth = {category(name, vocab) for name in objects} - {None}
    said = mentions(caption, vocab)
    return len(said), sum(1 for c in said if c not in truth), len(truth), len(truth & set(said))


def counts(inputs: ChairInputs) -> np.ndarray:
    """``[n, 4]`` rows of ``caption_counts`` for every sample."""
    ids, captions, objects = tuple(inputs.sample_ids), list(inputs.predictions()), list(inputs.objects())
    if not len(captions) == len(objects) == len(ids):
        raise ValueError(f"{len(ids)} samples but {len(captions)} captions and {len(objects)} object lists")
    return np.array([caption_counts(c, o) for c, o in zip(captions, objects)], dtype=np.float64).reshape(-1, 4)


def _ratio(numerator: np.ndarray, denominator: np.ndarray, empty: float) -> np.ndarray:
    return np.divide(numerator, denominator, out=np.full(np.shape(denominator), empty), where=denominator > 0)


class _Chair(Metric[ChairInputs]):
    """Shared CHAIR machinery: per-sample ``[numerator, denominator]``, the suite value their sums' ratio."""

    columns: ClassVar[tuple[str, ...]]
    family: ClassVar[str] = "chair"
    mean_sufficient: ClassVar[bool] = True  # a ratio of sums is scale-free
    empty: ClassVar[float] = 0.0
    """A sample's value when its denominator is 0."""

    def sample_problem(self, sample: Any, params: Mapping[str, Any]) -> str | None:
        """Refuses a sample without ``objects``, or with names the vocabulary does not know."""
        if sample.objects is None:
            return "has no objects (CHAIR's ground truth: the objects in the image; an empty list for none)"
        unknown = unknown_objects(sample.objects)
        if unknown:
            shown = ", ".join(map(repr, unknown[:SHOWN])) + (", ..." if len(unknown) > SHOWN else "")
            return (f"has objects {shown} that the CHAIR vocabulary ({VOCABULARY_FILE} version "
                    f"{vocabulary().version}) does not know; expected COCO object names or their synonyms, "
                    "such as 'person', 'dog', 'dining table'")
        return None

    def definition(self, params: Mapping[str, Any], scorer: str) -> dict[str, Any]:
        """The reference, the vocabulary file (version and sha256) and the ratio."""
        vocab = vocabulary()
        return {**super().definition(params, scorer), "reference": REFERENCE,
                "vocabulary": {"file": VOCABULARY_FILE, "version": vocab.version, "sha256": vocab.sha256},
                "ratio": f"sum({self.columns[0]}) / sum({self.columns[1]})"}

    def pick(self, rows: np.ndarray) -> np.ndarray:
        """The metric's ``[numerator, denominator]`` columns from ``counts`` rows."""
        raise NotImplementedError

    def per_sample(self, inputs: ChairInputs, params: Mapping[str, Any]) -> np.ndarray:
        """Two columns per sample: the numerator and the denominator."""
        return self.pick(counts(inputs))

    def aggregate(self, stats: np.ndarray) -> np.ndarray:
        """``sum(numerator) / sum(denominator)`` over the sample axis of ``[..., n, 2]`` (0 for 0 / 0)."""
        sums = np.asarray(stats, dtype=np.float64).sum(axis=-2)
        return _ratio(sums[..., 0], sums[..., 1], 0.0)

    def sample_values(self, stats: np.ndarray) -> np.ndarray:
        """Each sample's own ratio."""
        stats = np.asarray(stats, dtype=np.float64)
        return _ratio(stats[:, 0], stats[:, 1], self.empty)


class ChairI(_Chair):
    """CHAIR_i: hallucinated object mentions / all object mentions."""

    name: ClassVar[str] = "chair_i"
    higher_is_better: ClassVar[bool] = False
    columns: ClassVar[tuple[str, ...]] = ("hallucinated_mentions", "mentions")

    def pick(self, rows: np.ndarray) -> np.ndarray:
        """``[hallucinated, mentions]``."""
        return rows[:, [1, 0]]


class ChairS(_Chair):
    """CHAIR_s: captions with at least one hallucinated mention / captions."""

    name: ClassVar[str] = "chair_s"
    higher_is_better: ClassVar[bool] = False
    columns: ClassVar[tuple[str, ...]] = ("hallucinated_caption", "caption")

    def pick(self, rows: np.ndarray) -> np.ndarray:
        """``[1 when any mention is hallucinated, 1]``."""
        return np.stack([(rows[:, 1] > 0).astype(np.float64), np.ones(len(rows))], axis=1)


class ObjectRecall(_Chair):
    """Ground-truth object categories the caption mentions / ground-truth categories."""

    name: ClassVar[str] = "object_recall"
    columns: ClassVar[tuple[str, ...]] = ("mentioned_objects", "objects")
    empty: ClassVar[float] = 1.0  # nothing to recall, nothing missed

    def pick(self, rows: np.ndarray) -> np.ndarray:
        """``[ground-truth categories mentioned, ground-truth categories]``."""
        return rows[:, [3, 2]]

    def suite_problem(self, samples: Sequence[Any], params: Mapping[str, Any]) -> str | None:
        """Refuses a suite none of whose samples lists an object: there is nothing to recall."""
        if any(s.objects for s in samples):
            return None
        return "lists no object in any sample (every 'objects' is empty)"
