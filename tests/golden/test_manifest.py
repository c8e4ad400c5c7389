"""The task fields of a golden sample: VQA, multilabel and OCR fields, and what a bad one says."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import pytest
import yaml
from PIL import Image

from qa_gate.errors import GoldenError
from qa_gate.golden.manifest import sample_entry
from qa_gate.golden.suite import MANIFEST, load_suite, write_hashes

LABELS = ["red", "green", "blue", "circle"]
ANSWERS = ["red"] * 8 + ["dark red", "orange"]


@pytest.fixture(autouse=True)
def _cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def _suite(tmp_path: Path, samples: list[dict[str, Any]], **top: Any) -> Path:
    folder = tmp_path / "golden" / "tasks"
    (folder / "images").mkdir(parents=True, exist_ok=True)
    for sample in samples:
        Image.new("RGB", (8, 8), (200, 10, 10)).save(folder / sample["image"])
    data = {"version": 1, **top, "samples": samples}
    (folder / MANIFEST).write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return folder


def _sample(i: int = 0, **fields: Any) -> dict[str, Any]:
    return {"id": f"s{i}", "image": f"images/s{i}.png", **fields}


def _error(folder: Path) -> str:
    with pytest.raises(GoldenError) as info:
        write_hashes(folder)
    return str(info.value)


def test_task_fields_load_and_type_fields_become_tags(tmp_path: Path) -> None:
    folder = _suite(tmp_path, [
        _sample(0, question="what color is it?", answers=ANSWERS, question_type="what color is",
                answer_type="other", choices=["red", "blue"], labels=["red", "circle"], text="RED 42",
                tags={"shape": "circle"}),
        _sample(1, labels=[]),
    ], labels=LABELS)
    write_hashes(folder)
    suite = load_suite(folder)
    first, second = suite.samples
    assert suite.labels == tuple(LABELS)
    assert first.question == "what color is it?" and first.answers == tuple(ANSWERS)
    assert first.choices == ("red", "blue") and first.labels == ("red", "circle") and first.text == "RED 42"
    assert dict(first.tags) == {"shape": "circle", "question_type": "what color is", "answer_type": "other"}
    assert second.labels == () and second.answers is None and second.text is None
    assert pickle.loads(pickle.dumps(first)) == first


def test_label_outside_the_label_set_names_the_sample_and_suggests(tmp_path: Path) -> None:
    folder = _suite(tmp_path, [_sample(0, labels=["red"]), _sample(1, labels=["circel", "blue"])], labels=LABELS)
    message = _error(folder)
    assert message.startswith("golden/tasks: manifest.yaml: sample 's1' (samples[1]): label 'circel' is not "
                              "in the suite's label set (did you mean 'circle'?)")
    assert "expected 'blue', 'circle', 'green' or 'red'" in message


def test_labels_without_a_label_set(tmp_path: Path) -> None:
    message = _error(_suite(tmp_path, [_sample(0, labels=["red"])]))
    assert "sample 's0' (samples[0]): field 'labels' is given but the manifest declares no label set" in message
    assert "top-level 'labels: [...]'" in message


@pytest.mark.parametrize(("top", "expected"), [
    ([], "'labels' must be a non-empty list of distinct label names, got [] (list)"),
    (["a", "a"], "'labels' must be a non-empty list of distinct label names, got ['a', 'a'] (list)"),
    ("red", "'labels' must be a non-empty list of distinct label names, got 'red' (str)"),
])
def test_bad_label_set(tmp_path: Path, top: Any, expected: str) -> None:
    assert expected in _error(_suite(tmp_path, [_sample(0)], labels=top))


@pytest.mark.parametrize(("field", "value", "expected"), [
    ("answers", "red", "field 'answers' must be a list of non-empty strings (the human answers), got 'red' (str)"),
    ("answers", ["red", ""], "field 'answers' must be a list of non-empty strings"),
    ("answers", ["red", None], "field 'answers' must be a list of non-empty strings"),
    ("question", "  ", "field 'question' must be a non-empty string, got '  ' (str)"),
    ("question_type", ["what"], "field 'question_type' must be a non-empty string, got ['what'] (list)"),
    ("choices", ["red", "red"], "field 'choices' must be a list of distinct non-empty strings"),
    ("labels", ["red", "red"], "field 'labels' must be a list of distinct label names"),
    ("text", ["RED"], "field 'text' must be a string (the reference transcription), got ['RED'] (list)"),
    ("references", ["a red circle", ""], "field 'references' must be a list of non-empty strings"),
])
def test_bad_task_field_names_sample_field_and_value(tmp_path: Path, field: str, value: Any, expected: str) -> None:
    message = _error(_suite(tmp_path, [_sample(0), _sample(1, **{field: value})], labels=LABELS))
    assert message.startswith(f"golden/tasks: manifest.yaml: sample 's1' (samples[1]): {expected}")


def test_type_field_disagreeing_with_a_tag(tmp_path: Path) -> None:
    message = _error(_suite(tmp_path, [_sample(0, question_type="what color", tags={"question_type": "how many"})]))
    assert "sample 's0' (samples[0]): tag 'question_type' is 'how many' but field 'question_type' is 'what color'" \
        in message


def test_unknown_field_suggests_a_task_field(tmp_path: Path) -> None:
    message = _error(_suite(tmp_path, [_sample(0, answerz=["red"] * 10)]))
    assert "unknown field 'answerz' (did you mean 'answer'?)" in message


def test_a_list_in_the_one_answer_field_points_at_answers(tmp_path: Path) -> None:
    message = _error(_suite(tmp_path, [_sample(0, answer=["red"] * 10)]))
    assert "field 'answer' must be a non-empty string" in message
    assert "a list of human answers goes in 'answers'" in message


def test_answer_and_objects_read_back_as_written(tmp_path: Path) -> None:
    folder = _suite(tmp_path, [_sample(0, answer="yes", objects=["dog", "hot dog"])])
    write_hashes(folder)
    suite = load_suite(folder)
    assert suite.samples[0].answer == "yes"
    assert suite.samples[0].objects == ("dog", "hot dog")
    assert sample_entry(suite.samples[0])["objects"] == ["dog", "hot dog"]


def _yaml_suite(tmp_path: Path, text: str) -> Path:
    """A suite whose manifest is ``text`` as written (not re-dumped), with one image per sample."""
    folder = tmp_path / "golden" / "tasks"
    (folder / "images").mkdir(parents=True, exist_ok=True)
    for sample in yaml.safe_load(text)["samples"]:
        Image.new("RGB", (8, 8), (200, 10, 10)).save(folder / sample["image"])
    (folder / MANIFEST).write_text(text, encoding="utf-8")
    return folder


def test_yaml_yes_no_and_integers_stay_text(tmp_path: Path) -> None:
    folder = _yaml_suite(tmp_path, """\
