"""``golden import jsonl`` and ``csv``: a table of image paths and fields, ``--map``, and the bad input of issue 12."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

from qa_gate.cli import EXIT_OK, EXIT_USAGE
from qa_gate.golden.suite import load_suite, verify_suite


def _table(tmp: Path, picture, rows: list[dict]) -> Path:
    for row in rows:
        if row.get("path") and not row.get("absent"):
            picture(tmp / "data" / "pics" / row["path"], row.get("colour", "red"))
    source = tmp / "data" / "table.jsonl"
    source.write_text("".join(json.dumps({k: v for k, v in r.items() if k != "absent"}) + "\n" for r in rows))
    return source


ROWS = [{"key": "a", "path": "a.png", "text": "a red square", "alts": ["red one", "a red box"], "colour": "red"},
        {"key": "b", "path": "b.png", "text": "a blue square", "alts": ["blue one"], "colour": "blue"},
        {"key": "c", "path": "sub/c.png", "text": "a green square", "alts": [], "colour": "green"}]


def test_jsonl_with_a_map_round_trips_into_a_verified_suite(tmp_path: Path, picture, mm_gate) -> None:
    source = _table(tmp_path, picture, ROWS)
    out = tmp_path / "golden" / "mine"
    code, stdout, _ = mm_gate("golden", "import", "jsonl", source, "--images", tmp_path / "data" / "pics", "--out",
                              out, "--map", "id=key,image=path,caption=text", "--map", "references=alts",
                              "--map", "tags.colour=colour")
    assert code == EXIT_OK, stdout
    assert "read 3 samples; took 3" in stdout
    suite = verify_suite(out)
    assert [s.id for s in suite.samples] == ["a", "b", "c"]
    assert suite.samples[0].caption == "a red square" and suite.samples[0].references == ("red one", "a red box")
    assert dict(suite.samples[2].tags) == {"colour": "green"} and suite.samples[2].references == ()
    assert suite.samples[2].image == "images/sub/c.png"
    assert (out / "images/sub/c.png").read_bytes() == (tmp_path / "data/pics/sub/c.png").read_bytes()
    record = json.loads((out / "provenance.json").read_text())
    assert record["format"] == "jsonl" and record["settings"]["map"]["caption"] == "text"
    assert record["sources"][0]["sha256"] == hashlib.sha256(source.read_bytes()).hexdigest()
    assert "provenance.json" in (out / "SHA256SUMS").read_text()  # so it enters the fingerprint


def test_csv_lists_split_on_bars_or_json_and_ids_default_to_rows(tmp_path: Path, picture) -> None:
    from qa_gate.golden.imports.run import ImportSettings, import_suite

    for name in ("x.png", "y.png"):
        picture(tmp_path / name)
    source = tmp_path / "t.csv"
    with source.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["image", "question", "answers", "colour"])
        writer.writerow(["x.png", "what colour?", "red|red|red|red|red|red|red|red|red|pink", "red"])
        writer.writerow(["y.png", "what colour?", json.dumps(["red"] * 10), "red"])
    done = import_suite(ImportSettings("csv", (source,), tmp_path / "out", mapping={"tags.colour": "colour"}),
                        progress=None)
    samples = load_suite(done.out).samples
    assert [s.id for s in samples] == ["t-000001", "t-000002"]
    assert samples[0].answers == ("red",) * 9 + ("pink",) and samples[1].answers == ("red",) * 10
    assert samples[0].question == "what colour?" and samples[0].tags["colour"] == "red"


def test_missing_images_are_skipped_with_a_count_or_stop_with_strict(tmp_path: Path, picture, mm_gate) -> None:
    rows = [*ROWS, *({"key": f"gone{i}", "path": f"gone{i}.png", "text": "x", "absent": True} for i in range(7))]
    source = _table(tmp_path, picture, rows)
    args = ["golden", "import", "jsonl", source, "--images", tmp_path / "data" / "pics", "--map",
            "id=key,image=path,caption=text"]
    code, stdout, _ = mm_gate(*args, "--out", tmp_path / "out")
    assert code == EXIT_OK
    assert "skipped 7 (missing image): 'gone0', 'gone1', 'gone2', 'gone3', 'gone4', ..." in stdout
    assert len(load_suite(tmp_path / "out").samples) == 3
    code, _, err = mm_gate(*args, "--out", tmp_path / "strict", "--strict")
    assert code == EXIT_USAGE and "table.jsonl line 4: sample 'gone0': missing image (--strict" in err
    assert not (tmp_path / "strict").exists() and not list(tmp_path.glob(".strict.import-*"))


def test_duplicate_ids_and_paths_leaving_the_image_root_are_refused(tmp_path: Path, picture, mm_gate) -> None:
    source = _table(tmp_path, picture, [*ROWS, {"key": "a", "path": "b.png", "text": "again"}])
    code, _, err = mm_gate("golden", "import", "jsonl", source, "--images", tmp_path / "data" / "pics", "--out",
                           tmp_path / "out", "--map", "id=key,image=path,caption=text")
    assert code == EXIT_USAGE
    assert "table.jsonl line 4: duplicate id 'a', already used by table.jsonl line 1" in err
    assert not (tmp_path / "out").exists()
    picture(tmp_path / "data" / "secret.png")
    source = _table(tmp_path, picture, [{"key": "z", "path": "../secret.png", "text": "x"}])
    code, _, err = mm_gate("golden", "import", "jsonl", source, "--images", tmp_path / "data" / "pics", "--out",
                           tmp_path / "out", "--map", "id=key,image=path,caption=text")
    assert code == EXIT_USAGE and "image '../secret.png' leaves the image root" in err


def test_an_existing_out_is_refused_without_force_and_replaced_whole_with_it(tmp_path: Path, picture,
                                                                              mm_gate) -> None:
    source = _table(tmp_path, picture, ROWS)
    out = tmp_path / "out"
    args = ["golden", "import", "jsonl", source, "--images", tmp_path / "data" / "pics", "--out", out,
            "--map", "id=key,image=path,caption=text"]
    assert mm_gate(*args)[0] == EXIT_OK
    before = (out / "SHA256SUMS").read_bytes()
    code, _, err = mm_gate(*args, "--limit", "2")
    assert code == EXIT_USAGE and "exists; not overwritten (--force replaces the suite there)" in err
    assert (out / "SHA256SUMS").read_bytes() == before
    bad = _table(tmp_path / "bad", picture, [*ROWS, {"key": "a", "path": "a.png", "text": "dup"}])
    code, _, err = mm_gate("golden", "import", "jsonl", bad, "--out", out, "--force", "--images",
                           tmp_path / "data" / "pics", "--map", "id=key,image=path,caption=text")
    assert code == EXIT_USAGE and (out / "SHA256SUMS").read_bytes() == before  # a failed import left it as it was
    assert mm_gate(*args, "--limit", "2", "--force")[0] == EXIT_OK
    assert len(load_suite(out).samples) == 2 and not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]
    code, _, err = mm_gate("golden", "import", "jsonl", out / "manifest.jsonl", "--out", out, "--force")
    assert code == EXIT_USAGE and "holds the input" in err


def test_verify_provenance_says_when_a_source_changed_after_import(tmp_path: Path, picture, mm_gate) -> None:
    source = _table(tmp_path, picture, ROWS)
    out = tmp_path / "golden" / "mine"
    assert mm_gate("golden", "import", "jsonl", source, "--images", tmp_path / "data" / "pics", "--out", out,
                   "--map", "id=key,image=path,caption=text")[0] == EXIT_OK
    code, stdout, _ = mm_gate("golden", "verify", out, "--provenance")
    assert code == EXIT_OK and "1 jsonl source(s) match provenance.json" in stdout
    source.write_text(source.read_text() + "\n")
    code, _, err = mm_gate("golden", "verify", out, "--provenance")
    assert code == EXIT_USAGE and "table.jsonl changed since the import (sha256 recorded" in err
    assert mm_gate("golden", "verify", out)[0] == EXIT_OK  # the suite itself is intact
