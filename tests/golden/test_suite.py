"""Golden suites: loading, integrity checks, path safety and rehashing."""

from __future__ import annotations

import os
import pickle
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
import yaml
from PIL import Image

from qa_gate.config.model import PILLOW_MAX_PIXELS
from qa_gate.errors import GoldenError
from qa_gate.golden.suite import (
    HASHES,
    MANIFEST,
    Sample,
    load_suite,
    open_image,
    sample_hint,
    verify_suite,
    write_hashes,
)

COLOURS = {"red": (255, 0, 0), "green": (0, 255, 0), "blue": (0, 0, 255)}


def _png(path: Path, colour: tuple[int, int, int], mode: str = "RGB") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, (8, 8), colour if mode == "RGB" else (*colour, 128)).save(path)


def _write_manifest(suite: Path, samples: list[dict[str, object]], **top: object) -> None:
    data = {"version": 1, "description": "test suite", **top, "samples": samples}
    (suite / MANIFEST).write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


def _make_suite(tmp_path: Path, name: str = "shapes", hashed: bool = True) -> Path:
    suite = tmp_path / "golden" / name
    samples = []
    for i, (colour, rgb) in enumerate(COLOURS.items()):
        _png(suite / "images" / f"{colour}-circle-00{i}.png", rgb)
        samples.append({
            "id": f"{colour}-circle-00{i}",
            "image": f"images/{colour}-circle-00{i}.png",
            "caption": f"a {colour} circle",
            "references": [f"a {colour} circle", f"a circle that is {colour}"],
            "tags": {"colour": colour, "shape": "circle", "size": 8},
        })
    _write_manifest(suite, samples)
    if hashed:
        write_hashes(suite)
    return suite


def _edit_sample(suite: Path, index: int, **fields: object) -> None:
    data = yaml.safe_load((suite / MANIFEST).read_text(encoding="utf-8"))
    data["samples"][index].update(fields)
    (suite / MANIFEST).write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


def _flip_byte(path: Path, offset: int = -1) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def _error(path: Path, verify: bool = False) -> str:
    with pytest.raises(GoldenError) as info:
        (verify_suite if verify else load_suite)(path)
    return str(info.value)


@pytest.fixture(autouse=True)
def _cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # messages show suite paths relative to the current directory


def test_loads_samples_in_manifest_order(tmp_path: Path) -> None:
    suite = verify_suite(_make_suite(tmp_path))
    assert suite.name == "shapes"
    assert suite.path == (tmp_path / "golden" / "shapes").resolve()
    assert [s.id for s in suite.samples] == ["red-circle-000", "green-circle-001", "blue-circle-002"]
    first = suite.samples[0]
    assert first.image == "images/red-circle-000.png"
    assert first.image_path.is_absolute() and first.image_path.is_file()
    assert first.caption == "a red circle"
    assert first.references == ("a red circle", "a circle that is red")
    assert dict(first.tags) == {"colour": "red", "shape": "circle", "size": "8"}
    with pytest.raises(TypeError):
        first.tags["colour"] = "blue"  # type: ignore[index]
    assert len(suite.fingerprint) == 16 and int(suite.fingerprint, 16) >= 0
    assert load_suite(suite.path, name="custom").name == "custom"


def test_sums_file_is_sorted_sha256sum_format_covering_the_manifest(tmp_path: Path) -> None:
    suite = _make_suite(tmp_path)
    lines = (suite / HASHES).read_text(encoding="utf-8").splitlines()
    paths = [line.split("  ", 1)[1] for line in lines]
    assert paths == sorted(paths)
    assert MANIFEST in paths and HASHES not in paths
    assert all(len(line.split("  ", 1)[0]) == 64 for line in lines)


