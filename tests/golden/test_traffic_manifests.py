"""``kind: traffic``: a manifest of real traffic without ground truth, in YAML and JSON Lines alike."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from qa_gate.errors import GoldenError
from qa_gate.golden.manifest import Head
from qa_gate.golden.manifest_files import content_digest
from qa_gate.golden.suite import MANIFEST, MANIFEST_JSONL, check_suite, load_suite, write_hashes
from qa_gate.golden.yaml_manifest import render_yaml


def _suite(tmp_path: Path, manifest: str, text: str) -> Path:
    folder = tmp_path / "traffic"
    (folder / "images").mkdir(parents=True)
    for i in range(2):
        Image.new("RGB", (8, 8), (200, 40 * i, 10)).save(folder / "images" / f"t{i}.png")
    (folder / manifest).write_text(text, encoding="utf-8")
    write_hashes(folder)
    return folder


SAMPLES = [{"id": "t0", "image": "images/t0.png", "question": "what colour?", "tags": {"locale": "de-DE"}},
           {"id": "t1", "image": "images/t1.png", "question": "what shape?", "tags": {"locale": "ja-JP"}}]


def test_yaml_and_jsonl_traffic_manifests_read_the_same(tmp_path: Path) -> None:
    yaml_text = render_yaml(Head("logs", None, "traffic"), SAMPLES)
    assert "kind: traffic" in yaml_text
    from_yaml = check_suite(_suite(tmp_path / "y", MANIFEST, yaml_text))
    lines = [json.dumps({"qa_gate_manifest": 1, "description": "logs", "kind": "traffic"}),
             *map(json.dumps, SAMPLES)]
    from_jsonl = check_suite(_suite(tmp_path / "j", MANIFEST_JSONL, "\n".join(lines) + "\n"))
    for checked in (from_yaml, from_jsonl):
        assert checked.suite.kind == "traffic" and checked.head.kind == "traffic"
        assert [s.answers for s in checked.suite.samples] == [None, None]
    assert content_digest(from_yaml.head, from_yaml.suite.samples) == \
        content_digest(from_jsonl.head, from_jsonl.suite.samples)
    assert content_digest(Head("logs"), from_yaml.suite.samples) != content_digest(from_yaml.head,
                                                                                   from_yaml.suite.samples)


def test_a_manifest_without_kind_is_golden_and_an_unknown_kind_is_refused(tmp_path: Path) -> None:
    plain = render_yaml(Head(), SAMPLES)
    assert "kind" not in plain
    assert load_suite(_suite(tmp_path / "g", MANIFEST, plain)).kind == "golden"
    with pytest.raises(GoldenError, match=r"'kind' must be one of golden, traffic.*'shadow'|'kind' must be"):
        load_suite(_suite(tmp_path / "b", MANIFEST, plain.replace("samples:", "kind: shadow\nsamples:")))


def test_a_mistyped_kind_gets_a_suggestion(tmp_path: Path) -> None:
    plain = render_yaml(Head(), SAMPLES)
    with pytest.raises(GoldenError, match=r"got 'trafic' \(str\) \(did you mean 'traffic'\?\)"):
        load_suite(_suite(tmp_path / "t", MANIFEST, plain.replace("samples:", "kind: trafic\nsamples:")))
