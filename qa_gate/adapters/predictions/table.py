"""A predictions file read into a :class:`PredictionTable`: typed columns by field, rows in file order.

A **sample row** has an ``id`` (a string, as the manifest's ids are: write ``"id": "42"``, never
``"id": 42``), optionally the ``suite`` it belongs to (its name in the thresholds file; when one row
has it, every sample row must), and any of :data:`FIELDS`. A **text row** has no ``id``: it holds
``input_text`` and its ``text_embedding``, for texts the metrics embed that are no sample's caption
(prefixed captions, references, class prompts, candidate answers, label prompts).

Embeddings are lists of numbers in the row, or a sidecar ``<file>.image_embedding.npy`` /
``<file>.text_embedding.npy``: a 2-d array with one row per row of the file (sample and text rows,
in file order; blank lines do not count). Optional ``<file>.settings.json`` maps an operation
(``generation``, ``answering``, ``classification``) to the settings its outputs were made with;
they enter the metric definitions as a model's settings do. The table's ``sha256`` covers the file
and every sidecar. Keys the reader does not know are ignored (and listed when a field is missing).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from qa_gate.adapters.predictions import fields
from qa_gate.adapters.predictions.formats import READERS, Record, shown
from qa_gate.errors import AdapterError, did_you_mean
from qa_gate.files import file_sha256

if TYPE_CHECKING:
    import numpy as np

FIELDS = ("caption", "answer", "text", "labels", "scores", "image_embedding", "text_embedding")
TEXTS = ("caption", "answer", "text")
EMBEDDINGS = ("image_embedding", "text_embedding")
KEYS = ("id", "suite", "input_text", *FIELDS)
SETTINGS = ("generation", "answering", "classification")
"""The operations whose settings ``<file>.settings.json`` may give."""


@dataclass(frozen=True, eq=False)
class PredictionTable:
    """The sample rows of a predictions file (in file order), its text rows and what identifies it."""

    path: Path
    sha256: str
    """The file's sha256, combined with every sidecar's when it has any."""
    ids: tuple[str, ...]
    columns: Mapping[str, tuple[Any, ...]]
    """Field -> one value per sample row (``None`` where a row lacks it); embeddings as float64 rows."""
    where: tuple[str, ...] = ()
    """Each sample row's place in the file (``line 3``, ``row 3``), for errors."""
    suites: tuple[str, ...] | None = None
    """Each sample row's suite, when the file has a ``suite`` column."""
    texts: Mapping[str, np.ndarray] = field(default_factory=lambda: MappingProxyType({}))
    """The text rows: ``input_text`` -> its text embedding (float64)."""
    settings: Mapping[str, Mapping[str, Any]] = field(default_factory=lambda: MappingProxyType({}))
    """``<file>.settings.json``: operation -> settings."""
    ignored: tuple[str, ...] = ()
    """Keys of the file the reader does not know (a typo of a field shows here)."""

    @property
    def name(self) -> str:
        """How errors name the file."""
        return shown(self.path)

    def has(self, field: str) -> bool:
        """Whether some row gives ``field`` (``text_embedding`` also counts the text rows)."""
        if field == "text_embedding" and self.texts:
            return True
        return any(v is not None for v in self.columns.get(field, ()))

    def present(self) -> tuple[str, ...]:
        """The fields some row gives, in :data:`FIELDS` order."""
        return tuple(f for f in FIELDS if self.has(f))

    def aligned(self, sample_ids: Sequence[str], suite: str, *, others: Sequence[str] = ()) -> PredictionTable:
        """Rows reordered to ``sample_ids`` (of the suite named ``suite``); missing, unknown and duplicate ids
        are an ``AdapterError`` naming the file, the count and the first ids. ``others``: ids of the other
        suites a file without a ``suite`` column also serves (not unknown)."""
        return align(self, sample_ids, suite, others)

    def rows(self, order: Sequence[int]) -> PredictionTable:
        """The table of the sample rows at ``order`` (text rows and identity kept)."""
        columns = {f: tuple(values[i] for i in order) for f, values in self.columns.items()}
        suites = None if self.suites is None else tuple(self.suites[i] for i in order)
        return PredictionTable(self.path, self.sha256, tuple(self.ids[i] for i in order), MappingProxyType(columns),
                               tuple(self.where[i] for i in order), suites, self.texts, self.settings, self.ignored)


