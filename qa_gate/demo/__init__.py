"""The embedded demo: five small synthetic golden suites and two tiny CLIP checkpoints.

``python -m qa_gate.demo build`` renders, deterministically and on CPU, under ``golden/``:

- ``shapes/``: 300 coloured shapes with captions and references (CLIPScore, zero-shot);
- ``retrieval/``: one image per (colour, shape) with a unique caption (image-text retrieval);
- ``vqa/``: colour and shape questions with ten human answers each (VQA accuracy);
- ``multilabel/``: shapes labelled with their colour and shape (multilabel F1);
- ``words/``: short rendered text with exact transcriptions (OCR, CER/WER);
- ``pope/``: yes/no questions about coloured shapes present or absent (POPE);

each with its ``SHA256SUMS``, and trains ``qa_gate/demo/checkpoints/{good,regressed}/``.
``--skip-train`` only renders. Training (and so torch) is imported only when it is needed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from qa_gate.demo.pope import PopeSettings, render_pope
from qa_gate.demo.shapes import generate_samples, render_suite
from qa_gate.demo.suites import (
    SuiteSettings,
    render_multilabel,
    render_retrieval,
    render_vqa,
)
from qa_gate.demo.words import WordsSettings, render_words

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class DemoSettings:
    """The golden suites' seeds and sizes (training has its own settings in ``train.py``)."""

    suite: str = "shapes"
    seed: int = 0
    per_combo: int = 15
    suites: SuiteSettings = SuiteSettings()  # retrieval, vqa, multilabel
    words: WordsSettings = WordsSettings()
    pope: PopeSettings = PopeSettings()


def _renderers(settings: DemoSettings) -> dict[str, Callable[[Path], Path]]:
    """Each suite's name (its folder under ``golden/``) and the function rendering it into a folder."""
    return {
        settings.suite: lambda out: render_suite(out, settings.seed, settings.per_combo),
        "retrieval": lambda out: render_retrieval(out, settings.suites),
        "vqa": lambda out: render_vqa(out, settings.suites),
        "multilabel": lambda out: render_multilabel(out, settings.suites),
        "words": lambda out: render_words(out, settings.words),
        "pope": lambda out: render_pope(out, settings.pope),
    }


def suite_names(settings: DemoSettings = DemoSettings()) -> tuple[str, ...]:
    """The names of the demo's golden suites, in build order."""
    return tuple(_renderers(settings))


def suite_dir(root: Path, settings: DemoSettings = DemoSettings(), name: str | None = None) -> Path:
    """A golden suite folder under the repository ``root`` (by default the shapes suite)."""
    return root / "golden" / (name or settings.suite)


def build_named_suite(root: Path, name: str, settings: DemoSettings = DemoSettings()) -> Path:
    """Render one demo suite afresh under ``root/golden/`` and write its ``SHA256SUMS``; return its folder."""
    from qa_gate.golden.suite import write_hashes

    renderers = _renderers(settings)
    if name not in renderers:
        raise ValueError(f"unknown demo suite {name!r}; expected one of {', '.join(renderers)}")
    out = renderers[name](suite_dir(root, settings, name))
    write_hashes(out)
    return out


def build_suite(root: Path, settings: DemoSettings = DemoSettings()) -> Path:
    """Render the shapes suite afresh and write its ``SHA256SUMS``; return the suite folder."""
    return build_named_suite(root, settings.suite, settings)


def _folder_summary(folder: Path) -> str:
    """``"80 images, 61 KB"``: how many images a suite folder holds and how many bytes all its files take."""
    files = [path for path in folder.rglob("*") if path.is_file()]
    images = sum(1 for path in files if path.parent.name == "images")
    return f"{images} images, {sum(path.stat().st_size for path in files) / 1000:.0f} KB"


def build(root: Path = REPO_ROOT, render: bool = True, train: bool = True,
          settings: DemoSettings = DemoSettings(), suites: Sequence[str] | None = None) -> None:
    """Render the golden suites (all, or the named ones) and/or train both checkpoints under ``root``."""
    start = time.perf_counter()
    if render:
        for name in suites or suite_names(settings):
            began = time.perf_counter()
            out = build_named_suite(root, name, settings)
            print(f"golden/{name}: {_folder_summary(out)} in {out} ({time.perf_counter() - began:.1f}s)")
    if train:
        from qa_gate.demo.train import summarise, train_checkpoints

        folders = train_checkpoints(root)
        samples = list(generate_samples(settings.seed, settings.per_combo))
        for folder in folders:
            scores = summarise(folder, samples)
            slices = " ".join(f"{k.split('/')[1]}={v:.3f}" for k, v in scores.items() if "/" in k)
            print(f"{folder.name}: zero-shot top-1 {scores['top1']:.3f}; CLIPScore {slices}")
    print(f"done in {time.perf_counter() - start:.1f}s")
