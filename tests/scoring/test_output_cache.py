"""The model-output cache on a real tiny open_clip run: warm runs load no model, a changed image re-encodes
only itself, corrupt entries are recomputed, and the results equal an uncached run's."""

from __future__ import annotations

import errno
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from support.project import build_tiny_project, write_thresholds

from qa_gate.config.model import Overrides
from qa_gate.results import RunResult

METRICS = {"clipscore": {"min": 0.0}, "refclipscore": {}, "i2t_r1": {},
           "zeroshot_top1": {"label_tag": "colour", "templates": ["a {} square.", "{}"]}}


@dataclass
class Counts:
    """What the real model did: loads, images encoded, texts encoded."""

    loads: int = 0
    images: int = 0
    texts: int = 0
    seen: list[str] = field(default_factory=list)


@pytest.fixture
def counts(monkeypatch: pytest.MonkeyPatch) -> Iterator[Counts]:
    """A counting seam on the real loader and encoder (the calls go through to the real model)."""
    import qa_gate.adapters.open_clip as backend

    seen = Counts()
    load, encode_images, encode_texts = backend.load_open_clip, backend.OpenClipEncoder.encode_images, \
        backend.OpenClipEncoder.encode_texts

    def counted_load(*args: Any, **kwargs: Any) -> Any:
        seen.loads += 1
        return load(*args, **kwargs)

    def counted_images(self: Any, images: Any) -> Any:
        seen.images += len(images)
        return encode_images(self, images)

    def counted_texts(self: Any, texts: Any) -> Any:
        seen.texts += len(texts)
        seen.seen.extend(texts)
        return encode_texts(self, texts)

    monkeypatch.setattr(backend, "load_open_clip", counted_load)
    monkeypatch.setattr(backend.OpenClipEncoder, "encode_images", counted_images)
    monkeypatch.setattr(backend.OpenClipEncoder, "encode_texts", counted_texts)
    yield seen


@pytest.fixture
def project(tmp_path: Path, tiny_open_clip: Path) -> Path:
    build_tiny_project(tmp_path, tiny_open_clip)
    write_thresholds(tmp_path, model={"adapter": "open_clip", "checkpoint": "ckpt", "batch_size": 4, "device": "cpu"},
                     suites={"tiny": {"path": "golden/tiny", "metrics": METRICS}})
    return tmp_path


def _score(project: Path, **options: Any) -> RunResult:
    from qa_gate.pipeline import prepare, score

    options.setdefault("cache_dir", str(project / "cache"))
    return score(prepare(project / "thresholds.yaml", Overrides(quiet=True, **options)))


def _same(a: RunResult, b: RunResult) -> None:
    """Every metric's value, statistics and definition, and the checkpoint record, are equal."""
    assert a.checkpoint.sha256 == b.checkpoint.sha256 and a.checkpoint.model_name == b.checkpoint.model_name
    for left, right in zip(a.suites, b.suites):
        assert set(left.metrics) == set(right.metrics)
        for name, metric in left.metrics.items():
            other = right.metrics[name]
            assert metric.value == other.value, name
            assert np.array_equal(metric.stats, other.stats), name
            assert metric.fingerprint == other.fingerprint and dict(metric.definition) == dict(other.definition)


def _packs(project: Path) -> list[Path]:
    return sorted((project / "cache").rglob("*.pack"))


def test_a_warm_run_loads_no_model_and_equals_an_uncached_run(project: Path, counts: Counts) -> None:
    cold = _score(project)
    assert counts.loads == 1 and counts.images == 6 and counts.texts > 0
    assert _packs(project)
    before = (counts.images, counts.texts)
    warm = _score(project)
    assert counts.loads == 1 and (counts.images, counts.texts) == before  # nothing ran, nothing loaded
    _same(cold, warm)
    _same(cold, _score(project, no_cache=True))


def test_one_changed_image_is_the_only_one_encoded(project: Path, counts: Counts) -> None:
    from PIL import Image

    from qa_gate.golden.suite import write_hashes

    _score(project)
    images, texts = counts.images, counts.texts
    suite = project / "golden" / "tiny"
    Image.new("RGB", (32, 32), (250, 250, 0)).save(suite / "images" / "green-1.png")
    write_hashes(suite)
    changed = _score(project)
    assert counts.images - images == 1  # one sample's image, through the real model
    assert counts.texts == texts  # its caption and references did not change
    _same(changed, _score(project, no_cache=True))


def test_a_changed_caption_encodes_only_its_texts(project: Path, counts: Counts) -> None:
    from qa_gate.golden.suite import write_hashes

    _score(project)
    images, seen = counts.images, len(counts.seen)
    manifest = project / "golden" / "tiny" / "manifest.yaml"
    manifest.write_text(manifest.read_text().replace("caption: a red square\n", "caption: a crimson square\n", 1))
    write_hashes(project / "golden" / "tiny")
    _score(project)
    assert counts.images == images
    assert sorted(set(counts.seen[seen:])) == ["A photo depicts a crimson square", "a crimson square"]


@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_a_corrupt_pack_is_recomputed_never_trusted(project: Path, counts: Counts, damage: str,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    cold = _score(project)
    image_pack = next(p for p in _packs(project) if p.parent.name == "image-encoding")
    data = bytearray(image_pack.read_bytes())
    if damage == "truncate":
        data = data[:len(data) // 2]
    else:
        data[len(data) // 2] ^= 0x01  # one bit inside the rows
    image_pack.write_bytes(bytes(data))
    images = counts.images
    again = _score(project)
    assert counts.images - images == 6 and counts.loads == 2  # every image re-encoded by the real model
    out = capsys.readouterr().out
    assert out.count("are unusable") == 1 and ("checksum mismatch" in out or "truncated" in out)
    _same(cold, again)


def test_a_full_cache_costs_one_warning(project: Path, counts: Counts, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    import qa_gate.scoring.cache as cache

    def full(path: Path, data: bytes) -> Path:
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(cache, "write_atomic", full)
    cold = _score(project)
    out = capsys.readouterr().out
    assert out.count("warning: output cache") == 1 and "No space left on device" in out
    assert "not cached" in out and not _packs(project)
    _same(cold, _score(project, no_cache=True))


def test_a_cache_folder_under_a_file_is_one_warning(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "blocker").write_text("a file, not a folder")
    _score(project, cache_dir=str(project / "blocker" / "cache"))
    assert capsys.readouterr().out.count("warning: output cache") == 1


def test_no_cache_writes_nothing_and_strict_mode_reads_nothing(project: Path, counts: Counts) -> None:
    _score(project, no_cache=True)
    assert not (project / "cache").exists()
    _score(project)
    images = counts.images
    _score(project, mode="strict")
    assert counts.images - images == 6 and counts.loads == 3


def test_an_efficiency_suite_times_the_real_model(project: Path, counts: Counts) -> None:
    write_thresholds(project, model={"adapter": "open_clip", "checkpoint": "ckpt", "batch_size": 4, "device": "cpu"},
                     suites={"tiny": {"path": "golden/tiny", "metrics": {**METRICS, "latency_p50_ms": {}}}})
    _score(project)
    images, texts = counts.images, counts.texts
    warm = _score(project)
    assert counts.images - images == 6  # timings measure the model: never from the cache
    assert counts.texts == texts  # its texts still are
    assert warm.suites[0].metrics["latency_p50_ms"].value > 0
