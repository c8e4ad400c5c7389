"""The embedding columns of a predictions file: lists of numbers in the rows, or ``.npy`` sidecars.

Every embedding of one field has one width (the first row's sets it); every value is a finite number
(no bools, NaN or inf). A sidecar ``<file>.<field>.npy`` holds one row per row of the file (sample
and text rows, in file order) and replaces that field in the rows, which must then not give it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from qa_gate.adapters.predictions.formats import shown
from qa_gate.errors import AdapterError

FIELDS = ("image_embedding", "text_embedding")


class Embeddings:
    """Collects one file's embeddings row by row, then checks widths and values (:meth:`finish`)."""

    def __init__(self, path: Path, rows: int) -> None:
        self.path, self.name, self.count = path, shown(path), rows
        self._rows: dict[str, dict[int, np.ndarray]] = {f: {} for f in FIELDS}
        self._whos: dict[int, tuple[str, str]] = {}
        self._width: dict[str, tuple[int, str]] = {}
        self.sidecars: list[Path] = []
        self._side: dict[str, np.ndarray] = {}

    def add(self, field: str, index: int, at: str, who: str, value: Any) -> None:
        """Row ``index`` (``at`` in the file, ``who`` it belongs to) gives ``value`` for ``field`` (``None``: not)."""
        self._whos[index] = (at, who)
        if value is None:
            return
        where = f"{self.name}: {at} ({who}): {field}"
        if not isinstance(value, (list, tuple)) or not value or bool in set(map(type, value)):  # no bools
            raise AdapterError(f"{where}: expected a non-empty list of numbers, got {_short(value)}")
        try:
            row = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError, OverflowError):
            raise AdapterError(f"{where}: expected a list of numbers, got {_short(value)}") from None
        if row.ndim != 1:
            raise AdapterError(f"{where}: expected a flat list of numbers, got a nested list")
        width = self._width.setdefault(field, (len(row), at))
        if len(row) != width[0]:
            raise AdapterError(f"{where}: has {len(row)} values; expected {width[0]}, the width of every {field} "
                               f"(the first, {width[1]}, has {width[0]})")
        if not np.isfinite(row).all():
            raise AdapterError(f"{where}: holds NaN or inf; expected {width[0]} finite numbers")
        self._rows[field][index] = row

    def finish(self) -> Embeddings:
        """Read the sidecars (each checked against the rows); returns itself for :meth:`column`."""
        for field in FIELDS:
            side = self.path.with_name(f"{self.path.name}.{field}.npy")
            if side.is_file():
                self._side[field] = self._sidecar(field, side)
                self.sidecars.append(side)
        return self

    def _sidecar(self, field: str, side: Path) -> np.ndarray:
        name = shown(side)
        if self._rows[field]:
            first = min(self._rows[field])
            raise AdapterError(f"{name}: {field} is given twice: in this sidecar and in the rows of {self.name} "
                               f"({self._whos[first][0]}); expected one of the two")
        try:
            array = np.load(side, allow_pickle=False)
        except Exception as exc:  # noqa: BLE001 - numpy raises several kinds for a bad file
            raise AdapterError(f"{name}: not a readable .npy array ({type(exc).__name__}: {exc})") from None
        if array.ndim != 2 or array.shape[0] != self.count or array.dtype.kind not in "fiu":
            raise AdapterError(f"{name}: an array of shape {tuple(array.shape)} ({array.dtype}); expected a 2-d "
                               f"array of numbers with one row per row of {self.name} ({self.count})")
        array = array.astype(np.float64)
        bad = np.flatnonzero(~np.isfinite(array).all(axis=1))
        needed = [int(i) for i in bad if field == "text_embedding" or self._whos[int(i)][1].startswith("sample ")]
        if needed:
            at, who = self._whos[int(needed[0])]
            raise AdapterError(f"{name}: row {needed[0] + 1} ({who}, {at} of {self.name}) holds NaN or inf; "
                               f"expected {array.shape[1]} finite numbers per row ({len(needed)} such rows)")
        return array

    def column(self, field: str, indices: Sequence[int]) -> tuple[np.ndarray | None, ...]:
        """``field`` of the rows at ``indices`` (``None`` where a row lacks it)."""
        if field in self._side:
            array = self._side[field]
            return tuple(array[i] for i in indices)
        rows = self._rows[field]
        return tuple(rows.get(i) for i in indices)


def _short(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text[:60]}{'...' if len(text) > 60 else ''}"
