"""The POPE ``answer`` and CHAIR ``objects`` sample fields read back as written from YAML and JSON Lines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from qa_gate.golden.manifest import sample_entry
from qa_gate.golden.suite import load_suite, write_hashes

SAMPLES = [{"id": "a", "image": "images/a.png", "question": "Is there a dog in the image?", "answer": "yes",
            "objects": ["dog", "hot dog"]},
           {"id": "b", "image": "images/b.png", "question": "Is there a cat in the image?", "answer": "No",
            "objects": []}]


def _suite(root: Path, kind: str) -> Path:
    (root / "images").mkdir(parents=True)
    for sample in SAMPLES:
        Image.new("RGB", (4, 4), (9, 9, 9)).save(root / sample["image"])
    if kind == "yaml":  # YAML would read a bare yes as true: the answers are quoted, as the demo writes them
        lines = ["version: 1", "samples:"] + [f"  - {json.dumps(s)}" for s in SAMPLES]
        (root / "manifest.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    else:
        lines = [json.dumps({"qa_gate_manifest": 1}), *(json.dumps(s) for s in SAMPLES)]
        (root / "manifest.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    write_hashes(root)
    return root


@pytest.mark.parametrize("kind", ["yaml", "jsonl"])
def test_answer_and_objects_round_trip(tmp_path: Path, kind: str) -> None:
    samples = load_suite(_suite(tmp_path / kind, kind)).samples
    assert [(s.answer, s.objects) for s in samples] == [("yes", ("dog", "hot dog")), ("No", ())]
    assert [sample_entry(s) for s in samples] == SAMPLES
