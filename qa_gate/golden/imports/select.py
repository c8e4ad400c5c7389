"""Which records an import takes: all, or a seeded sample of ``--limit N`` (``--stratify TAG`` keeps each tag
value's share).

Each record's place in the sample is decided by ``sha256(seed, id)`` alone, so a sample is the same
whatever order the source lists its records in, and only the ``limit`` best keys of each stratum are
held while the source streams by. Quotas are the tag values' shares of ``limit`` (largest remainder,
ties by value), never more than a value has.
"""

from __future__ import annotations

import hashlib
import heapq
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from qa_gate.errors import GoldenError


def key(seed: int, sample_id: str) -> bytes:
    """The record's sort key in the seeded sample: smaller keys are taken first."""
    return hashlib.sha256(f"{seed}\0{sample_id}".encode()).digest()


def quotas(counts: Mapping[str, int], limit: int) -> dict[str, int]:
    """Each stratum's share of ``limit`` by largest remainder (ties by stratum name), capped by its count."""
    total = sum(counts.values())
    if limit >= total:
        return dict(counts)
    exact = {name: limit * n / total for name, n in counts.items()}
    taken = {name: int(share) for name, share in exact.items()}
    order = sorted(counts, key=lambda name: (-(exact[name] - taken[name]), name))
    for name in order[:limit - sum(taken.values())]:
        taken[name] += 1
    return taken


@dataclass
class Sampler:
    """Keeps the ``limit`` smallest keys per stratum while the records stream by (the first pass)."""

    limit: int
    seed: int
    stratify: str | None = None
    heaps: dict[str, list[tuple[bytes, str]]] = field(default_factory=dict)
    counts: Counter[str] = field(default_factory=Counter)

    def stratum(self, sample_id: str, tags: Mapping[str, str], where: str) -> str:
        """The record's stratum: its ``--stratify`` tag's value ("" when not stratified)."""
        if self.stratify is None:
            return ""
        if self.stratify not in tags:
            raise GoldenError(f"{where}: sample {sample_id!r} has no tag {self.stratify!r} to --stratify by; "
                              f"its tags: {', '.join(sorted(tags)) or 'none'}")
        return tags[self.stratify]

    def offer(self, sample_id: str, stratum: str) -> None:
        """Consider one record."""
        self.counts[stratum] += 1
        heap = self.heaps.setdefault(stratum, [])
        item = (_neg(key(self.seed, sample_id)), sample_id)
        if len(heap) < self.limit:
            heapq.heappush(heap, item)
        elif item > heap[0]:
            heapq.heapreplace(heap, item)

    def chosen(self) -> tuple[set[str], dict[str, int]]:
        """The ids taken and how many of each stratum."""
        share = quotas(self.counts, self.limit)
        ids: set[str] = set()
        for stratum, heap in self.heaps.items():
            best = sorted(heap, reverse=True)[:share[stratum]]  # largest negated key = smallest key
            ids.update(sample_id for _, sample_id in best)
        return ids, share


def _neg(digest: bytes) -> bytes:
    """A key whose order is the reverse of ``digest``'s, so the min-heap keeps the smallest digests."""
    return bytes(255 - b for b in digest)


def strata_line(counts: Iterable[tuple[str, int]], tag: str | None) -> str:
    """``colour=red 10, colour=blue 9``: what a stratified sample took."""
    return ", ".join(f"{tag}={name} {n}" for name, n in sorted(counts)) if tag else ""
