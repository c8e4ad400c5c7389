"""The per-sample file beside a baseline (``baseline.samples.npz``): sample ids, tags, texts and outputs, and
every metric's per-sample statistics, compact and compressed.

A zip of ``.npy`` arrays (``numpy.load`` opens it), written byte-for-byte deterministically so that the same
run gives the same file. ``index.npy`` (UTF-8 JSON) describes the rest. Each column of statistics is stored in
the smallest form that gives its values back exactly: whole numbers (0/1 hits, counts, ranks) as the smallest
integer type, a column of few distinct values (VQA accuracies, per-sample F1) as ``uint8``/``uint16`` codes into
its values, values that are float32 numbers as float32. Only a column of continuous scores (CLIPScore, cosine,
RefCLIPScore) is rounded to float32, a relative error of at most 2**-24 (6e-8), far below what the float32
embeddings these scores come from carry; a column float32 cannot hold (beyond its range) stays float64.
"""

from __future__ import annotations

import io
import json
import zipfile
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np

from qa_gate.results import RunResult, SampleInfo

FORMAT = "qa-gate-samples"
VERSION = 1
INDEX = "index"
EXACT, FLOAT32 = "exact", "float32"
"""What a metric's ``per_sample_precision`` says: every value given back exactly, or some rounded to float32."""
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)
_F32 = np.finfo(np.float32)
_INTS = (np.uint8, np.int8, np.uint16, np.int16, np.uint32, np.int32)
_DTYPES = {np.dtype(t).str for t in (*_INTS, np.float32, np.float64)}


class SidecarInvalid(ValueError):
    """The per-sample file is not what its index says; the message says what is wrong."""


def sidecar_name(baseline_name: str) -> str:
    """``baseline.json`` -> ``baseline.samples.npz`` (a name without ``.json`` gets the suffix appended)."""
    stem = baseline_name[:-5] if baseline_name.lower().endswith(".json") else baseline_name
    return f"{stem}.samples.npz"


@dataclass(frozen=True)
class SuiteSamples:
    """One suite's per-sample data as read back: samples in order, and each metric's statistics and values."""

    samples: tuple[SampleInfo, ...]
    stats: Mapping[str, np.ndarray]
    per_sample: Mapping[str, tuple[float, ...]]


# -- writing ---------------------------------------------------------------------------------------------


class _Members:
    """The arrays of the file being written, named in order."""

    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}

    def add(self, array: np.ndarray) -> str:
        name = f"a{len(self.arrays)}"
        self.arrays[name] = np.ascontiguousarray(array)
        return name

    def text(self, value: Any) -> str:
        """``value`` as ASCII JSON (escaped, so any text round-trips, a lone surrogate too)."""
        return self.add(np.frombuffer(json.dumps(value).encode("ascii"), dtype=np.uint8))


def _int_type(values: np.ndarray) -> np.dtype[Any] | None:
    """The smallest integer type holding ``values`` exactly, or None when they are not all whole numbers."""
    if values.size == 0:
        return np.dtype(np.uint8)
    if not np.all(np.isfinite(values)) or not np.array_equal(values, np.rint(values)):
        return None
    low, high = float(values.min()), float(values.max())
    return next((np.dtype(t) for t in _INTS if np.iinfo(t).min <= low and high <= np.iinfo(t).max), None)


def _encode_column(values: np.ndarray, members: _Members) -> tuple[dict[str, Any], bool]:
    """How one float64 column is stored (its index entry), and whether it is given back exactly."""
    values = np.ascontiguousarray(values, dtype=np.float64)
    int_type = _int_type(values)
    if int_type is not None:
        return {"kind": "int", "array": members.add(values.astype(int_type))}, True
    vocab, codes = np.unique(values, return_inverse=True)
    n, k = len(values), len(vocab)
    if k <= 256 or (k <= 65536 and 2 * n + 8 * k < 4 * n):
        code_type = np.uint8 if k <= 256 else np.uint16
        if np.array_equal(vocab[codes], values, equal_nan=True):
            return {"kind": "codes", "array": members.add(codes.astype(code_type)), "values": members.add(vocab)}, True
    finite = np.abs(values[np.isfinite(values) & (values != 0)])
    if finite.size and (finite.max() > _F32.max or finite.min() < _F32.tiny):  # beyond float32's normal range
        return {"kind": "float64", "array": members.add(values)}, True
    single = values.astype(np.float32)
    if np.array_equal(single.astype(np.float64), values, equal_nan=True):
        return {"kind": "float32", "array": members.add(single)}, True
    return {"kind": "float32", "array": members.add(single), "rounded": True}, False