def test_fingerprint_is_stable_and_follows_content(tmp_path: Path) -> None:
    path = _make_suite(tmp_path)
    before = load_suite(path).fingerprint
    write_hashes(path)
    assert load_suite(path).fingerprint == before
    # the same content in another folder has the same fingerprint
    assert load_suite(_make_suite(tmp_path / "copy")).fingerprint == before

    _flip_byte(path / "images" / "green-circle-001.png")
    write_hashes(path)
    after_image = load_suite(path).fingerprint
    assert after_image != before

    _edit_sample(path, 0, caption="a scarlet circle")
    write_hashes(path)
    after_manifest = load_suite(path)
    assert after_manifest.fingerprint not in (before, after_image)
    assert after_manifest.samples[0].caption == "a scarlet circle"


def test_fingerprint_ignores_line_order_of_sums_file(tmp_path: Path) -> None:
    path = _make_suite(tmp_path)
    before = load_suite(path).fingerprint
    sums = path / HASHES
    sums.write_text("\n".join(reversed(sums.read_text(encoding="utf-8").splitlines())) + "\n", encoding="utf-8")
    assert load_suite(path).fingerprint == before


@pytest.mark.parametrize("bad", ["../outside.png", "images/../../outside.png"])
def test_dotdot_path_refused(tmp_path: Path, bad: str) -> None:
    path = _make_suite(tmp_path)
    _png(path.parent / "outside.png", (1, 2, 3))
    _edit_sample(path, 1, image=bad)
    message = _error(path)
    assert "sample 'green-circle-001'" in message
    assert repr(bad) in message and "leaves the suite folder" in message
    with pytest.raises(GoldenError, match="green-circle-001.*leaves the suite folder.*not written"):
        write_hashes(path)


def test_absolute_path_refused(tmp_path: Path) -> None:
    path = _make_suite(tmp_path)
    outside = tmp_path / "outside.png"
    _png(outside, (1, 2, 3))
    _edit_sample(path, 2, image=str(outside))
    message = _error(path)
    assert "sample 'blue-circle-002'" in message and "absolute path" in message
    assert str(outside) in message


@pytest.mark.skipif(sys.platform == "win32", reason="symlinks need privileges on Windows")
def test_symlink_outside_refused(tmp_path: Path) -> None:
    path = _make_suite(tmp_path, hashed=False)
    outside = tmp_path / "secret.png"
    _png(outside, (9, 9, 9))
    (path / "images" / "link.png").symlink_to(outside)
    _edit_sample(path, 0, image="images/link.png")
    with pytest.raises(GoldenError) as info:
        write_hashes(path)
    assert "sample 'red-circle-000'" in str(info.value)
    assert "resolves outside the suite folder" in str(info.value)
    assert not (path / HASHES).exists()


@pytest.mark.skipif(sys.platform == "win32", reason="symlinks need privileges on Windows")
def test_unreferenced_symlink_outside_refused(tmp_path: Path) -> None:
    path = _make_suite(tmp_path)
    (path / "images" / "stray").symlink_to(tmp_path, target_is_directory=True)
    message = _error(path)
    assert "'images/stray' is a symlink to outside the suite folder" in message


@pytest.mark.skipif(sys.platform == "win32", reason="symlinks need privileges on Windows")
def test_symlink_inside_suite_is_accepted(tmp_path: Path) -> None:
    path = _make_suite(tmp_path, hashed=False)
    (path / "images" / "alias.png").symlink_to(path / "images" / "red-circle-000.png")
    _edit_sample(path, 2, image="images/alias.png")
    write_hashes(path)
    assert verify_suite(path).samples[2].image == "images/alias.png"


def test_missing_image(tmp_path: Path) -> None:
    path = _make_suite(tmp_path)
    (path / "images" / "green-circle-001.png").unlink()
    message = _error(path)
    assert "sample 'green-circle-001': image 'images/green-circle-001.png' does not exist" in message
    assert "listed in SHA256SUMS but missing" not in message  # reported once, through the sample


