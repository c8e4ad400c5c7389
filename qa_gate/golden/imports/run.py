"""``mm-gate golden import FORMAT SOURCE... --out golden/NAME``: the machinery every format shares.

A format reader (:data:`FORMATS`, imported lazily) yields :class:`~.record.Record` s. The import
checks each (duplicate id, missing image: skipped and counted, or ``--strict`` stops), takes all or a
seeded sample (:mod:`.select`; a sample reads the source twice, holding only the best keys), writes
the suite (:mod:`.write`) and records in ``provenance.json`` the sources' sha256 and the settings:
that file is pinned by ``SHA256SUMS`` like every other, so it enters the suite fingerprint.
"""

from __future__ import annotations

import importlib
import sys
import time
import unicodedata
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from qa_gate.errors import GoldenError
from qa_gate.golden.imports.record import FileImage, Reader, ReadSettings, Record
from qa_gate.golden.imports.select import Sampler, strata_line
from qa_gate.golden.imports.write import PROVENANCE, SuiteWriter, check_out, sha256_file
from qa_gate.golden.manifest import TYPE_TAGS, Head, id_problem
from qa_gate.golden.problems import display

FORMATS = {
    "coco-captions": "qa_gate.golden.imports.coco:coco_captions",
    "karpathy": "qa_gate.golden.imports.coco:karpathy",
    "vqa-v2": "qa_gate.golden.imports.vqa:vqa_v2",
    "pope": "qa_gate.golden.imports.vqa:pope",
    "hf-parquet": "qa_gate.golden.imports.parquet:hf_parquet",
    "webdataset": "qa_gate.golden.imports.shards:webdataset",
    "csv": "qa_gate.golden.imports.tables:csv_table",
    "jsonl": "qa_gate.golden.imports.tables:jsonl_table",
}
"""Format name -> ``module:function`` taking :class:`ReadSettings` and returning a :data:`Reader`."""
TAKES_MAP = ("hf-parquet", "webdataset", "csv", "jsonl")
TAKES_SPLIT = ("karpathy", "pope", "hf-parquet")
FIRST_IDS = 5
"""How many skipped ids the report names."""


@dataclass(frozen=True)
class ImportSettings:
    """The options of one import (what ``provenance.json`` records under ``settings``)."""

    fmt: str
    sources: tuple[Path, ...]
    out: Path
    images: Path | None = None
    split: str | None = None
    limit: int | None = None
    seed: int = 0
    stratify: str | None = None
    link_images: bool = False
    force: bool = False
    strict: bool = False
    mapping: Mapping[str, str] = field(default_factory=dict)
    labels: tuple[str, ...] | None = None
    description: str | None = None


@dataclass(frozen=True)
class Imported:
    """What an import did: the suite written and what it took."""

    out: Path
    fingerprint: str
    read: int
    taken: int
    skipped: Mapping[str, tuple[int, tuple[str, ...]]]
    strata: Mapping[str, int]
    stratify: str | None

    def lines(self) -> list[str]:
        """The import's report: what was read, skipped and taken, and the suite written."""
        lines = [f"read {self.read} samples; took {self.taken}"
                 + (f" ({strata_line(self.strata.items(), self.stratify)})" if self.stratify else "")]
        for reason, (count, ids) in sorted(self.skipped.items()):
            more = ", ..." if count > len(ids) else ""
            lines.append(f"skipped {count} ({reason}): {', '.join(repr(i) for i in ids)}{more}")
        lines.append(f"wrote {display(self.out)}: {self.taken} samples, fingerprint {self.fingerprint} "
                     f"(sources pinned in {PROVENANCE})")
        return lines


def reader_for(settings: ImportSettings) -> Reader:
    """The format's reader over the settings' sources."""
    if settings.fmt not in FORMATS:
        raise GoldenError(f"golden import: unknown format {settings.fmt!r}; expected one of {', '.join(FORMATS)}")
    module, name = FORMATS[settings.fmt].split(":")
    make: Callable[[ReadSettings], Reader] = getattr(importlib.import_module(module), name)
    return make(ReadSettings(settings.sources, settings.images, settings.split, settings.mapping))


class _Progress:
    """One line on stderr every few seconds while a large source streams by."""

    def __init__(self, stream: TextIO | None, every: float = 5.0) -> None:
        self.stream, self.every, self.last, self.start = stream, every, time.monotonic(), time.monotonic()

    def tick(self, done: int, what: str) -> None:
        now = time.monotonic()
        if self.stream is not None and now - self.last >= self.every:
            self.last = now
            print(f"mm-gate: import: {what} {done} samples ({done / (now - self.start):.0f}/s)", file=self.stream)


@dataclass
class _Pass:
    """One pass over the records: usable ones, with duplicates refused and skips counted."""

    settings: ImportSettings
    skipped: dict[str, list[Any]] = field(default_factory=dict)
    read: int = 0

    def usable(self, reader: Reader, progress: _Progress, what: str) -> Iterator[Record]:
        seen: dict[str, str] = {}
        present: set[tuple[Path, str]] = set()
        for record in reader():
            self.read += 1
            progress.tick(self.read, what)
            sample_id = unicodedata.normalize("NFC", record.id)
            if (bad := id_problem(sample_id)) is not None:
                raise GoldenError(f"{record.where}: id {sample_id!r} {bad}")
            if sample_id in seen:
                raise GoldenError(f"{record.where}: duplicate id {sample_id!r}, already used by {seen[sample_id]}; "
                                  "expected ids unique in the source")
            seen[sample_id] = record.where
            reason = record.skip or _missing(record, present)
            if reason is not None:
                if self.settings.strict:
                    raise GoldenError(f"{record.where}: sample {sample_id!r}: {reason} (--strict stops at the first; "
                                      "without it such samples are skipped and counted)")
                entry = self.skipped.setdefault(reason, [0, []])
                entry[0] += 1
                if len(entry[1]) < FIRST_IDS:
                    entry[1].append(sample_id)
                continue
            yield record if sample_id == record.id else Record(sample_id, record.where, record.image, record.fields,
                                                               record.tags, None)


