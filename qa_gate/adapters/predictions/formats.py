"""The rows of a predictions file, by format: JSON Lines, CSV or Parquet (pyarrow, ``qa-gate[parquet]``).

Each reader returns ``(where, record)`` pairs in file order: ``where`` names the row for errors
(``line 3`` of a JSON Lines or CSV file, ``row 3`` of a Parquet file) and ``record`` maps each key
the row gives to its value. A JSON Lines row is one JSON object per line (blank lines are skipped);
a CSV row holds text cells, where an empty cell is a value the row does not give and ``labels``,
``scores`` and embeddings are JSON text (``["red", "circle"]``, ``{"red": 0.9}``, ``[0.1, 0.2]``).
Nothing here checks a value's type: ``qa_gate.adapters.predictions.table`` does.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from qa_gate.errors import AdapterError, first_line

Record = dict[str, Any]
Rows = list[tuple[str, Record]]
JSON_CELLS = ("labels", "scores", "image_embedding", "text_embedding")
"""CSV columns whose cells are JSON text."""
INSTALL_HINT = "reading a .parquet predictions file needs pyarrow: pip install 'qa-gate[parquet]'"


def shown(path: Path) -> str:
    """How errors name ``path``: relative to the current folder when inside it."""
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except (ValueError, OSError):
        return str(path)


def read_jsonl(path: Path) -> Rows:
    """One JSON object per non-blank line."""
    rows: Rows = []
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            where = f"line {number}"
            try:
                line = raw.decode("utf-8-sig" if number == 1 else "utf-8")  # a Windows export's BOM
            except UnicodeDecodeError as exc:
                raise AdapterError(f"{shown(path)}: {where}: not UTF-8 text ({first_line(exc)})"
                                   f"{_utf16(raw if number == 1 else b'')}") from None
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except (ValueError, RecursionError) as exc:
                raise AdapterError(f"{shown(path)}: {where}: not valid JSON ({first_line(exc)}); expected one "
                                   'JSON object per line, e.g. {"id": "sample-1", "caption": "a red circle"}') from None
            if not isinstance(record, dict):
                raise AdapterError(f"{shown(path)}: {where}: a JSON {type(record).__name__}, not an object; expected "
                                   'one JSON object per line, e.g. {"id": "sample-1", "answer": "red"}')
            rows.append((where, record))
    return rows


def _utf16(start: bytes) -> str:
    """A hint for a file that starts with a UTF-16 byte order mark (Windows PowerShell's ``>`` writes one)."""
    if start[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return "; it is UTF-16 text: save it as UTF-8"
    return ""


def read_csv(path: Path) -> Rows:
    """A header row, then one row per prediction; empty cells are values the row does not give."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise AdapterError(f"{shown(path)}: not UTF-8 text ({first_line(exc)}){_utf16(exc.object)}") from None
    # csv splits rows at \r and \n only (str.splitlines would also split a cell holding U+2028 or NEL)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    limit = csv.field_size_limit(max(csv.field_size_limit(), min(len(text), 2**31 - 1)))  # a wide embedding cell
    try:
        header = next(reader, None)
        if header is None or not any(cell.strip() for cell in header):
            return []
        names = [cell.strip() for cell in header]
        doubled = sorted({n for n in names if names.count(n) > 1})
        if doubled:
            raise AdapterError(f"{shown(path)}: line 1: the header names {', '.join(map(repr, doubled))} more than "
                               "once; expected each column once")
        rows: Rows = []
        for cells in reader:
            where = f"line {reader.line_num}"
            if not any(cell.strip() for cell in cells):
                continue
            if len(cells) != len(names):
                raise AdapterError(f"{shown(path)}: {where}: {len(cells)} cells, but the header has {len(names)} "
                                   f"columns ({', '.join(names)}); expected one cell per column")
            rows.append((where, {name: _cell(path, where, name, cell) for name, cell in zip(names, cells)
                                 if cell != ""}))
    except csv.Error as exc:
        raise AdapterError(f"{shown(path)}: line {reader.line_num}: not valid CSV ({first_line(exc)})") from None
    finally:
        csv.field_size_limit(limit)
    if not rows:
        raise AdapterError(f"{shown(path)}: holds a header ({', '.join(names)}) and no rows; expected one row per "
                           "sample")
    if "id" not in names and "input_text" not in names:
        raise AdapterError(f"{shown(path)}: the header has no 'id' column (it has {', '.join(names)}); expected an "
                           "'id' column holding each sample's id")
    return rows


def _cell(path: Path, where: str, name: str, cell: str) -> Any:
    if name not in JSON_CELLS:
        return cell
    try:
        return json.loads(cell)
    except (ValueError, RecursionError):
        example = {"labels": '["red", "circle"]', "scores": '{"red": 0.9, "circle": 0.2}'}.get(name, "[0.12, -0.5]")
        raise AdapterError(f"{shown(path)}: {where}: {name}: {cell[:40]!r} is not JSON text; a CSV {name} cell "
                           f"holds JSON, e.g. {example}") from None


def read_parquet(path: Path) -> Rows:
    """Every row of a Parquet file, columns as pyarrow converts them to Python values."""
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise AdapterError(f"{shown(path)}: {INSTALL_HINT}") from None
    try:
        table = pq.read_table(path)
    except Exception as exc:  # noqa: BLE001 - pyarrow raises several kinds for a bad file
        raise AdapterError(f"{shown(path)}: not a readable Parquet file ({type(exc).__name__}: "
                           f"{first_line(exc)})") from None
    names = list(table.column_names)
    columns = {name: table.column(name).to_pylist() for name in names}
    if "id" in columns and _numeric(table.schema.field("id").type):
        raise AdapterError(f"{shown(path)}: the id column holds numbers ({table.schema.field('id').type}); ids are "
                           "strings, as the manifest's are: store the id column as strings ('42', not 42)")
    rows: Rows = []
    for index in range(table.num_rows):
        record = {name: _plain(columns[name][index]) for name in names if columns[name][index] is not None}
        rows.append((f"row {index + 1}", record))
    return rows


def _numeric(kind: Any) -> bool:
    import pyarrow.types as pt

    return bool(pt.is_integer(kind) or pt.is_floating(kind) or pt.is_decimal(kind))


def _plain(value: Any) -> Any:
    """A Parquet map (pyarrow gives a list of key/value pairs) as a dict."""
    if isinstance(value, list) and value and all(isinstance(v, tuple) and len(v) == 2 for v in value):
        return dict(value)
    return value


READERS: dict[str, Callable[[Path], Rows]] = {".jsonl": read_jsonl, ".csv": read_csv, ".parquet": read_parquet}
"""The reader of each file suffix."""