def read_predictions(path: Path) -> PredictionTable:
    """Read ``path`` (``.jsonl``, ``.csv`` or ``.parquet``) and its sidecars; every value is type-checked and
    a bad one is an ``AdapterError`` naming the file, the line (or row), the field and what was expected."""
    path = Path(path)
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise AdapterError(f"{shown(path)}: a predictions file must end in .jsonl, .csv or .parquet "
                           f"(got {path.suffix or 'no suffix'!r})")
    if not path.is_file():
        what = "a folder, not a predictions file" if path.is_dir() else "no such predictions file"
        raise AdapterError(f"{shown(path)}: {what}")
    rows = reader(path)
    if not rows:
        raise AdapterError(f"{shown(path)}: holds no rows (an empty file); expected one row per sample, "
                           'e.g. {"id": "sample-1", "caption": "a red circle"}')
    return _build(path, rows)


def _build(path: Path, rows: list[tuple[str, Record]]) -> PredictionTable:
    from qa_gate.adapters.predictions.embeddings import Embeddings

    name = shown(path)
    ids: list[str] = []
    where: list[str] = []
    suites: list[str | None] = []
    values: dict[str, list[Any]] = {f: [] for f in FIELDS}
    text_rows: list[tuple[str, str, Any]] = []
    vectors = Embeddings(path, len(rows))
    ignored: set[str] = set()
    for index, (at, record) in enumerate(rows):
        ignored.update(k for k in record if k not in KEYS)
        if record.get("id") is None:
            text_rows.append(fields.text_row(name, at, record))
            vectors.add("text_embedding", index, at, f"text {text_rows[-1][0][:40]!r}", record.get("text_embedding"))
            continue
        ids.append(fields.sample_id(name, at, record["id"]))
        where.append(at)
        suite = record.get("suite")
        if suite is not None and not isinstance(suite, str):
            raise AdapterError(f"{name}: {at}: suite: expected the suite's name (a string), got {suite!r}")
        suites.append(suite)
        for key in TEXTS:
            values[key].append(fields.text(name, at, key, record.get(key)))
        values["labels"].append(fields.labels(name, at, record.get("labels")))
        values["scores"].append(fields.scores(name, at, record.get("scores")))
        if values["labels"][-1] is not None and values["scores"][-1] is not None:
            raise AdapterError(f"{name}: {at}: gives both labels and scores; expected one of them (labels: the "
                               "predicted label names; scores: a score in [0, 1] per label name)")
        for key in EMBEDDINGS:
            vectors.add(key, index, at, f"sample {ids[-1]!r}", record.get(key))
    if not ids:
        raise AdapterError(f"{name}: holds {len(rows)} text row(s) and no sample rows; expected one row with an "
                           "'id' per sample")
    given = [s for s in suites if s is not None]
    if given and len(given) != len(suites):
        first = where[suites.index(None)]
        raise AdapterError(f"{name}: {first}: has no suite, but other rows name theirs; expected a suite on every "
                           "sample row, or on none")
    matrix = vectors.finish()
    sample_index = [i for i, (_, record) in enumerate(rows) if record.get("id") is not None]
    for key in EMBEDDINGS:
        values[key] = list(matrix.column(key, sample_index))
    texts = _texts(name, text_rows, matrix.column("text_embedding",
                                                  [i for i, (_, r) in enumerate(rows) if r.get("id") is None]))
    settings = _settings(path)
    digest = _digest(path, vectors.sidecars)
    return PredictionTable(path, digest, tuple(ids), MappingProxyType({f: tuple(v) for f, v in values.items()}),
                           tuple(where), tuple(given) if given else None, MappingProxyType(texts),
                           MappingProxyType(settings), tuple(sorted(ignored)))


