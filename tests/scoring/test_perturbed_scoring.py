"""Metrics under perturbations, scored by the runner with a real tiny CLIP, against the same model called by hand."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import ImageEnhance
from support.project import build_tiny_project, write_thresholds

from qa_gate.config.model import Overrides

PREFIX = "A photo depicts "
TEMPLATES = ["a photo of a {} square.", "{}"]
PERTURBATIONS = {"dark": {"brightness": 0.4}, "caps": {"text_case": "upper"}, "noise": {"gaussian_noise": 0.3}}


def _thresholds(root: Path) -> Path:
    metrics: dict[str, Any] = {
        "clipscore": {"min": 0.0}, "i2t_r1": {},
        "zeroshot_top1": {"label_tag": "colour", "templates": TEMPLATES},
        "latency_p50_ms": {},
        "clipscore@dark": {"min": 0.0}, "consistency@dark": {"min": 0.0},
    }
    return write_thresholds(root, model={"adapter": "open_clip", "checkpoint": "ckpt", "batch_size": 4},
                            suites={"tiny": {"path": "golden/tiny", "perturbations": PERTURBATIONS,
                                             "metrics": metrics}})


def _score(root: Path, overrides: Overrides = Overrides()) -> Any:
    from qa_gate.pipeline import prepare, score

    prepared = prepare(_thresholds(root), overrides)
    return prepared, score(prepared).suite("tiny")


@pytest.fixture
def scored(tmp_path: Path, tiny_open_clip: Path) -> tuple[Any, Any]:
    build_tiny_project(tmp_path, tiny_open_clip)
    return _score(tmp_path)


class _ByHand:
    """The tiny CLIP itself: images (through ``transform``) and texts embedded, normalised, in float64."""

    def __init__(self, folder: Path) -> None:
        import open_clip

        self.model, _, self.preprocess = open_clip.create_model_and_transforms(f"local-dir:{folder}")
        self.tokenizer = open_clip.get_tokenizer(f"local-dir:{folder}")
        self.model.eval()

    @staticmethod
    def _norm(x: Any) -> np.ndarray:
        x = x.double().numpy()
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    def images(self, samples: Any, transform: Any = None) -> np.ndarray:
        import torch

        from qa_gate.golden.suite import open_image

        opened = [open_image(s) for s in samples]
        if transform is not None:
            opened = [transform(image) for image in opened]
        with torch.no_grad():
            return self._norm(self.model.encode_image(torch.stack([self.preprocess(i) for i in opened])))

    def texts(self, items: list[str]) -> np.ndarray:
        import torch

        with torch.no_grad():
            return self._norm(self.model.encode_text(self.tokenizer(items)))


def _clipscore(images: np.ndarray, texts: np.ndarray) -> float:
    return float(np.mean(2.5 * np.clip((images * texts).sum(axis=1), 0, None)))


def test_every_metric_but_efficiency_is_rescored_with_its_perturbation_in_the_definition(scored) -> None:
    _, suite = scored
    assert set(suite.metrics) == {
        "clipscore", "i2t_r1", "zeroshot_top1", "latency_p50_ms",
        *(f"{m}@{p}" for m in ("clipscore", "i2t_r1", "zeroshot_top1") for p in ("dark", "noise")),
        "clipscore@caps", "i2t_r1@caps", "consistency@dark", "consistency@noise", "consistency@caps"}
    clean, darker = suite.metrics["clipscore"], suite.metrics["clipscore@dark"]
    assert darker.definition["perturbation"] == {"name": "dark", "kind": "brightness", "value": 0.4, "seed": 0}
    assert {k: v for k, v in darker.definition.items() if k != "perturbation"} == clean.definition
    assert darker.fingerprint != clean.fingerprint
    assert suite.metrics["consistency@dark"].definition["of"] == clean.definition


def test_image_and_text_perturbations_score_what_the_model_gives_on_the_perturbed_inputs(scored,
                                                                                         tmp_path: Path) -> None:
    prepared, suite = scored
    samples = prepared.suites[0].samples
    model = _ByHand(tmp_path / "ckpt")
    captions = [PREFIX + s.caption for s in samples]
    darker = model.images(samples, lambda image: ImageEnhance.Brightness(image).enhance(0.4))
    clean = model.images(samples)
    texts = model.texts(captions)
    assert suite.metrics["clipscore@dark"].value == pytest.approx(_clipscore(darker, texts), abs=1e-4)
    assert suite.metrics["clipscore@caps"].value == pytest.approx(
        _clipscore(clean, model.texts([PREFIX + s.caption.upper() for s in samples])), abs=1e-4)
    assert suite.metrics["clipscore@dark"].value != pytest.approx(suite.metrics["clipscore"].value, abs=1e-4)
    # consistency@dark: the first metric's prediction, the top-1 caption per image, unchanged when darker
    unchanged = np.argmax(clean @ texts.T, axis=1) == np.argmax(darker @ texts.T, axis=1)
    stats = suite.metrics["consistency@dark"].stats[:, 0]
    assert stats.tolist() == unchanged.astype(float).tolist()
    assert suite.metrics["consistency@dark"].value == pytest.approx(unchanged.mean())


def test_zero_shot_consistency_compares_top1_classes(tmp_path: Path, tiny_open_clip: Path) -> None:
    build_tiny_project(tmp_path, tiny_open_clip)
    path = write_thresholds(tmp_path, model={"adapter": "open_clip", "checkpoint": "ckpt", "batch_size": 4},
                            suites={"tiny": {"path": "golden/tiny", "perturbations": {"noise": {"gaussian_noise": 0.4}},
                                             "metrics": {"zeroshot_top1": {"label_tag": "colour",
                                                                           "templates": TEMPLATES}}}})
    from qa_gate.pipeline import prepare, score
    from qa_gate.scoring.perturbations import image_transform

    prepared = prepare(path)
    suite = score(prepared).suite("tiny")
    samples = prepared.suites[0].samples
    model = _ByHand(tmp_path / "ckpt")
    noise = image_transform(prepared.config.suites[0].perturbations[0])
    classes = sorted({s.tags["colour"] for s in samples})
    per_template = model.texts([t.replace("{}", c) for t in TEMPLATES for c in classes]).reshape(2, len(classes), -1)
    class_emb = per_template.mean(axis=0)
    class_emb /= np.linalg.norm(class_emb, axis=1, keepdims=True)
    clean = np.argmax(model.images(samples) @ class_emb.T, axis=1)
    noisy_images = [noise(image, s.id) for image, s in zip(_opened(samples), samples)]
    noisy = np.argmax(model.images(samples, _Replay(noisy_images)) @ class_emb.T, axis=1)
    assert suite.metrics["consistency@noise"].stats[:, 0].tolist() == (clean == noisy).astype(float).tolist()


def _opened(samples: Any) -> list[Any]:
    from qa_gate.golden.suite import open_image

    return [open_image(s) for s in samples]


class _Replay:
    """A transform that hands back prepared images in order (the noise needs each sample's id)."""

    def __init__(self, images: list[Any]) -> None:
        self._images = iter(images)

    def __call__(self, _: Any) -> Any:
        return next(self._images)


def test_perturbed_outputs_never_share_cache_entries_with_the_clean_ones(tmp_path: Path, tiny_open_clip: Path) -> None:
    build_tiny_project(tmp_path, tiny_open_clip)
    cache = Overrides(cache_dir=str(tmp_path / "cache"))
    _, first = _score(tmp_path, cache)
    _, second = _score(tmp_path, cache)  # every output read from the cache
    _, fresh = _score(tmp_path, Overrides(no_cache=True))
    for name in ("clipscore", "clipscore@dark", "clipscore@noise", "zeroshot_top1@noise", "consistency@noise"):
        assert second.metrics[name].value == pytest.approx(first.metrics[name].value, abs=1e-6)
        assert fresh.metrics[name].value == pytest.approx(first.metrics[name].value, abs=1e-6)
    assert first.metrics["clipscore@noise"].value != pytest.approx(first.metrics["clipscore"].value, abs=1e-4)


def test_batch_size_and_workers_do_not_change_the_perturbed_scores(tmp_path: Path, tiny_open_clip: Path) -> None:
    build_tiny_project(tmp_path, tiny_open_clip)
    _, one = _score(tmp_path, Overrides(batch_size=1, workers=1, no_cache=True))
    _, many = _score(tmp_path, Overrides(batch_size=5, workers=3, no_cache=True))
    for name in ("clipscore@noise", "consistency@noise", "i2t_r1@noise"):
        assert np.allclose(one.metrics[name].stats, many.metrics[name].stats, atol=1e-5)


def test_a_top1_caption_among_repeated_captions_is_the_first_copy() -> None:
    import math

    from qa_gate.scoring.perturbed import _top1_text

    rng = np.random.default_rng(7)
    distinct = rng.standard_normal((6, 16)).astype(np.float32)
    order = [0, 1, 2, 1, 3, 4, 2, 2, 5, 0, 3]  # the suite's captions: several written twice or more
    texts = distinct[order]
    images = np.concatenate([distinct + rng.standard_normal((6, 16)).astype(np.float32) * 0.05,
                             rng.standard_normal((20, 16)).astype(np.float32)])
    got = _top1_text(images, texts)
    for image, index in zip(images, got):
        exact = [math.fsum(float(a) * float(b) for a, b in zip(image, text)) for text in texts]
        best = max(exact)
        assert index == exact.index(best)  # the best, and of equal captions the first
        assert order.index(order[index]) == index
    assert set(got[:6]) == {order.index(k) for k in range(6)}  # each image finds its own caption's first copy


def test_a_text_perturbation_scores_its_own_captions_and_leaves_the_clean_ones(tmp_path: Path,
                                                                              tiny_open_clip: Path) -> None:
    """Typos change what CLIP reads (upper case does not: its tokenizer lower-cases), so a clean captions'
    matrix handed to the perturbed metrics, or theirs to the clean ones, would show here."""
    from qa_gate.pipeline import prepare, score
    from qa_gate.scoring.perturbations import perturbed_sample

    build_tiny_project(tmp_path, tiny_open_clip)
    metrics = {"clipscore": {"min": 0.0}, "refclipscore": {"min": 0.0}, "clipscore@typos": {"min": 0.0},
               "refclipscore@typos": {"min": 0.0}}
    path = write_thresholds(tmp_path, model={"adapter": "open_clip", "checkpoint": "ckpt", "batch_size": 4},
                            suites={"tiny": {"path": "golden/tiny", "perturbations": {"typos": {"text_typo": 0.5}},
                                             "metrics": metrics}})
    prepared = prepare(path)
    suite = score(prepared).suite("tiny")
    samples = prepared.suites[0].samples
    typos = [perturbed_sample(s, prepared.config.suites[0].perturbations[0]) for s in samples]
    assert [s.caption for s in typos] != [s.caption for s in samples]
    model = _ByHand(tmp_path / "ckpt")
    images = model.images(samples)
    for name, used in (("clipscore", samples), ("clipscore@typos", typos)):
        want = _clipscore(images, model.texts([PREFIX + s.caption for s in used]))
        assert suite.metrics[name].value == pytest.approx(want, abs=1e-4), name
    assert suite.metrics["clipscore@typos"].value != pytest.approx(suite.metrics["clipscore"].value, abs=1e-4)
    for name, used in (("refclipscore", samples), ("refclipscore@typos", typos)):
        refs = [model.texts([PREFIX + r for r in s.references]) for s in used]
        texts = model.texts([PREFIX + s.caption for s in used])
        best = np.array([float((r @ t).max()) for r, t in zip(refs, texts)])
        clip = 2.5 * np.clip((images * texts).sum(axis=1), 0, None)
        want = float(np.mean(np.where(clip == 0, 0.0, 2 * clip * best / (clip + best))))
        assert suite.metrics[name].value == pytest.approx(want, abs=1e-4), name
