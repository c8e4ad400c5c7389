"""Where the pytest face's bar-changing options came from, when not typed on the command line.

pytest folds ``PYTEST_ADDOPTS`` and the ini file's ``addopts`` into its arguments, so an option a
branch sets there looks typed. :func:`bar_sources` tells them apart from ``invocation_params.args``
(what was really typed), for the bar-change block. No pytest import: it reads a ``pytest.Config``.
"""

from __future__ import annotations

import os
import shlex
from typing import Any

BAR_SOURCES: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (
    ("thresholds", ("--mm-thresholds",), ("mm_thresholds",)),
    ("baseline_path", ("--mm-baseline",), ("mm_baseline",)),
    ("baseline_ref", ("--mm-baseline-ref",), ("mm_baseline_ref",)),
    ("mode", ("--mm-mode",), ("mm_mode",)),
    ("cache_dir", ("--mm-cache-dir",), ("mm_cache_dir",)),  # a branch could ship a folder of forged outputs
    ("accept_bar_change", ("--mm-accept-bar-change", "--mm-accept-baseline-change"),
     ("mm_accept_bar_change", "mm_accept_baseline_change")),
)
"""Options that change what a run is judged against: (``Overrides.sources`` key, spellings, ini names)."""


DEFAULT_THRESHOLDS = "thresholds.yaml"
INI_DEFAULTS = {"mm_thresholds": DEFAULT_THRESHOLDS}
"""Ini defaults that are not empty: an ini value equal to its default changes nothing."""


def _given(args: list[str], spellings: tuple[str, ...]) -> bool:
    """Whether ``args`` holds one of the option ``spellings`` (pytest's parser allows no abbreviations)."""
    return any(arg == name or arg.startswith(name + "=") for arg in args for name in spellings)


def bar_sources(config: Any) -> dict[str, str]:
    """Where each bar-changing option came from when it was not typed on the command line: ``PYTEST_ADDOPTS``,
    the ini file's ``addopts``, or the ini file itself."""
    ini = "the ini file" if config.inipath is None else config.inipath.name
    found: dict[str, str] = {}
    for key, spellings, names in BAR_SOURCES:
        if _given(list(config.invocation_params.args), spellings):
            continue
        if _given(shlex.split(os.environ.get("PYTEST_ADDOPTS", "")), spellings):
            found[key] = "the environment (PYTEST_ADDOPTS)"
        elif _given([str(a) for a in config.getini("addopts")], spellings):
            found[key] = f"{ini} (addopts)"
        elif any(config.getini(name) not in (None, "", False, INI_DEFAULTS.get(name)) for name in names):
            found[key] = ini
    return found
