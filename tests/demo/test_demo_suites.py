"""The demo's retrieval, VQA, multilabel and OCR suites: committed bytes equal the build, and their content is sound."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml
from PIL import Image

from qa_gate.demo import build_named_suite, suite_names
from qa_gate.demo.__main__ import main
from qa_gate.demo.shapes import COLOURS, SHAPES, combos
from qa_gate.demo.suite_writer import yaml_scalar, yaml_value
from qa_gate.demo.words import WordsSettings, draw_text, samples
from qa_gate.golden.suite import load_suite

REPO = Path(__file__).resolve().parents[2]
NEW_SUITES = ("retrieval", "vqa", "multilabel", "words", "pope")


def _manifest(name: str) -> dict[str, Any]:
    return yaml.safe_load((REPO / "golden" / name / "manifest.yaml").read_text(encoding="utf-8"))


def _files(folder: Path) -> dict[str, bytes]:
    return {path.relative_to(folder).as_posix(): path.read_bytes() for path in folder.rglob("*") if path.is_file()}


def _leave_one_out(answer: str, answers: list[str]) -> float:
    """The official VQA accuracy of ``answer`` against ten human answers (no normalisation)."""
    scores = [min(1.0, sum(a == answer for a in answers[:i] + answers[i + 1:]) / 3) for i in range(len(answers))]
    return sum(scores) / len(scores)


def test_the_build_knows_all_six_suites() -> None:
    assert suite_names() == ("shapes", *NEW_SUITES)


@pytest.mark.parametrize("name", NEW_SUITES)
def test_the_committed_suite_is_what_the_build_renders(name: str, tmp_path: Path) -> None:
    built = build_named_suite(tmp_path, name)
    assert built == tmp_path / "golden" / name
    committed, rebuilt = _files(REPO / "golden" / name), _files(built)
    assert sorted(committed) == sorted(rebuilt)
    assert [rel for rel in committed if committed[rel] != rebuilt[rel]] == []
    assert sum(len(data) for data in rebuilt.values()) < 150_000


@pytest.mark.parametrize("name", NEW_SUITES)
def test_every_committed_suite_loads(name: str) -> None:
    suite = load_suite(REPO / "golden" / name)
    raw = _manifest(name)
    assert [s.id for s in suite.samples] == [str(entry["id"]) for entry in raw["samples"]]
    assert len({s.id for s in suite.samples}) == len(suite.samples)


def test_retrieval_has_one_image_and_one_unique_caption_per_combo() -> None:
    entries = _manifest("retrieval")["samples"]
    captions = [entry["caption"] for entry in entries]
    assert len(captions) == len(set(captions)) == len(combos()) == 20
    assert sorted((e["tags"]["colour"], e["tags"]["shape"]) for e in entries) == sorted(combos())
    for entry in entries:
        assert entry["caption"] == f"a {entry['tags']['colour']} {entry['tags']['shape']}"
        assert len(entry["references"]) == 2 and entry["caption"] not in entry["references"]


def test_vqa_samples_have_ten_human_answers_and_the_truth_among_the_choices() -> None:
    entries = _manifest("vqa")["samples"]
    assert 70 <= len(entries) <= 90
    kinds: Counter[str] = Counter()
    partial: set[float] = set()
    for entry in entries:
        asks_colour = entry["question_type"] == "what color is the"
        truth = entry["tags"]["colour" if asks_colour else "shape"]
        kinds[entry["question_type"]] += 1
        assert entry["question"] == ("what color is the shape?" if asks_colour else "what shape is this?")
        assert entry["answer_type"] == "other"
        assert entry["choices"] == list(COLOURS if asks_colour else SHAPES)
        answers = entry["answers"]
        assert len(answers) == 10 and all(isinstance(a, str) and a == a.lower() and a.strip() for a in answers)
        assert truth in entry["choices"] and answers.count(truth) >= 7
        assert _leave_one_out(truth, answers) == 1.0
        partial |= {round(_leave_one_out(a, answers), 6) for a in set(answers) - {truth}}
    assert kinds == {"what color is the": len(entries) // 2, "what shape is": len(entries) // 2}
    assert partial == {0.3, 0.6, 0.9}  # some samples are not unanimous, at every level


def test_multilabel_labels_are_the_colour_and_shape_from_the_label_set() -> None:
    manifest = _manifest("multilabel")
    assert manifest["labels"] == [*COLOURS, *SHAPES]
    assert 50 <= len(manifest["samples"]) <= 70
    for entry in manifest["samples"]:
        assert set(entry["labels"]) <= set(manifest["labels"])
        assert entry["labels"] == [entry["tags"]["colour"], entry["tags"]["shape"]]
    assert load_suite(REPO / "golden" / "multilabel").labels == tuple(manifest["labels"])


def test_words_text_is_exactly_what_each_image_shows() -> None:
    entries = _manifest("words")["samples"]
    assert len(entries) == 40
    texts = [entry["text"] for entry in entries]
    assert all(isinstance(t, str) and t.strip() == t and t for t in texts)  # "42" stays a string
    assert len(set(texts)) == len(texts) and "42" in texts
    assert texts == [sample.text for sample in samples()]
    settings = WordsSettings()
    for entry in entries:
        with Image.open(REPO / "golden" / "words" / entry["image"]) as committed:
            assert committed.size == (settings.width, settings.height)
            rng = random.Random(f"qa_gate.demo.words/{settings.seed}/{entry['id']}")
            assert draw_text(entry["text"], rng).tobytes() == committed.convert("RGB").tobytes()


def test_drawn_text_has_ink_inside_the_margins_and_longer_text_more_of_it() -> None:
    settings = WordsSettings()
    widths = []
    for text in ("7", "red", "purple triangle"):
        image = draw_text(text, random.Random(0)).convert("L")
        ink = image.point(lambda v: 255 if v < 128 else 0)
        left, top, right, bottom = ink.getbbox()
        assert left >= settings.margin - 1 and right <= settings.width - settings.margin + 1
        assert top >= settings.margin - 1 and bottom <= settings.height - settings.margin + 1
        widths.append(right - left)
    assert widths == sorted(widths) and widths[0] < widths[-1]


def test_text_rendering_is_deterministic() -> None:
    first = draw_text("Purple Cross 42", random.Random("x")).tobytes()
    assert draw_text("Purple Cross 42", random.Random("x")).tobytes() == first


@pytest.mark.parametrize("value", ["red", "dark red", "42", "007", "yes", "No", "null", "what shape is this?",
                                   "a: b", "[x]", "#1", "", " padded", "Red Circle", "images/a-1.png", "3.5"])
def test_manifest_scalars_read_back_as_the_same_string(value: str) -> None:
    assert yaml.safe_load(f"k: {yaml_scalar(value)}") == {"k": value}
    assert yaml.safe_load(f"k: {yaml_value([value, value])}") == {"k": [value, value]}
    assert yaml.safe_load(f"k: {yaml_value({'t': value})}") == {"k": {"t": value}}


def test_render_only_command_builds_the_chosen_suites(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["build", "--root", str(tmp_path), "--skip-train", "--suite", "words", "--suite", "vqa"]) == 0
    assert sorted(p.name for p in (tmp_path / "golden").iterdir()) == ["vqa", "words"]
    out = capsys.readouterr().out
    assert "golden/words: 40 images" in out and "golden/vqa: 80 images" in out
    with pytest.raises(SystemExit):
        main(["build", "--root", str(tmp_path), "--skip-train", "--suite", "nope"])
