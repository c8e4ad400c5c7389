"""Retrieval and zero-shot metrics fed by the runner from a real tiny CLIP, against brute force."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from support.project import build_tiny_project, write_thresholds

TEMPLATES = ["a photo of a {} square.", "{}"]


def _thresholds(root: Path, top1_tag: str = "colour") -> Path:
    """The thresholds of the tiny project: retrieval, and zero-shot over the ``colour`` tag."""
    metrics = {"i2t_r1": {}, "t2i_r1": {}, "t2i_median_rank": {},
               "zeroshot_top1": {"label_tag": top1_tag, "templates": TEMPLATES},
               "zeroshot_mean_per_class_recall": {"label_tag": "colour", "templates": TEMPLATES}}
    return write_thresholds(root, model={"adapter": "open_clip", "checkpoint": "ckpt", "batch_size": 4},
                            suites={"tiny": {"path": "golden/tiny", "metrics": metrics}})


@pytest.fixture
def scored(tmp_path: Path, tiny_open_clip: Path):
    from qa_gate.pipeline import prepare, score

    build_tiny_project(tmp_path, tiny_open_clip)
    prepared = prepare(_thresholds(tmp_path))
    return prepared, score(prepared).suite("tiny")


def _embed(folder: Path, prepared) -> tuple[np.ndarray, callable]:
    import open_clip
    import torch

    from qa_gate.golden.suite import open_image

    model, _, preprocess = open_clip.create_model_and_transforms(f"local-dir:{folder}")
    tokenizer = open_clip.get_tokenizer(f"local-dir:{folder}")
    model.eval()
    samples = prepared.suites[0].samples

    def norm(x: torch.Tensor) -> np.ndarray:
        x = x.double().numpy()
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    with torch.no_grad():
        images = norm(model.encode_image(torch.stack([preprocess(open_image(s)) for s in samples])))

        def texts(items: list[str]) -> np.ndarray:
            with torch.no_grad():
                return norm(model.encode_text(tokenizer(items)))
    return images, texts


def test_retrieval_ranks_match_brute_force(scored, tmp_path: Path) -> None:
    prepared, suite = scored
    images, texts = _embed(tmp_path / "ckpt", prepared)
    samples = prepared.suites[0].samples
    captions = [(i, t) for i, s in enumerate(samples) for t in (s.caption, *s.references)]
    sims = texts([t for _, t in captions]) @ images.T  # [captions, images]
    owner = np.array([i for i, _ in captions])
    # text -> image, pessimistic ties: 1 + images (other than its own) at least as similar.
    own = sims[np.arange(len(owner)), owner]
    t2i = 1 + np.array([(np.delete(sims[c], owner[c]) >= own[c] - 1e-9).sum() for c in range(len(owner))])
    # image -> text: best own caption; only other images' captions count against it.
    i2t = []
    for i in range(len(samples)):
        best = sims[owner == i, i].max()
        i2t.append(1 + int((sims[owner != i, i] >= best - 1e-9).sum()))
    assert suite.metrics["t2i_r1"].value == pytest.approx(float(np.mean(t2i == 1)))
    assert suite.metrics["i2t_r1"].value == pytest.approx(float(np.mean(np.array(i2t) == 1)))
    assert suite.metrics["t2i_median_rank"].value == pytest.approx(float(np.median(t2i)))


def test_zero_shot_classes_come_from_the_tag(scored, tmp_path: Path) -> None:
    prepared, suite = scored
    images, texts = _embed(tmp_path / "ckpt", prepared)
    classes = sorted({s.tags["colour"] for s in prepared.suites[0].samples})
    templates = ["a photo of a {} square.", "{}"]
    class_emb = []
    for c in classes:
        e = texts([t.format(c) for t in templates]).mean(axis=0)
        class_emb.append(e / np.linalg.norm(e))
    scores = images @ np.array(class_emb).T
    labels = np.array([classes.index(s.tags["colour"]) for s in prepared.suites[0].samples])
    own = scores[np.arange(len(labels)), labels]
    rank = 1 + np.array([(np.delete(scores[i], labels[i]) >= own[i] - 1e-9).sum() for i in range(len(labels))])
    hits = rank == 1
    assert suite.metrics["zeroshot_top1"].value == pytest.approx(float(hits.mean()))
    recall = np.mean([hits[labels == k].mean() for k in range(len(classes))])
    assert suite.metrics["zeroshot_mean_per_class_recall"].value == pytest.approx(float(recall))
    assert json.dumps(dict(suite.metrics["zeroshot_top1"].definition)).count("colour") == 1


def test_a_missing_label_tag_is_refused_before_loading(tmp_path: Path, tiny_open_clip: Path) -> None:
    from qa_gate.errors import GoldenError
    from qa_gate.pipeline import prepare

    build_tiny_project(tmp_path, tiny_open_clip)
    with pytest.raises(GoldenError, match="has no tag 'size'.*zeroshot_top1"):
        prepare(_thresholds(tmp_path, top1_tag="size"))
