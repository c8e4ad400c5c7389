"""The import machinery: the streaming JSON reader, hard-linked images, images that do not decode, interrupts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qa_gate.cli import EXIT_USAGE
from qa_gate.errors import GoldenError
from qa_gate.golden.imports import streaming_json
from qa_gate.golden.imports.run import ImportSettings, import_suite
from qa_gate.golden.imports.write import SuiteWriter
from qa_gate.golden.suite import load_suite

DOCUMENT = {"info": {"year": 2014, "nested": [[1, 2], {"a": [3.25e-3]}]}, "images": [
    {"id": 123456789, "file_name": "caf\u00e9 \"quoted\" \\ x.jpg", "score": -0.5},
    {"id": 7, "file_name": "b.jpg", "flags": [True, False, None]}], "empty": [], "licenses": "n/a",
    "annotations": [{"image_id": 123456789, "caption": "\u2603 " * 5}]}


@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 8, 1 << 20])
def test_scan_gives_every_top_level_value_and_array_item_as_json_load_does(tmp_path: Path, chunk: int,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(streaming_json, "CHUNK", chunk)
    (path := tmp_path / "doc.json").write_text(json.dumps(DOCUMENT, indent=1 if chunk % 2 else None))
    rebuilt: dict = {}
    for key, item, value in streaming_json.scan(path):
        if item:
            rebuilt.setdefault(key, []).append(value)
        else:
            rebuilt[key] = value
    assert rebuilt == {k: v for k, v in DOCUMENT.items() if v != []}  # an empty array has no items to give
    (path := tmp_path / "bad.json").write_text('{"images": [{"id": 1}, {"id": 2]}')
    with pytest.raises(GoldenError, match="bad.json: not valid JSON"):
        list(streaming_json.scan(path))


def _table(tmp: Path, picture, n: int = 3) -> Path:
    for i in range(n):
        picture(tmp / f"{i}.png")
    (source := tmp / "t.jsonl").write_text("".join(json.dumps({"id": f"s{i}", "image": f"{i}.png", "caption": "c"})
                                                   + "\n" for i in range(n)))
    return source


def test_link_images_hard_links_the_source_files(tmp_path: Path, picture) -> None:
    source = _table(tmp_path, picture)
    done = import_suite(ImportSettings("jsonl", (source,), tmp_path / "out", link_images=True), progress=None)
    (first, *_) = load_suite(done.out).samples
    assert first.image_path.stat().st_ino == (tmp_path / "0.png").stat().st_ino


def test_an_image_that_does_not_decode_stops_the_import_naming_the_sample(tmp_path: Path, picture, mm_gate) -> None:
    source = _table(tmp_path, picture)
    (tmp_path / "1.png").write_bytes(b"not a png")
    code, _, err = mm_gate("golden", "import", "jsonl", source, "--out", tmp_path / "out")
    assert code == EXIT_USAGE and "t.jsonl line 2: sample 's1': image '1.png': cannot be decoded" in err
    assert [p.name for p in tmp_path.iterdir() if "out" in p.name] == []


def test_an_interrupted_import_leaves_nothing(tmp_path: Path, picture, monkeypatch: pytest.MonkeyPatch) -> None:
    source = _table(tmp_path, picture)
    calls = []
    real = SuiteWriter.sample

    def interrupt(self: SuiteWriter, entry: dict) -> None:
        calls.append(entry["id"])
        if len(calls) == 2:
            raise KeyboardInterrupt
        real(self, entry)

    monkeypatch.setattr(SuiteWriter, "sample", interrupt)
    with pytest.raises(KeyboardInterrupt):
        import_suite(ImportSettings("jsonl", (source,), tmp_path / "golden" / "out"), progress=None)
    assert list((tmp_path / "golden").iterdir()) == []


def test_usage_mistakes_are_one_line_errors(tmp_path: Path, picture, mm_gate) -> None:
    source = _table(tmp_path, picture)
    code, _, err = mm_gate("golden", "import", "jsonl", source, "--out", tmp_path / "o", "--stratify", "colour")
    assert code == EXIT_USAGE and "--stratify goes with --limit N" in err
    code, _, err = mm_gate("golden", "import", "jsonl", source, "--out", tmp_path / "o", "--map", "caption")
    assert code == EXIT_USAGE and "--map 'caption': expected FIELD=COLUMN" in err
    code, _, err = mm_gate("golden", "import", "jsonl", source, "--out", tmp_path / "o", "--map", "captoin=c")
    assert code == EXIT_USAGE and "unknown field 'captoin'" in err
    code, _, err = mm_gate("golden", "import", "coco-captions", source, "--out", tmp_path / "o")
    assert code == EXIT_USAGE and "--images DIR is required" in err
    code, _, err = mm_gate("golden", "import", "jsonl", tmp_path / "nope.jsonl", "--out", tmp_path / "o")
    assert code == EXIT_USAGE and "nope.jsonl does not exist" in err