def _texts(name: str, rows: list[tuple[str, str, Any]], vectors: tuple[Any, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    first: dict[str, str] = {}
    for (text, at, _), vector in zip(rows, vectors):
        if vector is None:
            raise AdapterError(f"{name}: {at}: the text row {text[:40]!r} has no text_embedding; expected a list of "
                               "numbers (or a .text_embedding.npy sidecar)")
        if text in out and not (out[text] == vector).all():
            raise AdapterError(f"{name}: {at}: the text {text[:40]!r} appears again ({first[text]}) with another "
                               "text_embedding; expected one embedding per text")
        out.setdefault(text, vector)
        first.setdefault(text, at)
    return out


def _settings(path: Path) -> dict[str, Mapping[str, Any]]:
    side = path.with_name(path.name + ".settings.json")
    if not side.is_file():
        return {}
    try:
        data = json.loads(side.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise AdapterError(f"{shown(side)}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise AdapterError(f"{shown(side)}: expected a JSON object mapping an operation ({', '.join(SETTINGS)}) "
                           "to its settings")
    for key, value in data.items():
        if key not in SETTINGS or not isinstance(value, dict):
            hint = did_you_mean(key, SETTINGS)
            raise AdapterError(f"{shown(side)}: {key!r}: expected one of {', '.join(SETTINGS)}{hint}, each mapping "
                               "to an object of settings")
    return {key: MappingProxyType(dict(value)) for key, value in data.items()}


def _digest(path: Path, sidecars: Sequence[Path]) -> str:
    """The file's sha256 alone, or combined with each sidecar's (names and contents)."""
    settings = path.with_name(path.name + ".settings.json")
    extra = [*sidecars, *([settings] if settings.is_file() else [])]
    own = file_sha256(path)
    if not extra:
        return own
    outer = hashlib.sha256(bytes.fromhex(own))
    for side in sorted(extra):
        outer.update(side.name.removeprefix(path.name).encode("utf-8"))
        outer.update(bytes.fromhex(file_sha256(side)))
    return outer.hexdigest()


SHOWN = 3
"""How many ids an error lists."""


def listed(ids: Sequence[str]) -> str:
    shown = ", ".join(repr(i if len(i) <= 40 else i[:37] + "...") for i in ids[:SHOWN])
    return shown + (", ..." if len(ids) > SHOWN else "")


def loose(sample_id: str) -> str:
    """An id with case and whitespace ignored: ids that are equal so differ only by formatting."""
    return re.sub(r"\s+", " ", sample_id).strip().casefold()


def _hint(missing: Sequence[str], unknown: Sequence[str]) -> str:
    """``(did you mean 'a1' for 'A1 '?)`` for the first unknown id that matches a missing one loosely."""
    by_loose = {loose(m): m for m in missing}
    for given in unknown:
        if loose(given) in by_loose:
            return (f" (did you mean {by_loose[loose(given)]!r} for {given!r}? ids must match the manifest's "
                    "exactly, case and whitespace included)")
    return ""


def align(table: PredictionTable, sample_ids: Sequence[str], suite: str,
          others: Sequence[str] = ()) -> PredictionTable:
    """``table``'s rows of ``suite`` in the order of ``sample_ids``; see the module docstring for the errors."""
    rows = range(len(table.ids)) if table.suites is None else [i for i, s in enumerate(table.suites) if s == suite]
    first: dict[str, int] = {}
    doubled: dict[str, list[int]] = {}
    for i in rows:
        sample_id = table.ids[i]
        if sample_id in first:
            doubled.setdefault(sample_id, [first[sample_id]]).append(i)
        else:
            first[sample_id] = i
    of = f" of suite {suite!r}" if table.suites is not None else ""
    if doubled:
        ids = list(doubled)
        places = "; ".join(f"{i!r} on {' and '.join(table.where[r] for r in doubled[i][:2])}" for i in ids[:SHOWN])
        raise AdapterError(f"{table.name}: {len(ids)} id(s){of} appear more than once ({places}"
                           f"{', ...' if len(ids) > SHOWN else ''}); expected exactly one row per sample")
    wanted, elsewhere = set(sample_ids), set(others)
    missing = [i for i in sample_ids if i not in first]
    unknown = [i for i in first if i not in wanted and i not in elsewhere]
    if not missing and not unknown:
        return table.rows([first[i] for i in sample_ids])
    parts = []
    if missing:
        parts.append(f"{len(missing)} of the {len(sample_ids)} samples of suite {suite!r} have no row "
                     f"({listed(missing)})")
        if table.suites is not None and not rows:  # a file written for other suites
            parts.append(f"its rows name suite(s) {listed(sorted(set(table.suites)))}, not {suite!r}")
    if unknown:
        whose = f"suite {suite!r}" if table.suites is not None or not elsewhere else "any gated suite"
        parts.append(f"{len(unknown)} row id(s){of} are no sample of {whose} ({listed(unknown)}, first on "
                     f"{table.where[first[unknown[0]]]})")
    raise AdapterError(f"{table.name}: {'; '.join(parts)}{_hint(missing, unknown)}; expected exactly one row per "
                       "sample (a file for another suite, or another version of it?)")