def test_hash_mismatch_names_sample_and_fix(tmp_path: Path) -> None:
    path = _make_suite(tmp_path)
    _flip_byte(path / "images" / "blue-circle-002.png", offset=20)
    message = _error(path)
    assert message.startswith("golden/shapes: sample 'blue-circle-002': image 'images/blue-circle-002.png' "
                              "does not match its sha256 in SHA256SUMS (expected ")
    assert "red-circle-000" not in message and "green-circle-001" not in message
    assert message.endswith("if the change is deliberate run: mm-gate golden hash golden/shapes")


def test_manifest_edited_without_rehash(tmp_path: Path) -> None:
    path = _make_suite(tmp_path)
    _edit_sample(path, 0, caption="an edited caption")
    message = _error(path)
    assert "golden/shapes: manifest.yaml changed since SHA256SUMS was written" in message
    assert "mm-gate golden hash golden/shapes" in message


def test_unlisted_extra_file(tmp_path: Path) -> None:
    path = _make_suite(tmp_path)
    (path / "images" / "notes.txt").write_text("stray", encoding="utf-8")
    message = _error(path)
    assert "file 'images/notes.txt' is not listed in SHA256SUMS" in message


def test_listed_file_that_is_gone(tmp_path: Path) -> None:
    path = _make_suite(tmp_path)
    (path / "extra.bin").write_bytes(b"x")
    write_hashes(path)
    (path / "extra.bin").unlink()
    assert "file 'extra.bin' is listed in SHA256SUMS but missing" in _error(path)


def test_duplicate_id(tmp_path: Path) -> None:
    path = _make_suite(tmp_path)
    _edit_sample(path, 2, id="red-circle-000")
    write_hashes_error = pytest.raises(GoldenError,
                                       match=r"duplicate id 'red-circle-000', already used by samples\[0\]")
    with write_hashes_error:
        write_hashes(path)
    assert "sample 'red-circle-000' (samples[2])" in _error(path)


def test_empty_suite(tmp_path: Path) -> None:
    path = _make_suite(tmp_path, hashed=False)
    _write_manifest(path, [])
    with pytest.raises(GoldenError, match="golden/shapes: manifest.yaml: the suite has no samples"):
        write_hashes(path)


def test_missing_sums_file(tmp_path: Path) -> None:
    path = _make_suite(tmp_path, hashed=False)
    assert _error(path) == "golden/shapes: missing SHA256SUMS; run: mm-gate golden hash golden/shapes"


def test_missing_manifest(tmp_path: Path) -> None:
    path = _make_suite(tmp_path)
    (path / MANIFEST).unlink()
    assert "golden/shapes: missing manifest.yaml" in _error(path)
    assert "does not exist" in _error(tmp_path / "golden" / "nope")


def test_malformed_sums_line(tmp_path: Path) -> None:
    path = _make_suite(tmp_path)
    with (path / HASHES).open("a", encoding="utf-8") as handle:
        handle.write("\nnot-a-hash  images/x.png\n")
    message = _error(path)
    assert "SHA256SUMS line 6: expected '<64 hex digits>  <relative path>', got 'not-a-hash  images/x.png'" in message


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"captoin": "x"}, "sample 'green-circle-001' (samples[1]): unknown field 'captoin' (did you mean 'caption'?)"),
        ({"caption": 3}, "field 'caption' must be a string, got 3 (int)"),
        ({"references": "a circle"}, "field 'references' must be a list of non-empty strings, got 'a circle'"),
        ({"references": ["ok", ""]}, "field 'references' must be a list of non-empty strings"),
        ({"tags": ["red"]}, "field 'tags' must be a mapping"),
        ({"id": None}, "manifest.yaml: samples[1]: field 'id' must be a non-empty string, got nothing"),
        ({"image": 5}, "field 'image' must be a non-empty path relative to the suite folder, got 5 (int)"),
    ],
)
def test_malformed_sample_fields(tmp_path: Path, change: dict[str, object], expected: str) -> None:
    path = _make_suite(tmp_path)
    _edit_sample(path, 1, **change)
    write_hashes_error = pytest.raises(GoldenError, match=r"not written")
    with write_hashes_error as info:
        write_hashes(path)
    assert expected in str(info.value)
    assert expected in _error(path)