def _missing(record: Record, present: set[tuple[Path, str]]) -> str | None:
    """Why the record has no image (``present``: files already found, so a shared image is looked up once)."""
    if record.image is None:
        return "missing image"
    if isinstance(record.image, FileImage) and (key := (record.image.root, record.image.rel)) not in present:
        if not (record.image.root / record.image.rel).is_file():
            return "missing image"
        present.add(key)
    return None


def _entry(record: Record, image: str) -> dict[str, Any]:
    entry: dict[str, Any] = {"id": record.id, "image": image}
    entry.update({k: v for k, v in record.fields.items() if v is not None})
    if record.tags:
        entry["tags"] = dict(record.tags)
    return entry


def _provenance(settings: ImportSettings, taken: Imported | None) -> dict[str, Any]:
    def rel(path: Path) -> str:
        import os

        return Path(os.path.relpath(Path(path).resolve(), settings.out.resolve())).as_posix()

    return {
        "qa_gate_import": 1,
        "format": settings.fmt,
        "sources": [{"path": rel(p), "sha256": sha256_file(p), "bytes": Path(p).stat().st_size}
                    for p in settings.sources],
        "settings": {"images": None if settings.images is None else rel(settings.images),
                     "split": settings.split, "limit": settings.limit, "seed": settings.seed,
                     "stratify": settings.stratify, "image_mode": "link" if settings.link_images else "copy",
                     "strict": settings.strict, "map": dict(sorted(settings.mapping.items())),
                     "labels": None if settings.labels is None else list(settings.labels)},
        "taken": None if taken is None else {
            "read": taken.read, "taken": taken.taken,
            "skipped": {reason: {"count": n, "first_ids": list(ids)} for reason, (n, ids) in taken.skipped.items()},
            "strata": dict(taken.strata) if taken.stratify else None},
    }


def _inputs(settings: ImportSettings) -> list[Path]:
    return [*settings.sources, *([settings.images] if settings.images is not None else [])]


def import_suite(settings: ImportSettings, progress: TextIO | None = sys.stderr) -> Imported:
    """Import ``settings.sources`` as a new golden suite at ``settings.out`` (see the module's docstring)."""
    for source in settings.sources:
        if not Path(source).is_file():
            raise GoldenError(f"golden import {settings.fmt}: source {display(source)} does not exist or is not a file")
    if settings.mapping and settings.fmt not in TAKES_MAP:
        raise GoldenError(f"--map: {settings.fmt} fills its fields itself; --map goes with {', '.join(TAKES_MAP)}")
    if settings.split is not None and settings.fmt not in TAKES_SPLIT:
        raise GoldenError(f"--split: {settings.fmt} has no splits to choose; "
                          f"--split goes with {', '.join(TAKES_SPLIT)}")
    if settings.limit is not None and settings.limit < 1:
        raise GoldenError(f"--limit {settings.limit}: expected a positive number of samples")
    if settings.stratify is not None and settings.limit is None:
        raise GoldenError("--stratify goes with --limit N (it keeps each tag value's share of the N taken)")
    check_out(settings.out, settings.force, _inputs(settings))
    reader, ticker = reader_for(settings), _Progress(progress)
    chosen: set[str] | None = None
    strata: Mapping[str, int] = {}
    if settings.limit is not None:
        sampler = Sampler(settings.limit, settings.seed, settings.stratify)
        for record in _Pass(settings).usable(reader, ticker, "sampled"):
            tags = {**record.tags, **{k: str(record.fields[k]) for k in TYPE_TAGS if record.fields.get(k)}}
            sampler.offer(record.id, sampler.stratum(record.id, tags, record.where))
        chosen, strata = sampler.chosen()
    counting, writer = _Pass(settings), SuiteWriter(settings.out, settings.link_images)
    labels: dict[str, None] = {}
    try:
        for record in counting.usable(reader, ticker, "imported"):
            if record.image is None or (chosen is not None and record.id not in chosen):
                continue  # (usable records always have an image)
            writer.sample(_entry(record, writer.image(record.id, record.image, record.where)))
            labels.update(dict.fromkeys(record.fields.get("labels") or ()))
        if not writer.count:
            raise GoldenError(f"golden import {settings.fmt}: no sample could be imported "
                              f"(read {counting.read}; {_skips(counting.skipped) or 'none usable'})")
        skipped = {reason: (n, tuple(ids)) for reason, (n, ids) in counting.skipped.items()}
        done = Imported(settings.out, "", counting.read, writer.count, skipped, strata, settings.stratify)
        head = Head(settings.description or f"Imported from {settings.fmt}: "
                    + ", ".join(Path(p).name for p in settings.sources),
                    settings.labels if settings.labels is not None else (tuple(labels) or None))
        fingerprint = writer.finish(head, _provenance(settings, done), settings.force)
    except BaseException:
        writer.discard()
        raise
    return Imported(settings.out, fingerprint, done.read, done.taken, done.skipped, done.strata, done.stratify)


def _skips(skipped: Mapping[str, Sequence[Any]]) -> str:
    return "; ".join(f"{n} skipped ({reason})" for reason, (n, _) in skipped.items())
