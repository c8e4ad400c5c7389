"""COCO captions, Karpathy splits, VQA v2 and POPE files, written as the public datasets lay them out, imported."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qa_gate.errors import GoldenError
from qa_gate.golden.imports.run import ImportSettings, import_suite
from qa_gate.golden.suite import load_suite, verify_suite


def _coco(tmp: Path, picture) -> Path:
    for image_id, colour in ((391895, "red"), (522418, "blue"), (184613, "green")):
        picture(tmp / "val2014" / f"COCO_val2014_{image_id:012d}.jpg", colour)
    data = {
        "info": {"description": "COCO 2014 Dataset", "version": "1.0", "year": 2014},
        "images": [{"license": 3, "file_name": f"COCO_val2014_{i:012d}.jpg", "coco_url": "", "height": 24,
                    "width": 24, "date_captured": "2013-11-14 11:18:45", "flickr_url": "", "id": i}
                   for i in (391895, 522418, 184613, 999)],
        "licenses": [{"url": "", "id": 3, "name": "Attribution-NonCommercial License"}],
        "annotations": [{"image_id": 391895, "id": 1, "caption": "A red thing."},
                        {"image_id": 522418, "id": 2, "caption": "A blue thing. "},
                        {"image_id": 391895, "id": 3, "caption": "Something red."},
                        {"image_id": 184613, "id": 4, "caption": "A green thing."},
                        {"image_id": 999, "id": 5, "caption": "Its image is not in the folder."}],
    }
    source = tmp / "annotations" / "captions_val2014.json"
    source.parent.mkdir(parents=True, exist_ok=True)
    source.write_text(json.dumps(data))
    return source


def test_coco_captions_first_caption_and_references_tagged_by_coco_id(tmp_path: Path, picture,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from qa_gate.golden.imports import streaming_json

    monkeypatch.setattr(streaming_json, "CHUNK", 7)  # items cut at every place a chunk can end
    source = _coco(tmp_path, picture)
    done = import_suite(ImportSettings("coco-captions", (source,), tmp_path / "out", images=tmp_path / "val2014"),
                        progress=None)
    samples = verify_suite(done.out).samples
    assert [s.id for s in samples] == ["391895", "522418", "184613"]
    assert samples[0].caption == "A red thing." and samples[0].references == ("Something red.",)
    assert samples[1].caption == "A blue thing." and dict(samples[1].tags) == {"coco_id": "522418"}
    assert done.skipped == {"missing image": (1, ("999",))}


def test_karpathy_split_selects_and_flickr_has_no_filepath(tmp_path: Path, picture) -> None:
    picture(tmp_path / "coco" / "val2014" / "COCO_val2014_000000391895.jpg")
    picture(tmp_path / "coco" / "train2014" / "COCO_train2014_000000000009.jpg")
    sentences = [{"tokens": ["a", "man"], "raw": "A man on a moped. ", "imgid": 0, "sentid": 770337},
                 {"tokens": ["a", "moped"], "raw": "A moped on a road.", "imgid": 0, "sentid": 771687}]
    data = {"images": [
        {"filepath": "val2014", "sentids": [770337, 771687], "filename": "COCO_val2014_000000391895.jpg",
         "imgid": 0, "split": "test", "sentences": sentences, "cocoid": 391895},
        {"filepath": "train2014", "sentids": [1], "filename": "COCO_train2014_000000000009.jpg", "imgid": 1,
         "split": "train", "sentences": [{"tokens": ["food"], "raw": "Food.", "imgid": 1, "sentid": 1}],
         "cocoid": 9}], "dataset": "coco"}
    (source := tmp_path / "dataset_coco.json").write_text(json.dumps(data))
    done = import_suite(ImportSettings("karpathy", (source,), tmp_path / "out", images=tmp_path / "coco",
                                       split="test"), progress=None)
    (sample,) = load_suite(done.out).samples
    assert sample.id == "COCO_val2014_000000391895" and sample.caption == "A man on a moped."
    assert sample.references == ("A moped on a road.",)
    assert sample.image == "images/val2014/COCO_val2014_000000391895.jpg"
    assert dict(sample.tags) == {"karpathy_split": "test", "coco_id": "391895"}
    picture(tmp_path / "flickr" / "1000092795.jpg")
    flickr = {"images": [{"sentids": [0], "imgid": 0, "sentences": [{"tokens": ["two"], "raw": "Two young guys.",
                                                                     "imgid": 0, "sentid": 0}],
                          "split": "test", "filename": "1000092795.jpg"}], "dataset": "flickr30k"}
    (source := tmp_path / "dataset_flickr30k.json").write_text(json.dumps(flickr))
    done = import_suite(ImportSettings("karpathy", (source,), tmp_path / "f30k", images=tmp_path / "flickr"),
                        progress=None)
    assert [s.id for s in load_suite(done.out).samples] == ["1000092795"]
    with pytest.raises(GoldenError, match="--split 'testing': expected one of train, restval, val, test"):
        import_suite(ImportSettings("karpathy", (source,), tmp_path / "x", images=tmp_path / "flickr",
                                    split="testing"), progress=None)


def _vqa(tmp: Path, picture, answers: int = 10) -> tuple[Path, Path]:
    for image_id in (262148, 393225):
        picture(tmp / "val2014" / f"COCO_val2014_{image_id:012d}.jpg")
    questions = {"info": {}, "task_type": "Open-Ended", "data_type": "mscoco", "license": {},
                 "data_subtype": "val2014", "questions": [
                     {"image_id": 262148, "question": "Where is he looking?", "question_id": 262148000},
                     {"image_id": 393225, "question": "Is the bowl full?", "question_id": 393225001}]}
    def answer_list(words: list[str]) -> list[dict]:
        return [{"answer": w, "answer_confidence": "yes", "answer_id": i + 1} for i, w in enumerate(words)]
    annotations = {"info": {}, "license": {}, "data_subtype": "val2014", "annotations": [
        {"question_type": "none of the above", "multiple_choice_answer": "down",
         "answers": answer_list(["down"] * 7 + ["at table", "skateboard", "table"]), "image_id": 262148,
         "answer_type": "other", "question_id": 262148000},
        {"question_type": "is the", "multiple_choice_answer": "no", "answers": answer_list(["no"] * answers),
         "image_id": 393225, "answer_type": "yes/no", "question_id": 393225001}], "data_type": "mscoco"}
    (q := tmp / "v2_OpenEnded_mscoco_val2014_questions.json").write_text(json.dumps(questions))
    (a := tmp / "v2_mscoco_val2014_annotations.json").write_text(json.dumps(annotations))
    return q, a


def test_vqa_v2_questions_with_their_ten_answers(tmp_path: Path, picture) -> None:
    questions, annotations = _vqa(tmp_path, picture)
    done = import_suite(ImportSettings("vqa-v2", (annotations, questions), tmp_path / "out",
                                       images=tmp_path / "val2014"), progress=None)
    first, second = load_suite(done.out).samples
    assert first.id == "262148000" and first.question == "Where is he looking?"
    assert first.answers == ("down",) * 7 + ("at table", "skateboard", "table")
    assert dict(second.tags) == {"coco_id": "393225", "question_type": "is the", "answer_type": "yes/no"}
    assert first.image == "images/COCO_val2014_000000262148.jpg"
    done = import_suite(ImportSettings("vqa-v2", (questions, annotations), tmp_path / "one", limit=1,
                                       stratify="answer_type", images=tmp_path / "val2014"), progress=None)
    assert done.strata == {"other": 1, "yes/no": 0}  # equal shares: the tie goes by name


def test_vqa_v2_without_ten_answers_names_the_question(tmp_path: Path, picture) -> None:
    questions, annotations = _vqa(tmp_path, picture, answers=9)
    with pytest.raises(GoldenError, match=r"annotations\[1\]: question_id 393225001 has 9 answers; expected exactly"):
        import_suite(ImportSettings("vqa-v2", (questions, annotations), tmp_path / "out", images=tmp_path / "val2014"),
                     progress=None)
    assert not (tmp_path / "out").exists()


def test_pope_yes_no_questions_tagged_by_split(tmp_path: Path, picture) -> None:
    picture(tmp_path / "val2014" / "COCO_val2014_000000310196.jpg")
    lines = [{"question_id": 1, "image": "COCO_val2014_000000310196.jpg", "text": "Is there a snowboard in the image?",
              "label": "yes"},
             {"question_id": 2, "image": "COCO_val2014_000000310196.jpg", "text": "Is there a dog in the image?",
              "label": "no"}]
    random, adversarial = tmp_path / "coco_pope_random.json", tmp_path / "coco_pope_adversarial.json"
    for path in (random, adversarial):
        path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    done = import_suite(ImportSettings("pope", (random, adversarial), tmp_path / "out", images=tmp_path / "val2014"),
                        progress=None)
    samples = load_suite(done.out).samples
    assert [s.id for s in samples] == ["random-1", "random-2", "adversarial-1", "adversarial-2"]
    assert samples[1].question == "Is there a dog in the image?" and samples[1].answer == "no"
    assert samples[1].answers is None and samples[1].choices == ()
    assert samples[2].answer == "yes" and dict(samples[2].tags) == {"pope_split": "adversarial"}
    assert len(list((done.out / "images").iterdir())) == 1  # one image file shared by the four questions
