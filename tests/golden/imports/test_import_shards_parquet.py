"""WebDataset tar shards and Hugging Face datasets Parquet files (image column ``struct<bytes, path>``), imported."""

from __future__ import annotations

import io
import json
import sys
import tarfile
from pathlib import Path

import pytest

from qa_gate.errors import GoldenError
from qa_gate.golden.imports.run import ImportSettings, import_suite
from qa_gate.golden.imports.shards import expand
from qa_gate.golden.suite import load_suite, verify_suite


def _shard(path: Path, samples: list[dict[str, bytes]]) -> Path:
    with tarfile.open(path, "w") as tar:
        for sample in samples:
            key = sample.pop("__key__").decode()
            for ext, data in sample.items():
                info = tarfile.TarInfo(f"{key}.{ext}")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return path


def test_webdataset_shards_by_key_with_json_fields_and_a_brace_range(tmp_path: Path, encoded) -> None:
    for n, colours in enumerate((("red", "green"), ("blue",))):
        _shard(tmp_path / f"data-{n:06d}.tar", [
            {"__key__": f"s{n}/{c}".encode(), "jpg": encoded(c, "JPEG"), "txt": f"a {c} square".encode(),
             "json": json.dumps({"meta": {"colour": c}, "alts": [f"{c} one"]}).encode(), "cls": b"3"}
            for c in colours])
    shards = expand(tmp_path / "data-{000000..000001}.tar")
    assert [p.name for p in shards] == ["data-000000.tar", "data-000001.tar"]
    done = import_suite(ImportSettings("webdataset", tuple(shards), tmp_path / "out",
                                       mapping={"tags.colour": "json.meta.colour", "references": "json.alts",
                                                "tags.label": "cls"}), progress=None)
    samples = verify_suite(done.out).samples
    assert [s.id for s in samples] == ["s0/red", "s0/green", "s1/blue"]
    assert samples[2].caption == "a blue square" and samples[2].references == ("blue one",)
    assert dict(samples[0].tags) == {"colour": "red", "label": "3"} and samples[0].image.endswith(".jpg")


def test_webdataset_image_without_caption_is_skipped_and_counted(tmp_path: Path, encoded) -> None:
    shard = _shard(tmp_path / "d-000000.tar", [
        {"__key__": b"a", "png": encoded("red"), "txt": b"red"},
        {"__key__": b"b", "png": encoded("blue")},
        {"__key__": b"c", "txt": b"no image"}])
    done = import_suite(ImportSettings("webdataset", (shard,), tmp_path / "out"), progress=None)
    assert [s.id for s in load_suite(done.out).samples] == ["a"]
    assert done.skipped == {"no caption (txt)": (1, ("b",)), "missing image": (1, ("c",))}
    with pytest.raises(GoldenError, match=r"d-000000.tar: b: sample 'b': no caption \(txt\) \(--strict"):
        import_suite(ImportSettings("webdataset", (shard,), tmp_path / "strict", strict=True), progress=None)


def _parquet(path: Path, encoded) -> Path:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    image = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    table = pa.table({
        "image": pa.array([{"bytes": encoded(c), "path": f"{c}.png"} for c in ("red", "blue")]
                          + [{"bytes": None, "path": None}], type=image),
        "question_id": pa.array([10, 11, 12]),
        "sentences": pa.array([["a red square", "red box"], ["a blue square"], ["gone"]], type=pa.list_(pa.string())),
        "colour": ["red", "blue", "green"],
    })
    pq.write_table(table, path)
    return path


def test_hf_parquet_image_struct_bytes_written_out_and_columns_mapped(tmp_path: Path, encoded) -> None:
    source = _parquet(tmp_path / "test-00000-of-00001.parquet", encoded)
    import pyarrow.parquet as pq

    assert str(pq.read_schema(source).field("image").type) == "struct<bytes: binary, path: string>"
    done = import_suite(ImportSettings("hf-parquet", (source,), tmp_path / "out", split="test",
                                       mapping={"id": "question_id", "references": "sentences",
                                                "tags.colour": "colour"}), progress=None)
    samples = verify_suite(done.out).samples
    assert [s.id for s in samples] == ["10", "11"] and samples[0].references == ("a red square", "red box")
    assert samples[1].image == "images/11.png" and done.skipped == {"missing image": (1, ("12",))}
    with pytest.raises(GoldenError, match=r"no column 'caption_text' \(mapped to caption\); the file has image, "
                                          r"question_id, sentences, colour"):
        import_suite(ImportSettings("hf-parquet", (source,), tmp_path / "x", mapping={"caption": "caption_text"}),
                     progress=None)


def test_hf_parquet_without_pyarrow_says_how_to_install_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)  # import fails as when the extra is not installed
    (source := tmp_path / "train-00000-of-00001.parquet").write_bytes(b"PAR1")
    with pytest.raises(GoldenError, match=r"hf-parquet needs pyarrow: pip install 'qa-gate\[parquet\]'"):
        import_suite(ImportSettings("hf-parquet", (source,), tmp_path / "out"), progress=None)
    assert not (tmp_path / "out").exists()


def test_hf_parquet_split_and_path_only_images(tmp_path: Path, encoded, picture) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    picture(tmp_path / "pics" / "a.png")
    image = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    table = pa.table({"image": pa.array([{"bytes": None, "path": "a.png"}], type=image), "caption": ["a red one"]})
    pq.write_table(table, train := tmp_path / "train-00000-of-00001.parquet")
    pq.write_table(table, tmp_path / "test-00000-of-00001.parquet")
    done = import_suite(ImportSettings("hf-parquet", (train, tmp_path / "test-00000-of-00001.parquet"),
                                       tmp_path / "out", images=tmp_path / "pics", split="train"), progress=None)
    (sample,) = load_suite(done.out).samples
    assert sample.id == "train-00000-of-00001-000001" and sample.caption == "a red one"
    assert sample.image == "images/a.png"
    with pytest.raises(GoldenError, match="no source file belongs to --split 'val'"):
        import_suite(ImportSettings("hf-parquet", (train,), tmp_path / "x", split="val"), progress=None)


def test_options_that_do_not_apply_to_a_format_are_refused(tmp_path: Path) -> None:
    (source := tmp_path / "c.json").write_text("{}")
    with pytest.raises(GoldenError, match="--map: coco-captions fills its fields itself"):
        import_suite(ImportSettings("coco-captions", (source,), tmp_path / "o", mapping={"caption": "x"}),
                     progress=None)
    with pytest.raises(GoldenError, match="--split: webdataset has no splits to choose"):
        import_suite(ImportSettings("webdataset", (source,), tmp_path / "o", split="test"), progress=None)
