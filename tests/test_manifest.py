"""The task fields of a golden sample: VQA, multilabel and OCR fields, and what a bad one says."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import pytest
import yaml
from PIL import Image

from qa_gate.errors import GoldenError
from qa_gate.golden import MANIFEST, load_suite, write_hashes

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
    ("answers", ["red", 3], "field 'answers' must be a list of non-empty strings"),
    ("question", "  ", "field 'question' must be a non-empty string, got '  ' (str)"),
    ("question_type", 7, "field 'question_type' must be a non-empty string, got 7 (int)"),
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
    message = _error(_suite(tmp_path, [_sample(0, answer=["red"] * 10)]))
    assert "unknown field 'answer' (did you mean 'answers'?)" in message