version: 1
labels: [yes, no, 2, on]
samples:
  - id: s0
    image: images/s0.png
    question: is it red?
    answers: [yes, no, yes, yes, on, off, Yes, NO, yes, true]
    choices: [yes, no]
    question_type: 7
    answer_type: yes/no
    labels: [yes, 2]
    tags: {outdoor: yes, lit: off, checked: true, count: 3}
  - id: s1
    image: images/s1.png
    question: 12
    answers: [2, 2, 3, 2, 2, 2, 2, 2, 10, -1]
    choices: [2, 3, 4]
    text: 42
""")
    write_hashes(folder)
    suite = load_suite(folder)
    first, second = suite.samples
    assert suite.labels == ("yes", "no", "2", "on")
    assert first.answers == ("yes", "no", "yes", "yes", "on", "off", "Yes", "NO", "yes", "true")
    assert first.choices == ("yes", "no") and first.labels == ("yes", "2")
    assert dict(first.tags) == {"outdoor": "yes", "lit": "off", "checked": "true", "count": "3",
                                "question_type": "7", "answer_type": "yes/no"}
    assert second.question == "12" and second.text == "42"
    assert second.answers == ("2", "2", "3", "2", "2", "2", "2", "2", "10", "-1")
    assert second.choices == ("2", "3", "4")
    assert all(type(a) is str for s in suite.samples for a in (*s.answers, *s.choices, *s.tags.values()))
    assert yaml.safe_load("a: yes") == {"a": True}  # the manifest loader changed nothing globally


@pytest.mark.parametrize(("line", "expected"), [
    ("answers: [1, 1, 1, 1.10, 1, 1, 1, 1, 1, 1]", 'answers[3]: 1.10 is a YAML number; quote it ("1.10") so it '
                                                   "stays as written"),
    ("answers: [1:30, '1:30', '1:30', '1:30', '1:30', '1:30', '1:30', '1:30', '1:30', '1:30']",
     'answers[0]: 1:30 is a YAML number; quote it ("1:30") so it stays as written'),
    ("choices: [007, '7']", 'choices[0]: 007 is a YAML number; quote it ("007") so it stays as written'),
    ("question: 2.5", 'question: 2.5 is a YAML number; quote it ("2.5") so it stays as written'),
    ("text: .inf", 'text: .inf is a YAML number; quote it (".inf") so it stays as written'),
])
def test_float_in_a_text_field_is_refused_with_a_quote_hint(tmp_path: Path, line: str, expected: str) -> None:
    folder = _yaml_suite(tmp_path, f"version: 1\nsamples:\n  - id: s0\n    image: images/s0.png\n    {line}\n")
    message = _error(folder)
    assert f"golden/tasks: manifest.yaml: sample 's0' (samples[0]): {expected}" in message
    assert "must be" not in message  # one problem per bad value, not a second, generic one


def test_float_in_the_label_set_is_refused_with_a_quote_hint(tmp_path: Path) -> None:
    folder = _yaml_suite(tmp_path, "version: 1\nlabels: [red, 1.0]\nsamples:\n  - id: s0\n    image: images/s0.png\n")
    assert 'manifest.yaml: labels[1]: 1.0 is a YAML number; quote it ("1.0") so it stays as written' in _error(folder)


def test_an_integer_and_its_text_are_duplicates(tmp_path: Path) -> None:
    message = _error(_suite(tmp_path, [_sample(0, choices=[2, "2"])]))
    assert "field 'choices' must be a list of distinct non-empty strings (the candidate answers), " \
        "got ['2', '2'] (list)" in message


def test_a_numeric_id_is_kept_as_written_or_refused(tmp_path: Path) -> None:
    folder = tmp_path / "golden" / "tasks"
    (folder / "images").mkdir(parents=True)
    Image.new("RGB", (8, 8)).save(folder / "images" / "a.png")
    (folder / MANIFEST).write_text("version: 1\nsamples:\n  - {id: 12, image: images/a.png}\n", encoding="utf-8")
    write_hashes(folder)
    assert load_suite(folder).samples[0].id == "12"
    (folder / MANIFEST).write_text("version: 1\nsamples:\n  - {id: 1:30, image: images/a.png}\n", encoding="utf-8")
    assert 'samples[0]: id: 1:30 is a YAML number; quote it ("1:30") so it stays as written' in _error(folder)


def test_ids_are_nfc_normalised_so_look_alikes_are_duplicates(tmp_path: Path) -> None:
    composed, decomposed = "caf\u00e9", "cafe\u0301"
    folder = _suite(tmp_path, [_sample(0, id=decomposed)])
    write_hashes(folder)
    assert load_suite(folder).samples[0].id == composed
    message = _error(_suite(tmp_path, [_sample(0, id=composed), _sample(1, id=decomposed)]))
    assert f"sample {composed!r} (samples[1]): duplicate id {composed!r}, already used by samples[0]" in message


@pytest.mark.parametrize(("sample_id", "shown", "position", "code"), [
    ("red\u200bcircle", "'red\\u200bcircle'", 3, "U+200B ZERO WIDTH SPACE"),
    ("\ufeffred", "'\\ufeffred'", 0, "U+FEFF ZERO WIDTH NO-BREAK SPACE"),
    ("red\u202ecircle", "'red\\u202ecircle'", 3, "U+202E RIGHT-TO-LEFT OVERRIDE"),
    ("red\x07", "'red\\x07'", 3, "U+0007 a control character"),
])
def test_ids_with_control_or_zero_width_characters_are_refused(tmp_path: Path, sample_id: str, shown: str,
                                                               position: int, code: str) -> None:
    message = _error(_suite(tmp_path, [_sample(0), _sample(1, id=sample_id)]))
    assert message == (f"golden/tasks: {MANIFEST}: samples[1]: id {shown} holds {code} at position {position}; "
                       "expected an id without control, format or zero-width characters (ids are compared after "
                       "NFC normalisation) (SHA256SUMS not written)")
