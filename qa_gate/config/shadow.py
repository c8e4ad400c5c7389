"""``suites.X.shadow``: the production model's predictions file a suite's agreement metrics compare with."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from qa_gate.config.model import MetricConfig, ShadowConfig, SuiteConfig
from qa_gate.config.values import Where, check_keys, mapping, string
from qa_gate.metrics.registry import get_metric

SHADOW_KEYS = ("reference",)


def compares_reference(metric: str) -> bool:
    """True for an agreement metric: it reads the suite's ``shadow.reference`` instead of ground truth."""
    return bool(getattr(get_metric(metric), "compares_reference", False))


def shadow_section(raw: Any, where: Where, base: Path, metrics: Iterable[MetricConfig]) -> ShadowConfig | None:
    """The suite's ``shadow`` section (``reference``: a predictions file, relative to the thresholds file; checked
    to exist by :func:`check_reference` once the bar is merged). An agreement metric on a suite without one is
    refused, naming the metric."""
    agreement = [m.name for m in metrics if compares_reference(m.name)]
    if raw is None:
        if agreement:
            raise (where / "metrics" / agreement[0]).error(
                f"'{agreement[0]}' compares the model's outputs with the production model's, but the suite has "
                "no 'shadow' section; add shadow: {reference: path/to/production.jsonl} (a predictions file "
                "of the production model on the same samples, written by mm-gate predict)")
        return None
    at = where / "shadow"
    data = mapping(raw, at, "a mapping with 'reference' (a predictions file of the production model)")
    check_keys(data, at, SHADOW_KEYS)
    if "reference" not in data:
        raise (at / "reference").error("missing; expected the path of the production model's predictions file "
                                       "(JSON Lines, CSV or Parquet), relative to this file")
    written = string(data["reference"], at / "reference", "a file path")
    path = (base / Path(written).expanduser()).resolve()
    try:
        label = Path(os.path.relpath(path, base)).as_posix()
    except ValueError:  # another drive on Windows
        label = path.as_posix()
    return ShadowConfig(path, label)


def check_reference(source: Path, suite_cfg: SuiteConfig, scorer: bool) -> None:
    """The reference file of ``suites.<suite>.shadow`` must exist, and a scored agreement metric needs the
    ``scorer`` section; a ``ConfigError`` naming the key otherwise.

    Checked after the bar is resolved rather than when the file is read, so the target branch's
    thresholds file still loads when this branch moved or removed its reference.
    """
    suite, shadow = suite_cfg.name, suite_cfg.shadow
    scored = [m.name for m in suite_cfg.metrics if getattr(get_metric(m.name), "scored", False)]
    if scored and not scorer:
        raise (Where(source.name) / "suites" / suite / "metrics" / scored[0]).error(
            "scores the candidate's and the production captions with a fixed dual encoder, but the file has no "
            "'scorer' section; add one (adapter, checkpoint, like 'model') naming a CLIP model")
    if shadow is None or shadow.reference.is_file():
        return
    what = "does not exist" if not shadow.reference.exists() else "is not a file"
    raise (Where(source.name) / "suites" / suite / "shadow" / "reference").error(
        f"{shadow.label} {what} ({shadow.reference}); expected the production model's predictions file "
        "(write one with mm-gate predict --out)")
