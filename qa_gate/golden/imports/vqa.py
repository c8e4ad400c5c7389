"""``vqa-v2`` (questions json + annotations json) and ``pope`` (JSON Lines per split).

VQA v2: ``questions[{image_id, question, question_id}]`` and ``annotations[{question_id, image_id,
question_type, answer_type, answers[10]{answer}}]``; one sample per question, id the question id,
image ``COCO_<data_subtype>_<image_id:012d>.jpg`` (or ``<image_id:012d>.jpg``, COCO 2017's naming)
under ``--images``. The annotations are indexed first (answers interned), then the questions stream.

POPE: lines ``{question_id, image, text, label}``; the tag ``pope_split`` is ``--split`` or the split
the file name says (random, popular, adversarial), the id ``<split>-<question_id>``. ``label`` is the
ground truth, written as the sample's ``answer`` (``yes`` or ``no``, lower case), which the POPE metrics
(``qa_gate.metrics.pope``) read.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from qa_gate.errors import GoldenError
from qa_gate.golden.imports.coco import _field
from qa_gate.golden.imports.record import FileImage, Reader, ReadSettings, Record, inside, need_images, text_id
from qa_gate.golden.imports.streaming_json import scan

POPE_SPLITS = ("random", "popular", "adversarial")
HUMAN_ANSWERS = 10


def _kinds(sources: tuple[Path, ...] | Any) -> tuple[Path, Path]:
    found: dict[str, Path] = {}
    for source in sources:
        for key, _, _ in scan(source):
            if key in ("questions", "annotations"):
                found.setdefault(key, source)
                break
    if set(found) != {"questions", "annotations"} or len(sources) != 2:
        raise GoldenError("golden import vqa-v2: expected two sources, a questions json (questions[...]) and an "
                          f"annotations json (annotations[...]); found {', '.join(sorted(found)) or 'neither'}")
    return found["questions"], found["annotations"]


def _index(path: Path) -> tuple[dict[int, tuple[Any, ...]], str | None]:
    index: dict[int, tuple[Any, ...]] = {}
    subtype, position = None, 0
    for key, item, value in scan(path):
        if not item:
            subtype = str(value) if key == "data_subtype" else subtype
            continue
        if key != "annotations":
            continue
        where = f"{path.name}: annotations[{position}]"
        position += 1
        qid = _field(value, "question_id", where, int)
        answers = _field(value, "answers", f"{where} (question_id {qid})", list)
        if len(answers) != HUMAN_ANSWERS:
            raise GoldenError(f"{where}: question_id {qid} has {len(answers)} answers; expected exactly "
                              f"{HUMAN_ANSWERS} human answers (official VQA accuracy leaves each out in turn)")
        texts = tuple(sys.intern(str(_field(a, "answer", f"{where} (question_id {qid})", (str, int))))
                      for a in answers)
        index[qid] = (texts, sys.intern(str(value.get("question_type") or "")) or None,
                      sys.intern(str(value.get("answer_type") or "")) or None)
    return index, subtype


def _vqa_image(root: Path, subtype: str | None, image_id: int) -> str:
    names = [f"COCO_{subtype}_{image_id:012d}.jpg"] if subtype else []
    names.append(f"{image_id:012d}.jpg")
    return next((name for name in names if (root / name).is_file()), names[0])


def vqa_v2(settings: ReadSettings) -> Reader:
    """Questions of VQA v2, each with its ten human answers."""
    root = need_images(settings, "vqa-v2")
    questions, annotations = _kinds(tuple(settings.sources))
    cached: list[Any] = []

    def records() -> Iterator[Record]:
        if not cached:
            cached.append(_index(annotations))
        index, subtype = cached[0]
        position = 0
        for key, item, value in scan(questions):
            if key != "questions" or not item:
                continue
            where = f"{questions.name}: questions[{position}]"
            position += 1
            qid = _field(value, "question_id", where, int)
            image_id = _field(value, "image_id", where, int)
            if qid not in index:
                raise GoldenError(f"{where}: question_id {qid} has no annotation in {annotations.name}; expected "
                                  "the annotations of the same split")
            answers, question_type, answer_type = index[qid]
            fields = {"question": _field(value, "question", where, str), "answers": list(answers),
                      "question_type": question_type, "answer_type": answer_type}
            image = FileImage(root, inside(root, _vqa_image(root, subtype, image_id), where))
            yield Record(str(qid), where, image, fields, {"coco_id": str(image_id)})
    return records


def _pope_split(path: Path, given: str | None) -> str:
    if given is not None:
        return given
    found = [name for name in POPE_SPLITS if name in path.stem.lower()]
    if len(found) != 1:
        raise GoldenError(f"{path}: cannot tell the POPE split from the file name; expected one of "
                          f"{', '.join(POPE_SPLITS)} in it, or --split")
    return found[0]


def pope(settings: ReadSettings) -> Reader:
    """Questions of POPE files, yes/no ground truth."""
    root = need_images(settings, "pope")

    def records() -> Iterator[Record]:
        for source in settings.sources:
            split = _pope_split(source, settings.split)
            with source.open(encoding="utf-8") as handle:
                for number, line in enumerate(handle, start=1):
                    if not line.strip():
                        continue
                    where = f"{source.name} line {number}"
                    try:
                        row = json.loads(line)
                    except json.JSONDecodeError as exc:
                        raise GoldenError(f"{where}: not valid JSON: {exc.msg}; expected one POPE question "
                                          "a line") from None
                    qid = text_id(_field(row, "question_id", where, (int, str)), where)
                    label = str(_field(row, "label", where, str)).strip().lower()
                    if label not in ("yes", "no"):
                        raise GoldenError(f"{where}: question_id {qid}: label {row['label']!r}; expected yes or no")
                    fields = {"question": _field(row, "text", where, str), "answer": label}
                    image = FileImage(root, inside(root, str(_field(row, "image", where, str)), where))
                    yield Record(f"{split}-{qid}", where, image, fields, {"pope_split": split})
    return records