def test_int_id_is_converted_to_str(tmp_path: Path) -> None:
    path = _make_suite(tmp_path)
    _edit_sample(path, 0, id=7)
    write_hashes(path)
    assert load_suite(path).samples[0].id == "7"


@pytest.mark.parametrize(
    ("top", "expected"),
    [
        ({"version": 2}, "manifest.yaml: 'version' must be 1, got 2 (int)"),
        ({"sample": []}, "unknown key 'sample' (did you mean 'samples'?)"),
        ({"description": ["x"]}, "'description' must be a string"),
    ],
)
def test_malformed_manifest_top_level(tmp_path: Path, top: dict[str, object], expected: str) -> None:
    path = _make_suite(tmp_path, hashed=False)
    data = yaml.safe_load((path / MANIFEST).read_text(encoding="utf-8"))
    _write_manifest(path, data["samples"], **top)
    with pytest.raises(GoldenError) as info:
        write_hashes(path)
    assert expected in str(info.value)


def test_invalid_yaml_and_duplicate_keys(tmp_path: Path) -> None:
    path = _make_suite(tmp_path, hashed=False)
    (path / MANIFEST).write_text("version: 1\nsamples: [\n", encoding="utf-8")
    with pytest.raises(GoldenError, match="manifest.yaml: not valid YAML"):
        write_hashes(path)
    (path / MANIFEST).write_text(
        "version: 1\nsamples:\n  - id: a\n    image: images/red-circle-000.png\n    caption: x\n    caption: y\n",
        encoding="utf-8",
    )
    with pytest.raises(GoldenError, match="duplicate key 'caption'"):
        write_hashes(path)


def test_several_problems_are_listed_together(tmp_path: Path) -> None:
    path = _make_suite(tmp_path)
    _flip_byte(path / "images" / "red-circle-000.png")
    _flip_byte(path / "images" / "blue-circle-002.png")
    (path / "extra.txt").write_text("x", encoding="utf-8")
    message = _error(path)
    assert message.startswith("golden/shapes: 3 problems in the golden suite:\n")
    assert "sample 'red-circle-000'" in message and "sample 'blue-circle-002'" in message
    assert "file 'extra.txt'" in message


def test_unreadable_image_caught_by_verify(tmp_path: Path) -> None:
    path = _make_suite(tmp_path)
    (path / "images" / "green-circle-001.png").write_bytes(b"this is not a png at all")
    write_hashes(path)
    suite = load_suite(path)  # the hashes are right: only decoding finds it
    message = _error(path, verify=True)
    assert "golden/shapes: sample 'green-circle-001': image 'images/green-circle-001.png' cannot be decoded" in message
    assert "red-circle-000" not in message
    assert verify_suite(path, decode_images=False) == suite
    with pytest.raises(GoldenError, match="golden/shapes: sample 'green-circle-001'.*cannot be decoded"):
        open_image(suite.samples[1])


def test_write_hashes_refuses_broken_suite_and_keeps_old_sums(tmp_path: Path) -> None:
    path = _make_suite(tmp_path)
    before = (path / HASHES).read_bytes()
    (path / "images" / "red-circle-000.png").unlink()
    with pytest.raises(GoldenError) as info:
        write_hashes(path)
    assert "sample 'red-circle-000': image 'images/red-circle-000.png' does not exist" in str(info.value)
    assert "SHA256SUMS not written" in str(info.value)
    assert (path / HASHES).read_bytes() == before
    assert sorted(os.listdir(path)) == [HASHES, "images", MANIFEST]


def test_open_image_is_rgb(tmp_path: Path) -> None:
    path = _make_suite(tmp_path, hashed=False)
    _png(path / "images" / "red-circle-000.png", (255, 0, 0), mode="RGBA")
    write_hashes(path)
    image = open_image(load_suite(path).samples[0])
    assert image.mode == "RGB" and image.size == (8, 8)
    assert image.getpixel((0, 0)) == (255, 0, 0)


