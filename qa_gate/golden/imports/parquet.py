"""``hf-parquet``: Hugging Face datasets Parquet files, read in row batches with pyarrow (``qa-gate[parquet]``).

The image column is the datasets ``Image`` feature as Parquet stores it, ``struct<bytes: binary,
path: string>``: the bytes are written into the suite; a row with only a ``path`` takes that file under
``--images``. ``--map FIELD=COLUMN`` fills the other fields (``image`` defaults to the column ``image``,
every column named like a field fills it); a mapped column the file does not have is named with the
columns it has. ``--split S`` keeps the files of that split (``S-00000-of-00001.parquet`` or a folder ``S``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from qa_gate.errors import GoldenError
from qa_gate.golden.imports.mapping import fill, with_defaults
from qa_gate.golden.imports.record import BytesImage, FileImage, Image, Reader, ReadSettings, Record, inside, text_id

INSTALL_HINT = "hf-parquet needs pyarrow: pip install 'qa-gate[parquet]'"
BATCH = 256


def _pyarrow() -> Any:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise GoldenError(f"golden import {INSTALL_HINT}") from None
    return pq


def in_split(path: Path, split: str | None) -> bool:
    """Whether a Parquet file belongs to ``split`` (always, without one)."""
    return split is None or path.name.startswith(f"{split}-") or path.parent.name == split


def _image(value: Any, root: Path | None, where: str) -> Image | None:
    if not isinstance(value, dict):
        return None
    if value.get("bytes"):
        path = value.get("path") or ""
        suffix = Path(path).suffix if Path(path).suffix.lower() in (".jpg", ".jpeg", ".png", ".webp") else ""
        return BytesImage(bytes(value["bytes"]), suffix)
    if value.get("path") and root is not None:
        return FileImage(root, inside(root, str(value["path"]), where))
    return None


def hf_parquet(settings: ReadSettings) -> Reader:
    """Rows of Hugging Face datasets Parquet files."""
    pq = _pyarrow()
    files = [path for path in settings.sources if in_split(path, settings.split)]
    if not files:
        raise GoldenError(f"golden import hf-parquet: no source file belongs to --split {settings.split!r}; expected "
                          f"names like {settings.split}-00000-of-00001.parquet")

    def records() -> Iterator[Record]:
        for path in files:
            try:
                handle = pq.ParquetFile(path)
            except Exception as exc:  # noqa: BLE001 - pyarrow raises several kinds for a bad file
                raise GoldenError(f"{path}: not a readable Parquet file ({type(exc).__name__}: {exc})") from None
            columns = handle.schema_arrow.names
            mapping = with_defaults(settings.mapping, columns)
            mapping.setdefault("image", "image")
            wanted = {column.split(".")[0] for column in mapping.values()}
            for target, column in sorted(mapping.items()):
                if column.split(".")[0] not in columns:
                    raise GoldenError(f"{path}: no column {column!r} (mapped to {target}); the file has "
                                      f"{', '.join(columns)}")
            row_no = 0
            for batch in handle.iter_batches(batch_size=BATCH, columns=[c for c in columns if c in wanted]):
                for row in batch.to_pylist():
                    row_no += 1
                    where = f"{path.name} row {row_no}"
                    sample_id = text_id(row[mapping["id"]], where) if "id" in mapping else f"{path.stem}-{row_no:06d}"
                    fields, tags = fill(row, {k: v for k, v in mapping.items() if k != "image"}, _get, where)
                    yield Record(sample_id, where, _image(row[mapping["image"]], settings.images, where), fields, tags)
    return records


def _get(row: dict[str, Any], column: str) -> Any:
    value: Any = row
    for part in column.split("."):
        if not isinstance(value, dict) or part not in value:
            raise KeyError(column)
        value = value[part]
    return value
