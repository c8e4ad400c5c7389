"""The one registry type: lazy ``module:attr`` entries, did-you-mean errors, an entry-point group."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
from collections.abc import Callable

import pytest

from qa_gate.adapters.load import ADAPTERS
from qa_gate.errors import AdapterError, ConfigError
from qa_gate.metrics.base import Metric
from qa_gate.metrics.registry import METRICS, get_metric, metric_names
from qa_gate.registry import Registry, import_backend

SHAPES = '''
IMPORTED = True


class Circle:
    sides = 0


class Square:
    sides = 4
'''


def _shapes(module: str, **options: str | None) -> Registry[type]:
    return Registry("shape", {"circle": f"{module}:Circle", "square": f"{module}:Square"}, ConfigError,
                    **options)  # type: ignore[arg-type]


def test_unknown_name_is_the_callers_error_at_the_callers_place(user_module: Callable[[str], str]) -> None:
    shapes = _shapes(user_module(SHAPES))
    with pytest.raises(ConfigError) as info:
        shapes.get("cirle", "shapes.yaml: figures.first")
    assert str(info.value) == ("shapes.yaml: figures.first: unknown shape 'cirle' (did you mean 'circle'?); "
                               "known shapes: circle, square")


def test_unknown_name_without_a_place_or_a_close_match(user_module: Callable[[str], str]) -> None:
    adapters = Registry("adapter", {"open_clip": "x:y"}, AdapterError, kinds="backends")
    with pytest.raises(AdapterError) as info:
        adapters.get("zzz")
    assert str(info.value) == "unknown adapter 'zzz'; known backends: open_clip"


def test_an_entry_is_imported_only_when_asked_for(user_module: Callable[[str], str]) -> None:
    module = user_module(SHAPES)
    shapes = _shapes(module)

    assert shapes.names() == ("circle", "square")
    assert "square" in shapes and "triangle" not in shapes
    assert shapes.target("square") == f"{module}:Square"
    assert module not in sys.modules  # listing and checking names import nothing

    square = shapes.get("square")

    assert square.sides == 4 and sys.modules[module].IMPORTED
    assert shapes.get("square") is square


def test_an_entry_point_group_adds_entries_on_first_use(user_module: Callable[[str], str],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    module = user_module(SHAPES)
    asked: list[str] = []

    def entry_points(group: str) -> list[importlib.metadata.EntryPoint]:
        asked.append(group)
        return [importlib.metadata.EntryPoint("oval", f"{module}:Circle", group),
                importlib.metadata.EntryPoint("square", "elsewhere:Nothing", group)]

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)
    shapes = _shapes(module, group="qa_gate.shapes")
    assert asked == []  # not read when the registry is made

    assert shapes.names() == ("circle", "oval", "square")
    assert shapes.get("oval").sides == 0
    assert shapes.target("square") == f"{module}:Square"  # a built-in name wins over a plug-in's
    assert asked == ["qa_gate.shapes"]  # read once


def test_without_a_group_no_entry_points_are_read(user_module: Callable[[str], str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(group: str) -> list[importlib.metadata.EntryPoint]:
        raise AssertionError("entry points read")

    monkeypatch.setattr(importlib.metadata, "entry_points", refuse)
    assert _shapes(user_module(SHAPES)).names() == ("circle", "square")


def test_the_metric_registry_keeps_its_message() -> None:
    with pytest.raises(ConfigError) as info:
        get_metric("clipscor", "thresholds.yaml: suites.a.metrics.clipscor")
    assert str(info.value).startswith("thresholds.yaml: suites.a.metrics.clipscor: unknown metric 'clipscor' "
                                      "(did you mean 'clipscore'?); known metrics: answer_agreement, bleu1, ")
    with pytest.raises(ConfigError, match=r"^unknown metric 'nope'; known metrics: "):
        get_metric("nope")


def test_each_metric_is_a_fresh_instance_of_its_registered_class() -> None:
    assert metric_names() == METRICS.names() == tuple(sorted(metric_names()))
    one, two = get_metric("cider"), get_metric("cider")
    assert isinstance(one, Metric) and one is not two and type(one) is type(two)


def test_importing_the_registries_imports_no_entry() -> None:
    """The adapter and metric registries name their entries; a backend or metric module loads when asked for."""
    code = ("import sys, qa_gate.adapters.load, qa_gate.metrics.registry\n"
            "print(' '.join(sorted(sys.modules)))")
    loaded = set(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                check=True).stdout.split())
    entries = [target.partition(":")[0] for target in
               [ADAPTERS.target(name) for name in ADAPTERS.names()] + [METRICS.target(n) for n in METRICS.names()]]
    assert "qa_gate.adapters.load" in loaded
    assert sorted(loaded & {*entries, "qa_gate.adapters.custom", "open_clip", "transformers"}) == []


def test_missing_backend_names_the_install_command() -> None:
    with pytest.raises(AdapterError, match=r"pip install no-such-pkg$") as info:
        import_backend("no_such_mod_xyz", "no-such-pkg")
    assert "'no_such_mod_xyz'" in str(info.value)


def test_installed_backend_is_returned() -> None:
    module = import_backend("json", "json")
    assert module.loads("[1]") == [1]