def _token(value: Any) -> Any:
    """A key telling tag values apart as JSON would (``1``, ``True`` and ``"1"`` differ)."""
    token = (type(value), value)
    try:
        hash(token)
    except TypeError:
        return ("json", json.dumps(value, sort_keys=True))
    return token


_ABSENT = object()


def _encode_tags(samples: Sequence[SampleInfo], members: _Members) -> dict[str, Any]:
    """Each tag key: its distinct values (first seen first) and one code per sample (-1: the sample lacks it)."""
    keys = sorted({key for s in samples for key in s.tags})
    out = {}
    for key in keys:
        column = [s.tags.get(key, _ABSENT) for s in samples]
        plain = all(type(v) is str or v is _ABSENT for v in column)  # the usual case: a value is its own key
        tokens = column if plain else [v if v is _ABSENT else _token(v) for v in column]
        order: dict[Any, int] = {}
        codes = [-1 if t is _ABSENT else order.setdefault(t, len(order)) for t in tokens]
        if plain:
            values = list(order)
        else:
            first: dict[Any, Any] = {}
            for token, value in zip(tokens, column):
                if value is not _ABSENT:
                    first.setdefault(token, value)
            values = list(first.values())
        code_type = next((t for t in (np.int8, np.int16) if len(values) < np.iinfo(t).max), np.int32)
        out[key] = {"values": values, "codes": members.add(np.asarray(codes, dtype=code_type))}
    return out


def encode_samples(run: RunResult) -> tuple[bytes, dict[tuple[str, str], str]]:
    """The per-sample file of ``run``, and each (suite, metric)'s precision (:data:`EXACT` or :data:`FLOAT32`)."""
    members = _Members()
    precision: dict[tuple[str, str], str] = {}
    suites = []
    for suite in run.suites:
        metrics = {}
        for metric in suite.metrics.values():
            stats = np.asarray(metric.stats, dtype=np.float64).reshape(len(suite.samples), -1)
            columns, exact = [], True
            for j in range(stats.shape[1]):
                entry, same = _encode_column(stats[:, j], members)
                columns.append(entry)
                exact &= same
            values = np.asarray(metric.per_sample, dtype=np.float64)
            match = next((j for j in range(stats.shape[1])
                          if np.array_equal(stats[:, j], values, equal_nan=True)), None)
            if match is not None:
                per_sample: dict[str, Any] = {"column": match}
            else:
                per_sample, same = _encode_column(values, members)
                exact &= same
            metrics[metric.name] = {"columns": columns, "per_sample": per_sample}
            precision[(suite.name, metric.name)] = EXACT if exact else FLOAT32
        outputs = [s.output for s in suite.samples]
        suites.append({
            "name": suite.name, "samples": len(suite.samples),
            "ids": members.text([s.id for s in suite.samples]),
            "texts": members.text([s.text for s in suite.samples]),
            "outputs": members.text(outputs) if any(o is not None for o in outputs) else None,
            "tags": _encode_tags(suite.samples, members), "metrics": metrics,
        })
    index = {"format": FORMAT, "version": VERSION, "suites": suites}
    return _zip({INDEX: np.frombuffer(json.dumps(index).encode("utf-8"), dtype=np.uint8), **members.arrays}), precision


