"""A user's metric plug-in package written into a folder: the modules, and a ``.dist-info`` naming its entry points.

The folder is what ``pip install --target`` leaves: put it on ``sys.path`` (or ``PYTHONPATH``) and
``importlib.metadata`` finds the distribution and its ``qa_gate.metrics`` entry points, no network.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pytest

DISTRIBUTION, VERSION = "qa-plug-demo", "1.2.0"

GOOD = '''
import numpy as np

from qa_gate.metrics.base import Metric


class RmsCosine(Metric):
    """Root mean square of the image-caption cosine: ``sqrt(mean(cos^2))`` (mean-sufficient)."""

    name = "rms_cosine"
    family = "alignment"
    needs = ("caption",)
    columns = ("cosine", "squared")
    higher_is_better = True
    version = 3
    mean_sufficient = True
    params = {"prefix": ""}

    def per_sample(self, inputs, params):
        cos = (inputs.image_embeddings() * inputs.caption_embeddings(params["prefix"])).sum(axis=1)
        return np.stack([cos, cos ** 2], axis=1)

    def aggregate(self, stats):
        return np.sqrt(np.asarray(stats)[..., 1].mean(axis=-1))


class ShareAbove:
    """Not a Metric subclass: the share of samples whose cosine is above ``threshold``."""

    name = "share_above"
    family = "alignment"
    needs = ("caption",)
    columns = ("above",)
    higher_is_better = True
    version = "2026.1"
    params = {"threshold": 0.0}

    def per_sample(self, inputs, params):
        cos = (inputs.image_embeddings() * inputs.caption_embeddings("")).sum(axis=1)
        return (cos > params["threshold"]).astype(float)[:, None]

    def aggregate(self, stats):
        return np.asarray(stats)[..., 0].mean(axis=-1)


class ShareAboveToo(ShareAbove):
    """The same metric under another class name (a changed plug-in path)."""
'''
"""``qa_plug.metrics``: two well-formed plug-ins (``RmsCosine`` a Metric subclass, ``ShareAbove`` a plain class)."""

BROKEN = '''
import numpy as np

from qa_plug.metrics import ShareAbove


class NoColumns:
    name, family, needs, higher_is_better, version = "no_columns", "alignment", ("caption",), True, 1

    def per_sample(self, inputs, params):
        return np.zeros((len(inputs.sample_ids), 1))

    def aggregate(self, stats):
        return np.asarray(stats)[..., 0].mean(axis=-1)


class BadHigher(ShareAbove):
    higher_is_better = "yes"


class BadNeeds(ShareAbove):
    needs = ("captions",)


class BadParams(ShareAbove):
    params = {"min": 0.5}


class BadFamily(ShareAbove):
    family = "aligment"


class BuiltinName(ShareAbove):
    name = "clipscore"


class VqaWithoutPrompt(ShareAbove):
    name = "vqa_no_prompt"
    family = "vqa"
    needs = ("question", "answers")


class Raises(ShareAbove):
    name = "raises"

    def per_sample(self, inputs, params):
        raise ValueError("no embeddings for me")


class WrongShape(ShareAbove):
    name = "wrong_shape"

    def per_sample(self, inputs, params):
        return np.zeros(len(inputs.sample_ids))


class NanRow(ShareAbove):
    name = "nan_row"

    def per_sample(self, inputs, params):
        rows = super().per_sample(inputs, params)
        rows[2, 0] = np.nan
        return rows


class NanAggregate(ShareAbove):
    name = "nan_aggregate"

    def aggregate(self, stats):
        return np.full(np.asarray(stats).shape[:-2], np.nan)


class NanInResamples(ShareAbove):
    """Finite on the full sample, NaN on a resample that draws no above-threshold row (0 / 0)."""

    name = "nan_in_resamples"
    columns = ("above", "one")

    def per_sample(self, inputs, params):
        above = super().per_sample(inputs, params)
        rows = np.concatenate([above, np.ones_like(above)], axis=1)
        rows[:, 0] = 0.0
        rows[0, 0] = 1.0
        return rows

    def aggregate(self, stats):
        stats = np.asarray(stats)
        hits = stats[..., 0].sum(axis=-1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return hits / hits


class NotVectorised(ShareAbove):
    name = "not_vectorised"

    def aggregate(self, stats):
        return float(np.asarray(stats)[..., 0].mean())
'''
"""``qa_plug.broken``: one fault per class, for the error tests (named inline)."""


def write_plugin_package(site: Path, entry_points: Mapping[str, str] | None = None, *,
                         import_error: str | None = None) -> Path:
    """``qa_plug`` (``metrics.py``: :data:`GOOD`, ``broken.py``: :data:`BROKEN`) and its ``.dist-info`` under
    ``site``; ``entry_points``: name -> ``module:Class`` in group ``qa_gate.metrics`` (default: ``rms_cosine``);
    ``import_error``: a module ``qa_plug.fails`` whose import raises that text. Returns ``site``."""
    package = site / "qa_plug"
    package.mkdir(parents=True, exist_ok=True)
    (package / "__init__.py").write_text('"""A user metric plug-in package."""\n')
    (package / "metrics.py").write_text(GOOD)
    (package / "broken.py").write_text(BROKEN)
    if import_error is not None:
        (package / "fails.py").write_text(f"raise RuntimeError({import_error!r})\n")
    info = site / f"{DISTRIBUTION.replace('-', '_')}-{VERSION}.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {DISTRIBUTION}\nVersion: {VERSION}\n")
    (info / "top_level.txt").write_text("qa_plug\n")
    points = {"rms_cosine": "qa_plug.metrics:RmsCosine"} if entry_points is None else entry_points
    (info / "entry_points.txt").write_text(
        "[qa_gate.metrics]\n" + "".join(f"{name} = {target}\n" for name, target in points.items()))
    return site


@contextmanager
def fresh_plugins(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No plug-in loaded or entry point read yet in this process, and no ``qa_plug`` module imported."""
    from qa_gate.metrics import plugins

    for name in ("_by_target", "_active", "_claims"):
        monkeypatch.setattr(plugins, name, {})
    monkeypatch.setattr(plugins, "_points", None)
    monkeypatch.setattr(plugins, "_packages", None)
    monkeypatch.setattr(plugins, "_point_problems", [])

    def forget() -> None:
        for module in [m for m in sys.modules if m == "qa_plug" or m.startswith("qa_plug.")]:
            del sys.modules[module]

    forget()
    try:
        yield
    finally:
        forget()
