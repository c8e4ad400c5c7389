"""``mm-gate golden convert``: YAML <-> JSON Lines with the same samples, SHA256SUMS and fingerprint kept."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pytest
from PIL import Image

from qa_gate.baseline.git import _sums_fingerprint
from qa_gate.cli import EXIT_OK, EXIT_USAGE, main
from qa_gate.errors import GoldenError
from qa_gate.golden.convert import convert_suite
from qa_gate.golden.manifest_files import write_manifest
from qa_gate.golden.suite import HASHES, MANIFEST, MANIFEST_JSONL, load_suite, write_hashes

REPO = Path(__file__).resolve().parents[2]
TRICKY = ["yes", "No", "on", "007", "1e-3", "1:30", "null", "~", "", " lead and trail ", "a: b", "# not a comment",
          "- dash", "[x]", "{y}", "line\nbreak", "tab\there", "quote ' and \"", "caf\u00e9 \u2014 \U0001f600",
          "sep\u2028arator", "nel\x85", "true", "FALSE", "0x1F", ".inf", "@at", "`tick", "%pct", "&amp", "*star",
          "!bang", "|pipe", ">gt", "back\\slash"]


@pytest.fixture(autouse=True)
def _cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def _demo(tmp_path: Path, name: str = "vqa") -> Path:
    target = tmp_path / "golden" / name
    shutil.copytree(REPO / "golden" / name, target)
    return target


def _tricky(tmp_path: Path) -> Path:
    folder = tmp_path / "golden" / "tricky"
    (folder / "images").mkdir(parents=True)
    Image.new("RGB", (8, 8), (1, 2, 3)).save(folder / "images" / "a.png")
    entries = [{"id": f"t{i}", "image": "images/a.png", "caption": text, "references": [text or "x", "r"],
                "tags": {"word": text, "n": i}, "text": text} for i, text in enumerate(TRICKY)]
    entries.append({"id": "vqa", "image": "images/a.png", "question": "q?", "answers": ["yes", "no"] * 5,
                    "question_type": "yes/no", "choices": ["yes", "no"], "labels": ["on", "off"]})
    write_manifest(folder, entries, kind="yaml", description="tricky: yes", labels=["on", "off", "1e-3"])
    write_hashes(folder)
    return folder


def _sums_consistent(folder: Path) -> None:
    """Every file is listed with its sha256 (what ``sha256sum -c`` checks), and nothing else is."""
    lines = [line for line in (folder / HASHES).read_text().splitlines() if not line.startswith("#")]
    listed = {line.split("  ", 1)[1]: line.split("  ", 1)[0] for line in lines}
    files = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file() and p.name != HASHES}
    assert set(listed) == files
    assert all(hashlib.sha256((folder / rel).read_bytes()).hexdigest() == sha for rel, sha in listed.items())


@pytest.mark.parametrize("name", ["vqa", "multilabel"])
def test_yaml_to_jsonl_and_back_keeps_the_suite_and_its_fingerprint(tmp_path: Path, name: str) -> None:
    folder = _demo(tmp_path, name)
    before = load_suite(folder)
    done = convert_suite(folder, "jsonl")
    assert done.line() == (f"wrote golden/{name}/manifest.jsonl (from manifest.yaml) and SHA256SUMS; fingerprint "
                           f"unchanged: {before.fingerprint}")
    assert sorted(p.name for p in folder.iterdir() if p.is_file()) == [HASHES, MANIFEST_JSONL]
    assert load_suite(folder) == before  # the same samples, labels, path and fingerprint
    _sums_consistent(folder)
    assert _sums_fingerprint((folder / HASHES).read_bytes())[0] == before.fingerprint  # as the git store sees it
    convert_suite(folder, "yaml")
    assert sorted(p.name for p in folder.iterdir() if p.is_file()) == [HASHES, MANIFEST]
    assert load_suite(folder) == before
    _sums_consistent(folder)
    assert _sums_fingerprint((folder / HASHES).read_bytes())[0] == before.fingerprint


def test_tricky_texts_survive_both_ways(tmp_path: Path) -> None:
    folder = _tricky(tmp_path)
    before = load_suite(folder)
    assert [s.caption for s in before.samples[:len(TRICKY)]] == TRICKY  # the writer quoted what needed it
    assert before.labels == ("on", "off", "1e-3")
    convert_suite(folder, "jsonl")
    assert load_suite(folder) == before
    convert_suite(folder, "yaml")
    assert load_suite(folder) == before
    convert_suite(folder, "yaml", force=True)  # rewritten in the canonical layout: still the same suite
    assert load_suite(folder) == before


def test_converting_to_the_format_it_has_is_refused_without_force(tmp_path: Path) -> None:
    folder = _demo(tmp_path)
    sums = (folder / HASHES).read_bytes()
    with pytest.raises(GoldenError, match="golden/vqa: the manifest is already manifest.yaml; nothing converted"):
        convert_suite(folder, "yaml")
    assert (folder / HASHES).read_bytes() == sums
    assert main(["golden", "convert", str(folder), "--to", "yaml"]) == EXIT_USAGE
    assert main(["golden", "convert", str(folder), "--to", "jsonl"]) == EXIT_OK
    assert main(["golden", "convert", str(folder), "--to", "parquet"]) == EXIT_USAGE


def test_a_stray_target_is_overwritten_only_with_force(tmp_path: Path) -> None:
    folder = _demo(tmp_path)
    before = load_suite(folder)
    (folder / MANIFEST_JSONL).write_text('{"qa_gate_manifest": 1}\n{"id": "stale", "image": "nope.png"}\n')
    with pytest.raises(GoldenError, match="holds both manifest.yaml and manifest.jsonl; manifest.jsonl is not "
                                          r"overwritten without --force \(which converts manifest.yaml over it\)"):
        convert_suite(folder, "jsonl")
    convert_suite(folder, "jsonl", force=True)
    assert load_suite(folder) == before and not (folder / MANIFEST).exists()


def test_a_broken_suite_is_not_converted(tmp_path: Path) -> None:
    folder = _demo(tmp_path)
    image = next((folder / "images").iterdir())
    image.write_bytes(image.read_bytes() + b"x")
    with pytest.raises(GoldenError, match="does not match its sha256"):
        convert_suite(folder, "jsonl")
    assert sorted(p.name for p in folder.iterdir() if p.is_file()) == [HASHES, MANIFEST]


def test_golden_hash_keeps_the_fingerprint_line_until_the_samples_change(tmp_path: Path) -> None:
    folder = _demo(tmp_path)
    before = load_suite(folder).fingerprint
    convert_suite(folder, "jsonl")
    write_hashes(folder)  # nothing changed: the line stays, and so does the fingerprint
    assert "qa_gate-fingerprint" in (folder / HASHES).read_text() and load_suite(folder).fingerprint == before
    lines = (folder / MANIFEST_JSONL).read_text().splitlines(keepends=True)
    (folder / MANIFEST_JSONL).write_text("".join(lines[:1] + [lines[1].replace('"red"', '"scarlet"', 1)] + lines[2:]))
    write_hashes(folder)  # the samples changed: the line goes, the fingerprint follows the files
    assert "qa_gate-fingerprint" not in (folder / HASHES).read_text()
    changed = load_suite(folder)
    assert changed.fingerprint != before
    assert _sums_fingerprint((folder / HASHES).read_bytes())[0] == changed.fingerprint


def test_a_fingerprint_line_for_other_samples_is_refused(tmp_path: Path) -> None:
    folder = _demo(tmp_path)
    convert_suite(folder, "yaml", force=True)
    sums = folder / HASHES
    text = sums.read_text()
    assert "qa_gate-fingerprint" in text
    content = text.rsplit(" content ", 1)[1].strip()
    sums.write_text(text.replace(content, "0" * 64))
    with pytest.raises(GoldenError, match=r"SHA256SUMS: its 'qa_gate-fingerprint' line \(kept by mm-gate golden "
                                          r"convert\) was written for other samples than manifest.yaml holds"):
        load_suite(folder)
    os.remove(sums)
    write_hashes(folder)  # a fresh listing has no line: the fingerprint is the files' again
    assert "qa_gate-fingerprint" not in sums.read_text()