def _zip(arrays: Mapping[str, np.ndarray]) -> bytes:
    """A deterministic ``.npz``: fixed member order and dates, deflate."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, array in arrays.items():
            body = io.BytesIO()
            np.lib.format.write_array(body, array, allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_DATE)
            info.external_attr = 0o644 << 16
            archive.writestr(info, body.getvalue(), compress_type=zipfile.ZIP_DEFLATED, compresslevel=6)
    return out.getvalue()


# -- reading ---------------------------------------------------------------------------------------------


class _Reader:
    """The arrays of a per-sample file, read on demand and checked."""

    def __init__(self, blob: bytes) -> None:
        self.archive = zipfile.ZipFile(io.BytesIO(blob))

    def array(self, name: Any, n: int | None = None) -> np.ndarray:
        if not isinstance(name, str):
            raise SidecarInvalid(f"expected an array name, got {name!r}")
        try:
            with self.archive.open(f"{name}.npy") as handle:
                array = np.lib.format.read_array(handle, allow_pickle=False)
        except KeyError:
            raise SidecarInvalid(f"array {name!r} is missing") from None
        if array.ndim != 1 or array.dtype.str not in _DTYPES:
            raise SidecarInvalid(f"array {name!r} is {array.dtype} {array.shape}, expected a plain 1-d array")
        if n is not None and len(array) != n:
            raise SidecarInvalid(f"array {name!r} holds {len(array)} values, expected {n}")
        return array

    def text(self, name: Any, n: int) -> list[Any]:
        values = json.loads(self.array(name).tobytes().decode("utf-8"))
        if not isinstance(values, list) or len(values) != n:
            raise SidecarInvalid(f"array {name!r} does not hold a list of {n} values")
        return values

    def column(self, entry: Any, n: int) -> np.ndarray:
        kind = entry.get("kind") if isinstance(entry, Mapping) else None
        if kind == "codes":
            vocab = self.array(entry["values"]).astype(np.float64)
            codes = self.array(entry["array"], n)
            if codes.dtype.kind != "u" or (n and int(codes.max()) >= len(vocab)):
                raise SidecarInvalid(f"array {entry['array']!r} holds codes beyond its {len(vocab)} values")
            return vocab[codes]
        if kind in ("int", "float32", "float64"):
            return self.array(entry["array"], n).astype(np.float64)
        raise SidecarInvalid(f"unknown column entry {entry!r}")


def _tags(reader: _Reader, entries: Mapping[str, Any], n: int) -> list[dict[str, Any]]:
    tags: list[dict[str, Any]] = [{} for _ in range(n)]
    for key in sorted(entries):
        values = entries[key]["values"]
        codes = reader.array(entries[key]["codes"], n)
        if codes.dtype.kind != "i" or (n and int(codes.max()) >= len(values)) or (n and int(codes.min()) < -1):
            raise SidecarInvalid(f"tag {key!r}: codes beyond its {len(values)} values")
        for i in np.flatnonzero(codes >= 0).tolist():
            tags[i][key] = values[codes[i]]
    return tags


def _suite(reader: _Reader, body: Mapping[str, Any]) -> SuiteSamples:
    n = body["samples"]
    if not isinstance(n, int) or n < 0:
        raise SidecarInvalid(f"suite {body.get('name')!r}: sample count {n!r}")
    ids, texts = reader.text(body["ids"], n), reader.text(body["texts"], n)
    outputs = reader.text(body["outputs"], n) if body.get("outputs") is not None else [None] * n
    tags = _tags(reader, body["tags"], n)
    samples = tuple(SampleInfo(str(ids[i]), str(texts[i]), MappingProxyType(tags[i]),
                               None if outputs[i] is None else str(outputs[i])) for i in range(n))
    stats, per_sample = {}, {}
    for name, metric in body["metrics"].items():
        columns = [reader.column(entry, n) for entry in metric["columns"]]
        matrix = np.stack(columns, axis=1) if columns else np.zeros((n, 0))
        choice = metric["per_sample"]
        if isinstance(choice, Mapping) and "column" in choice:
            values = matrix[:, int(choice["column"])]
        else:
            values = reader.column(choice, n)
        stats[name] = matrix
        per_sample[name] = tuple(values.tolist())
    return SuiteSamples(samples, MappingProxyType(stats), MappingProxyType(per_sample))


def decode_samples(blob: bytes) -> dict[str, SuiteSamples]:
    """Each suite's per-sample data, by suite name; :class:`SidecarInvalid` when the file is malformed."""
    try:
        reader = _Reader(blob)
        index = json.loads(reader.array(INDEX).tobytes().decode("utf-8"))
        if not isinstance(index, Mapping) or index.get("format") != FORMAT:
            raise SidecarInvalid(f"not a qa_gate per-sample file (expected \"format\": \"{FORMAT}\")")
        if index.get("version") != VERSION:
            raise SidecarInvalid(f"per-sample file version {index.get('version')!r} is not supported "
                                 f"(expected {VERSION})")
        return {str(body["name"]): _suite(reader, body) for body in index["suites"]}
    except SidecarInvalid:
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SidecarInvalid(f"not a readable .npz file ({type(exc).__name__}: {exc})") from None
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        raise SidecarInvalid(f"malformed ({type(exc).__name__}: {exc})") from None