def _claim_size(path: Path, width: int, height: int) -> None:
    """Rewrite a PNG's IHDR to claim ``width`` x ``height`` (CRC fixed); its pixel data stays 8x8."""
    data = bytearray(path.read_bytes())
    data[16:24] = struct.pack(">II", width, height)  # after the 8-byte signature, length and b"IHDR"
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    path.write_bytes(bytes(data))


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")  # Pillow warns over 89 MP
def test_an_image_over_max_pixels_is_refused_from_its_header(tmp_path: Path) -> None:
    path = _make_suite(tmp_path, hashed=False)
    _claim_size(path / "images" / "green-circle-001.png", 12000, 12000)  # 144 MP claimed, 17 KiB-like file
    write_hashes(path)
    suite = load_suite(path)
    assert suite.max_pixels == 40_000_000
    with pytest.raises(GoldenError) as info:
        open_image(suite.samples[1], suite.max_pixels)
    assert str(info.value) == (
        "golden/shapes: sample 'green-circle-001': image 'images/green-circle-001.png' is 12000x12000 = "
        "144000000 pixels, over golden.max_pixels = 40000000; expected a smaller image (downscale it), or raise "
        "golden.max_pixels in thresholds.yaml")  # not "cannot be decoded": refused before decoding
    assert "is 12000x12000 = 144000000 pixels, over golden.max_pixels" in _error(path, verify=True)
    assert open_image(suite.samples[0], suite.max_pixels).size == (8, 8)


def test_max_pixels_is_per_suite_and_counts_width_times_height(tmp_path: Path) -> None:
    path = _make_suite(tmp_path)
    assert open_image(load_suite(path, max_pixels=64).samples[0], 64).size == (8, 8)  # exactly at the limit
    small = load_suite(path, max_pixels=63)
    assert small.max_pixels == 63
    with pytest.raises(GoldenError, match=r"sample 'red-circle-000': image 'images/red-circle-000.png' is 8x8 = "
                                          r"64 pixels, over golden.max_pixels = 63;"):
        open_image(small.samples[0], small.max_pixels)


def test_an_image_over_pillows_own_limit_names_it(tmp_path: Path) -> None:
    path = _make_suite(tmp_path, hashed=False)
    assert PILLOW_MAX_PIXELS == 2 * Image.MAX_IMAGE_PIXELS  # the most golden.max_pixels may be
    _claim_size(path / "images" / "red-circle-000.png", 20000, 20000)  # over Pillow's 178956970
    write_hashes(path)
    with pytest.raises(GoldenError, match=r"sample 'red-circle-000': image 'images/red-circle-000.png' is larger "
                                          r"than Pillow allows \(Image size \(400000000 pixels\) exceeds limit"):
        open_image(load_suite(path).samples[0])


def test_sample_hint_and_pickling(tmp_path: Path) -> None:
    suite = load_suite(_make_suite(tmp_path))
    assert sample_hint(suite, suite.samples[1]) == "golden/shapes: sample 'green-circle-001'"
    clone = pickle.loads(pickle.dumps(suite))
    assert clone == suite and dict(clone.samples[0].tags) == {"colour": "red", "shape": "circle", "size": "8"}
    assert hash(suite.samples[0]) == hash(clone.samples[0])
    direct = Sample("x", "a.png", tmp_path / "a.png", tags={"k": "v"}, references=["r"])  # type: ignore[arg-type]
    assert direct.references == ("r",) and dict(direct.tags) == {"k": "v"}


def test_module_import_is_cheap() -> None:
    root = Path(__file__).resolve().parents[2]
    code = "import sys, qa_gate.golden; print(sorted({'PIL', 'torch', 'pytest'} & set(sys.modules)))"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root, env=env)
    assert out.stdout.strip() == "[]"
