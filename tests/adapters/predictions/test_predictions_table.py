"""Reading predictions files: the three formats, sidecars, and every bad input as one line naming the place."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from support.predictions import write_jsonl

from qa_gate.adapters.predictions.table import read_predictions
from qa_gate.errors import AdapterError
from qa_gate.files import file_sha256

ROWS = [
    {"id": "a", "caption": "a red square", "labels": ["red"], "image_embedding": [1.0, 0.0, 0.5]},
    {"id": "b", "answer": "blue", "scores": {"red": 0.25, "blue": 1.0}, "text_embedding": [0.0, 1.0, 2.0]},
    {"input_text": "A photo depicts a red square", "text_embedding": [0.5, 0.5, -1.0]},
]


def _csv(path: Path, rows: list[dict]) -> Path:
    names = ["id", "caption", "answer", "labels", "scores", "image_embedding", "text_embedding", "input_text"]
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(names)
        for row in rows:
            writer.writerow(["" if row.get(n) is None else json.dumps(row[n]) if isinstance(row[n], (list, dict))
                             else row[n] for n in names])
    return path


def _parquet(path: Path, rows: list[dict]) -> Path:
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    schema = pa.schema([("id", pa.string()), ("caption", pa.string()), ("answer", pa.string()),
                        ("labels", pa.list_(pa.string())), ("scores", pa.map_(pa.string(), pa.float64())),
                        ("image_embedding", pa.list_(pa.float64())), ("text_embedding", pa.list_(pa.float64())),
                        ("input_text", pa.string())])
    plain = [{n: (list(r[n].items()) if n == "scores" and n in r else r.get(n)) for n in schema.names} for r in rows]
    pq.write_table(pa.Table.from_pylist(plain, schema=schema), path)
    return path


@pytest.mark.parametrize("write", [lambda p: write_jsonl(p.with_suffix(".jsonl"), ROWS),
                                   lambda p: _csv(p.with_suffix(".csv"), ROWS),
                                   lambda p: _parquet(p.with_suffix(".parquet"), ROWS)],
                         ids=["jsonl", "csv", "parquet"])
def test_every_format_reads_the_same_table(tmp_path: Path, write: object) -> None:
    path = write(tmp_path / "preds")  # type: ignore[operator]
    table = read_predictions(path)
    assert table.ids == ("a", "b")
    assert table.columns["caption"] == ("a red square", None)
    assert table.columns["answer"] == (None, "blue")
    assert table.columns["labels"] == (("red",), None)
    assert dict(table.columns["scores"][1]) == {"red": 0.25, "blue": 1.0}
    assert table.columns["image_embedding"][0].tolist() == [1.0, 0.0, 0.5]
    assert table.columns["image_embedding"][1] is None
    assert table.texts["A photo depicts a red square"].tolist() == [0.5, 0.5, -1.0]
    assert table.present() == ("caption", "answer", "labels", "scores", "image_embedding", "text_embedding")
    assert table.sha256 == file_sha256(path)  # no sidecar: the file's own hash
    assert table.where[1] in ("line 2", "line 3", "row 2")


BAD = [
    ([], r"holds no rows \(an empty file\)"),
    (["", "   "], r"holds no rows"),
    ([{"id": "a"}, "{\"id\": \"b\", "], r"line 2: not valid JSON"),
    (["[1, 2]"], r"line 1: a JSON list, not an object"),
    ([{"id": 42, "answer": "x"}], r"line 1: id 42 is a number; ids are strings, as the manifest's are: "
                                  r"write \"id\": \"42\""),
    ([{"id": "", "answer": "x"}], r"line 1: id: expected a non-empty string"),
    ([{"id": "a", "caption": 3}], r"line 1: caption: expected a string, got int 3"),
    ([{"id": "a", "labels": "red"}], r"line 1: labels: expected a list of label names"),
    ([{"id": "a", "scores": {"red": 1.5}}], r"line 1: scores: 'red' has 1\.5; expected a finite number in \[0, 1\]"),
    ([{"id": "a", "scores": {"red": True}}], r"scores: 'red' has True"),
    ([{"id": "a", "labels": ["red"], "scores": {"red": 1.0}}], r"gives both labels and scores"),
    ([{"id": "a", "image_embedding": [1.0, 2.0]}, {"id": "b", "image_embedding": [1.0, 2.0, 3.0]}],
     r"line 2 \(sample 'b'\): image_embedding: has 3 values; expected 2, the width of every image_embedding"),
    (['{"id": "a", "image_embedding": [1.0, NaN]}'],
     r"line 1 \(sample 'a'\): image_embedding: holds NaN or inf; expected 2 finite numbers"),
    (['{"id": "a", "image_embedding": [1e400, 0.0]}'], r"sample 'a'\): image_embedding: holds NaN or inf"),
    (['{"id": "a", "image_embedding": [' + "1" + "0" * 400 + ', 0.0]}'], r"sample 'a'\): image_embedding: expected"),
    ([{"id": "a", "image_embedding": [1.0, "x"]}], r"image_embedding: expected a list of numbers"),
    ([{"id": "a", "image_embedding": [True, 0.0]}], r"image_embedding: expected a non-empty list of numbers"),
    ([{"id": "a", "image_embedding": []}], r"image_embedding: expected a non-empty list of numbers"),
    ([{"id": "a", "image_embedding": [[1.0], [2.0]]}], r"image_embedding: expected a flat list"),
    ([{"input_text": "x", "text_embedding": [1.0]}], r"holds 1 text row\(s\) and no sample rows"),
    ([{"caption": "x"}], r"line 1: has no id; expected a sample row"),
    ([{"id": "a", "suite": "s"}, {"id": "b"}], r"line 2: has no suite, but other rows name theirs"),
    ([{"id": "a"}, {"input_text": "t"}], r"the text row 't' has no text_embedding"),
    ([{"id": "a"}, {"input_text": "t", "text_embedding": [1.0]}, {"input_text": "t", "text_embedding": [2.0]}],
     r"line 3: the text 't' appears again \(line 2\) with another text_embedding"),
]


@pytest.mark.parametrize(("rows", "expected"), BAD)
def test_bad_jsonl_is_one_line_naming_the_place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rows: list,
                                                expected: str) -> None:
    monkeypatch.chdir(tmp_path)
    write_jsonl(tmp_path / "preds.jsonl", rows) if rows else (tmp_path / "preds.jsonl").write_text("")
    with pytest.raises(AdapterError, match=expected) as caught:
        read_predictions(tmp_path / "preds.jsonl")
    assert str(caught.value).startswith("preds.jsonl: ") and "\n" not in str(caught.value)


@pytest.mark.parametrize(("text", "expected"), [
    ("id,caption\n", r"holds a header \(id, caption\) and no rows"),
    ("caption,answer\nx,y\n", r"the header has no 'id' column \(it has caption, answer\)"),
    ("id,caption\na,x,y\n", r"line 2: 3 cells, but the header has 2 columns"),
    ("id,labels\na,red\n", r"line 2: labels: 'red' is not JSON text; a CSV labels cell holds JSON"),
    ("id,id\na,b\n", r"line 1: the header names 'id' more than once"),
])
def test_bad_csv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, expected: str) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "preds.csv").write_text(text)
    with pytest.raises(AdapterError, match=r"^preds\.csv: " + expected):
        read_predictions(tmp_path / "preds.csv")


def test_csv_ids_are_text_and_parquet_numeric_ids_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    monkeypatch.chdir(tmp_path)
    (tmp_path / "preds.csv").write_text("id,answer\n42,red\n007,blue\n")
    assert read_predictions(tmp_path / "preds.csv").ids == ("42", "007")
    pq.write_table(pa.table({"id": [42], "answer": ["red"]}), tmp_path / "preds.parquet")
    with pytest.raises(AdapterError, match=r"^preds\.parquet: the id column holds numbers \(int64\); ids are strings"):
        read_predictions(tmp_path / "preds.parquet")


def test_a_suffix_outside_the_three_formats_is_refused(tmp_path: Path) -> None:
    (tmp_path / "preds.json").write_text("{}")
    with pytest.raises(AdapterError, match=r"must end in \.jsonl, \.csv or \.parquet \(got '\.json'\)"):
        read_predictions(tmp_path / "preds.json")


def test_sidecar_embeddings_by_row_order_enter_the_hash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    path = write_jsonl(tmp_path / "preds.jsonl", [{"id": "a"}, {"input_text": "t"}, {"id": "b"}])
    plain = file_sha256(path)
    vectors = np.array([[1.0, 0.0], [0.0, 1.0], [3.0, 4.0]], dtype=np.float32)
    np.save(tmp_path / "preds.jsonl.text_embedding.npy", vectors)
    table = read_predictions(path)
    assert table.columns["text_embedding"][1].tolist() == [3.0, 4.0]  # row 3 of the file, sample 'b'
    assert table.texts["t"].tolist() == [0.0, 1.0]
    assert table.sha256 != plain
    vectors[2, 1] = np.nan
    np.save(tmp_path / "preds.jsonl.text_embedding.npy", vectors)
    with pytest.raises(AdapterError, match=r"preds\.jsonl\.text_embedding\.npy: row 3 \(sample 'b', line 3 of "
                                           r"preds\.jsonl\) holds NaN or inf; expected 2 finite numbers per row"):
        read_predictions(path)
    np.save(tmp_path / "preds.jsonl.text_embedding.npy", vectors[:2])
    with pytest.raises(AdapterError, match=r"an array of shape \(2, 2\) \(float32\); expected a 2-d array of "
                                           r"numbers with one row per row of preds\.jsonl \(3\)"):
        read_predictions(path)


def test_an_embedding_both_inline_and_in_a_sidecar_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    path = write_jsonl(tmp_path / "preds.jsonl", [{"id": "a", "image_embedding": [1.0]}])
    np.save(tmp_path / "preds.jsonl.image_embedding.npy", np.ones((1, 1)))
    with pytest.raises(AdapterError, match=r"image_embedding is given twice: in this sidecar and in the rows"):
        read_predictions(path)


def test_settings_sidecar(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    path = write_jsonl(tmp_path / "preds.jsonl", [{"id": "a", "answer": "x"}])
    (tmp_path / "preds.jsonl.settings.json").write_text(json.dumps({"answering": {"temperature": 0}}))
    assert dict(read_predictions(path).settings["answering"]) == {"temperature": 0}
    (tmp_path / "preds.jsonl.settings.json").write_text(json.dumps({"answer": {}}))
    with pytest.raises(AdapterError, match=r"'answer': expected one of generation, answering, classification "
                                           r"\(did you mean 'answering'\?\)"):
        read_predictions(path)


def test_a_windows_export_reads_as_the_plain_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    rows = [{"id": "a", "answer": "red"}, {"id": "b", "answer": "blue"}]
    plain = read_predictions(write_jsonl(tmp_path / "plain.jsonl", rows))
    (tmp_path / "win.jsonl").write_bytes(b"\xef\xbb\xbf" + b"".join(json.dumps(r).encode() + b"\r\n" for r in rows))
    (tmp_path / "win.csv").write_bytes(b"\xef\xbb\xbfid,answer\r\na,red\r\nb,blue\r\n")
    for name in ("win.jsonl", "win.csv"):
        table = read_predictions(tmp_path / name)  # a UTF-8 BOM and CRLF line ends, as Windows tools write
        assert table.ids == plain.ids and table.columns["answer"] == plain.columns["answer"], name


def test_a_csv_cell_holding_a_unicode_line_separator_stays_one_cell(tmp_path: Path) -> None:
    answers = ["red\u2028circle", "blue\x85", "green\x0cx"]
    with (tmp_path / "preds.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)  # quotes no cell: only \r, \n, quotes and commas are special to CSV
        writer.writerow(["id", "answer"])
        writer.writerows([[f"s{i}", a] for i, a in enumerate(answers)])
    table = read_predictions(tmp_path / "preds.csv")
    assert table.ids == ("s0", "s1", "s2") and list(table.columns["answer"]) == answers
    assert table.where == ("line 2", "line 3", "line 4")


def test_a_folder_is_named_as_a_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "preds.jsonl").mkdir()
    with pytest.raises(AdapterError, match=r"^preds\.jsonl: a folder, not a predictions file$"):
        read_predictions(tmp_path / "preds.jsonl")


def test_a_file_of_other_suites_names_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    table = read_predictions(write_jsonl(tmp_path / "preds.jsonl", [{"id": "a", "suite": "vqa", "answer": "x"}]))
    with pytest.raises(AdapterError, match=r"^preds\.jsonl: 1 of the 1 samples of suite 'traffic' have no row "
                                           r"\('a'\); its rows name suite\(s\) 'vqa', not 'traffic'; expected"):
        table.aligned(["a"], "traffic")


@pytest.mark.parametrize("name", ["preds.jsonl", "preds.csv"])
def test_a_utf16_export_is_named_as_utf16(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    monkeypatch.chdir(tmp_path)
    text = '{"id": "a", "answer": "red"}\r\n' if name.endswith(".jsonl") else "id,answer\r\na,red\r\n"
    (tmp_path / name).write_bytes(text.encode("utf-16"))  # what Windows PowerShell's '>' writes
    with pytest.raises(AdapterError, match=r"not UTF-8 text \(.*\); it is UTF-16 text: save it as UTF-8$"):
        read_predictions(tmp_path / name)


def test_a_csv_embedding_wider_than_the_csv_field_limit_reads(tmp_path: Path) -> None:
    vector = [0.1234567890123456 + i for i in range(8192)]  # ~170 kB of JSON text in one cell
    with (tmp_path / "preds.csv").open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([["id", "image_embedding"], ["a", json.dumps(vector)]])
    assert len(json.dumps(vector)) > csv.field_size_limit()
    before = csv.field_size_limit()
    assert read_predictions(tmp_path / "preds.csv").columns["image_embedding"][0].tolist() == vector
    assert csv.field_size_limit() == before  # the module-wide limit is restored
