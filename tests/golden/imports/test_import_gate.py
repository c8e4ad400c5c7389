"""Suites imported from COCO captions, VQA v2, POPE and WebDataset files, verified and gated on the demo checkpoint
through the ``mm-gate`` command, as a team would from a fresh clone."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

from support.project import write_thresholds

from qa_gate.cli import EXIT_OK

REPO = Path(__file__).resolve().parents[3]
GOOD = REPO / "qa_gate" / "demo" / "checkpoints" / "good"
SHAPES = REPO / "golden" / "shapes" / "images"


def _sources(tmp: Path) -> dict[str, list[str]]:
    """One small file set per format, from the demo's shape images; the import arguments of each."""
    names = sorted(p.name for p in SHAPES.iterdir())[:12]
    captions = {"images": [{"id": i, "file_name": n, "height": 64, "width": 64} for i, n in enumerate(names)],
                "annotations": [{"image_id": i, "id": 100 + i, "caption": "a " + " ".join(n.split("-")[:2])}
                                for i, n in enumerate(names)]}
    (coco := tmp / "captions_val2014.json").write_text(json.dumps(captions))
    questions = {"data_subtype": "val2014", "questions": [
        {"image_id": i, "question": "what color is the shape?", "question_id": 1000 + i} for i in range(len(names))]}
    annotations = {"data_subtype": "val2014", "annotations": [
        {"question_id": 1000 + i, "image_id": i, "question_type": "what color is the", "answer_type": "other",
         "answers": [{"answer": n.split("-")[0], "answer_confidence": "yes", "answer_id": j + 1} for j in range(10)]}
        for i, n in enumerate(names)]}
    vqa_images = tmp / "val2014"
    vqa_images.mkdir()
    for i, n in enumerate(names):
        (vqa_images / f"COCO_val2014_{i:012d}.jpg").write_bytes((SHAPES / n).read_bytes())  # PNG bytes, as found
    (q := tmp / "questions.json").write_text(json.dumps(questions))
    (a := tmp / "annotations.json").write_text(json.dumps(annotations))
    (pope := tmp / "coco_pope_popular.json").write_text("".join(
        json.dumps({"question_id": i, "image": n, "text": f"Is there a {'square' if i % 2 else n.split('-')[1]} in "
                    "the image?", "label": "no" if i % 2 else "yes"}) + "\n" for i, n in enumerate(names)))
    with tarfile.open(shard := tmp / "shapes-000000.tar", "w") as tar:
        for n in names:
            for ext, data in (("png", (SHAPES / n).read_bytes()), ("txt", " ".join(n.split("-")[:2]).encode())):
                info = tarfile.TarInfo(f"{n.removesuffix('.png')}.{ext}")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return {"coco": ["coco-captions", str(coco), "--images", str(SHAPES)],
            "vqa": ["vqa-v2", str(q), str(a), "--images", str(vqa_images)],
            "pope": ["pope", str(pope), "--images", str(SHAPES)],
            "wds": ["webdataset", str(shard)]}


def test_imported_suites_verify_and_gate_the_demo_checkpoint(tmp_path: Path, mm_gate, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    for name, args in _sources(tmp_path).items():
        code, stdout, err = mm_gate("golden", "import", *args, "--out", f"golden/{name}")
        assert code == EXIT_OK, err
        assert f"wrote golden/{name}: 12 samples" in stdout
    suites = {"coco": {"metrics": {"clipscore": {"min": 1.0}}},
              "wds": {"metrics": {"clipscore": {"min": 1.0}, "i2t_r1": {"min": 0.0}}},
              "vqa": {"metrics": {"vqa_accuracy": {"prompt": "a photo of a {answer}", "min": 0.0}}},
              "pope": {"metrics": {"pope_accuracy": {"min": 0.0}}}}
    write_thresholds(tmp_path, model={"adapter": "open_clip", "checkpoint": GOOD, "device": "cpu"}, suites=suites,
                     baseline={"path": "baseline.json"}, report={"path": "report.md"})
    code, stdout, err = mm_gate("golden", "verify", "--provenance")
    assert code == EXIT_OK, err
    assert stdout.count("source(s) match provenance.json") == 4
    code, stdout, err = mm_gate("run", "--quiet")
    assert code == EXIT_OK, stdout + err
    assert "coco::clipscore::min" in stdout and "pope::pope_accuracy::min" in stdout
