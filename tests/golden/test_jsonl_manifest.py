"""The JSON Lines manifest: the same samples as YAML, read line by line; every problem names its line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from qa_gate.errors import GoldenError
from qa_gate.golden.manifest_files import content_digest, write_manifest
from qa_gate.golden.suite import MANIFEST, MANIFEST_JSONL, check_suite, load_suite, write_hashes

LABELS = ["red", "green", "circle"]


@pytest.fixture(autouse=True)
def _cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # messages show suite paths relative to the current directory


def _entries() -> list[dict[str, Any]]:
    return [
        {"id": "s0", "image": "images/s0.png", "caption": "a red circle", "references": ["red", "a circle"],
         "tags": {"colour": "red", "size": 8, "lit": True}},
        {"id": "s1", "image": "images/s1.png", "question": "what colour?", "answers": ["yes"] * 9 + ["2"],
         "question_type": "what colour", "answer_type": "other", "choices": ["yes", "no"], "labels": ["red"]},
        {"id": "caf\u00e9", "image": "images/s2.png", "text": "RED 42", "labels": []},
    ]


def _folder(tmp_path: Path, name: str = "tasks") -> Path:
    folder = tmp_path / "golden" / name
    (folder / "images").mkdir(parents=True, exist_ok=True)
    for i in range(3):
        Image.new("RGB", (8, 8), (200, 10 * i, 10)).save(folder / "images" / f"s{i}.png")
    return folder


def _jsonl(tmp_path: Path, lines: list[Any], name: str = "tasks") -> Path:
    """A suite whose manifest.jsonl holds ``lines`` (objects are dumped, strings written as they are)."""
    folder = _folder(tmp_path, name)
    text = "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines)
    (folder / MANIFEST_JSONL).write_text(text, encoding="utf-8")
    return folder


def _error(folder: Path) -> str:
    with pytest.raises(GoldenError) as info:
        write_hashes(folder)
    return str(info.value)


HEADER = {"qa_gate_manifest": 1, "labels": LABELS}


def test_jsonl_and_yaml_manifests_of_the_same_samples_load_the_same(tmp_path: Path) -> None:
    yaml_folder, jsonl_folder = _folder(tmp_path, "as-yaml"), _folder(tmp_path, "as-jsonl")
    write_manifest(yaml_folder, _entries(), kind="yaml", description="d", labels=LABELS)
    write_manifest(jsonl_folder, _entries(), kind="jsonl", description="d", labels=LABELS)
    for folder in (yaml_folder, jsonl_folder):
        write_hashes(folder)
    from_yaml, from_jsonl = check_suite(yaml_folder), check_suite(jsonl_folder)
    assert [s.id for s in from_jsonl.suite.samples] == ["s0", "s1", "caf\u00e9"]
    assert from_jsonl.suite.labels == from_yaml.suite.labels == tuple(LABELS)
    for a, b in zip(from_yaml.suite.samples, from_jsonl.suite.samples):
        assert (a.id, a.image, a.caption, a.references, dict(a.tags), a.question, a.answers, a.choices, a.labels,
                a.text) == (b.id, b.image, b.caption, b.references, dict(b.tags), b.question, b.answers, b.choices,
                            b.labels, b.text)
    first = from_jsonl.suite.samples[0]
    assert dict(first.tags) == {"colour": "red", "size": "8", "lit": "true"}
    assert dict(from_jsonl.suite.samples[1].tags) == {"question_type": "what colour", "answer_type": "other"}
    assert from_jsonl.head == from_yaml.head
    assert content_digest(from_yaml.head, from_yaml.suite.samples) == \
        content_digest(from_jsonl.head, from_jsonl.suite.samples)


def test_a_broken_line_names_the_file_and_line(tmp_path: Path) -> None:
    folder = _jsonl(tmp_path, [HEADER, {"id": "s0", "image": "images/s0.png"}, '{"id": "s1", "image": "images/s1.png"',
                               "", {"id": "s2", "image": "images/s2.png"}])
    assert _error(folder) == ("golden/tasks: manifest.jsonl line 3: not valid JSON: Expecting ',' delimiter at "
                              "column 38; expected one JSON object a line (SHA256SUMS not written)")


@pytest.mark.parametrize(("line", "expected"), [
    ('{"id": "s1", "image": "images/s1.png", "caption": "a", "caption": "b"}',
     "line 3: not valid JSON: duplicate key 'caption'"),
    ('{"id": "s1", "image": "images/s1.png", "tags": {"k": NaN}}', "line 3: not valid JSON: NaN is not a JSON number"),
    ('{"id": "s1", "image": "images/s1.png"} {"id": "s2"}', "line 3: not valid JSON: Extra data at column 40"),
    ('["s1", "images/s1.png"]', "line 3: expected a mapping with 'id' and 'image', got ['s1', 'images/s1.png'] (list)"),
    (b'{"id": "s\xff1", "image": "images/s1.png"}', "line 3: not valid UTF-8 text (byte 10 of the line)"),
])
def test_bad_lines(tmp_path: Path, line: str | bytes, expected: str) -> None:
    folder = _jsonl(tmp_path, [HEADER, {"id": "s0", "image": "images/s0.png"}])
    with (folder / MANIFEST_JSONL).open("ab") as handle:
        handle.write((line if isinstance(line, bytes) else line.encode("utf-8")) + b"\n")
    assert f"golden/tasks: manifest.jsonl {expected}" in _error(folder)


def test_duplicate_ids_name_both_lines(tmp_path: Path) -> None:
    folder = _jsonl(tmp_path, [HEADER, {"id": "s0", "image": "images/s0.png"}, {"id": "s1", "image": "images/s1.png"},
                               {"id": "s0", "image": "images/s2.png"}])
    assert "manifest.jsonl line 4: sample 's0': duplicate id 's0', already used on line 2; expected ids unique" \
        in _error(folder)


@pytest.mark.parametrize(("fields", "expected"), [
    ({"caption": 3}, "line 2: sample 's0': field 'caption' must be a string, got 3 (int)"),
    ({"references": "a circle"}, "line 2: sample 's0': field 'references' must be a list of non-empty strings, "
                                 "got 'a circle' (str)"),
    ({"tags": ["red"]}, "line 2: sample 's0': field 'tags' must be a mapping of string names to scalar values"),
    ({"answers": [1.10] + ["x"] * 9}, 'line 2: sample \'s0\': answers[0]: 1.10 is a JSON number; quote it ("1.10")'),
    ({"captoin": "x"}, "line 2: sample 's0': unknown field 'captoin' (did you mean 'caption'?)"),
    ({"image": "../s0.png"}, "sample 's0': image '../s0.png' leaves the suite folder ('..')"),
    ({"id": None}, "manifest.jsonl line 2: field 'id' must be a non-empty string, got nothing"),
    ({"labels": ["blue"]}, "line 2: sample 's0': label 'blue' is not in the suite's label set"),
])
def test_wrong_types_name_line_sample_and_field(tmp_path: Path, fields: dict[str, Any], expected: str) -> None:
    folder = _jsonl(tmp_path, [HEADER, {"id": "s0", "image": "images/s0.png", **fields}])
    if "1.10" in expected:  # json.dumps would write 1.1: write the number as a person would
        (folder / MANIFEST_JSONL).write_text((folder / MANIFEST_JSONL).read_text().replace("1.1,", "1.10,"))
    assert expected in _error(folder)


def test_numbers_and_booleans_in_text_fields_become_text(tmp_path: Path) -> None:
    folder = _jsonl(tmp_path, [HEADER, {"id": 12, "image": "images/s0.png", "question": 7, "text": 42,
                                        "answers": [2, True, "yes", "no", "on", 2, 2, 2, 2, 2]}])
    write_hashes(folder)
    sample = load_suite(folder).samples[0]
    assert (sample.id, sample.question, sample.text) == ("12", "7", "42")
    assert sample.answers == ("2", "true", "yes", "no", "on", "2", "2", "2", "2", "2")


@pytest.mark.parametrize(("lines", "expected"), [
    ([{"id": "s0", "image": "images/s0.png"}], 'manifest.jsonl line 1: expected the header line first, '
                                               '{"qa_gate_manifest": 1, ...}'),
    ([{"qa_gate_manifest": 2}], "manifest.jsonl line 1: 'qa_gate_manifest' must be 1, got 2 (int)"),
    ([{"qa_gate_manifest": 1, "label": ["a"]}], "line 1: unknown key 'label' (did you mean 'labels'?)"),
    ([{"qa_gate_manifest": 1, "labels": []}], "'labels' must be a non-empty list of distinct label names"),
    ([HEADER], "manifest.jsonl: the suite has no samples; expected at least one"),
    (["", "  "], "manifest.jsonl: the file is empty; expected a header line"),
])
def test_header_problems(tmp_path: Path, lines: list[Any], expected: str) -> None:
    assert expected in _error(_jsonl(tmp_path, lines))


def test_blank_lines_and_crlf_are_accepted(tmp_path: Path) -> None:
    folder = _jsonl(tmp_path, [HEADER, "", {"id": "s0", "image": "images/s0.png"}, "   "])
    (folder / MANIFEST_JSONL).write_bytes((folder / MANIFEST_JSONL).read_bytes().replace(b"\n", b"\r\n"))
    write_hashes(folder)
    assert [s.id for s in load_suite(folder).samples] == ["s0"]


def test_a_folder_holding_both_manifests_is_refused(tmp_path: Path) -> None:
    folder = _jsonl(tmp_path, [HEADER, {"id": "s0", "image": "images/s0.png"}])
    write_hashes(folder)
    (folder / MANIFEST).write_text("version: 1\nsamples:\n  - {id: s0, image: images/s0.png}\n", encoding="utf-8")
    message = (f"golden/tasks: holds both {MANIFEST} and {MANIFEST_JSONL}; expected exactly one manifest "
               "(mm-gate golden convert golden/tasks --to yaml|jsonl --force replaces one with the other)")
    with pytest.raises(GoldenError) as info:
        load_suite(folder)
    assert str(info.value) == message
    assert _error(folder) == message
    with pytest.raises(GoldenError, match="holds manifest.jsonl; a suite has one manifest"):
        write_manifest(folder, _entries(), kind="yaml", overwrite=True)


def test_write_manifest_refuses_to_overwrite(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    path = write_manifest(folder, _entries()[:1])
    with pytest.raises(GoldenError, match="golden/tasks: manifest.jsonl exists; not overwritten"):
        write_manifest(folder, _entries())
    assert write_manifest(folder, _entries(), overwrite=True, labels=LABELS) == path
    write_hashes(folder)
    assert len(load_suite(folder).samples) == 3
