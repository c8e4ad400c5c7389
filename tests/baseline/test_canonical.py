"""The canonical run text at C speed is the standard library's ``json.dumps(indent=1, sort_keys=True)`` to the
byte (a run's digest is its sha256): on random documents of numbers, NaN and infinities, nested and mixed
lists, tricky strings, and on a real stored run."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from qa_gate.baseline.canonical import canonical_dumps

LONG = 32

DEMO = Path(__file__).resolve().parents[2] / "baselines" / "baseline.json"

numbers = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(min_value=-10**30, max_value=10**30))
scalars = st.one_of(numbers, st.booleans(), st.none(), st.text(max_size=6))
long_numbers = st.lists(numbers, min_size=LONG, max_size=LONG + 20)
documents = st.recursive(
    st.one_of(scalars, long_numbers, st.lists(st.lists(numbers, max_size=4), min_size=LONG, max_size=LONG + 4),
              st.lists(st.one_of(numbers, st.lists(numbers, max_size=3)), min_size=LONG, max_size=LONG + 4)),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=5), inner, max_size=4)),
    max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(documents)
def test_equals_json_dumps_on_random_documents(data: object) -> None:
    assert canonical_dumps(data) == json.dumps(data, indent=1, sort_keys=True)


def test_equals_json_dumps_on_edge_cases() -> None:
    cases = [
        [], {}, [[]] * LONG, [float("nan"), float("inf"), -float("inf"), -0.0, 1e-320, 5e300] * 8,
        {"per_sample": [1, 2.5, True] * LONG}, {"x": [1.0] * LONG, "marker": "\x00deadbeef:0\x00"},
        {"a": {"b": [[1, 2], [], [float("nan")]] * LONG}}, [0.1 * i for i in range(LONG)] + [None],
        (2.0,) * LONG, {"t": ("a", [3] * LONG)}, [[1.0, float("nan")]] * 40, [(1, 2)] * 3, [[1], [2, 3]],
        [[i, i * 0.5, -float("inf")] for i in range(50)], {"s": [[0.1, True]] * 5}, [[], []],
    ]
    for data in cases:
        assert canonical_dumps(data) == json.dumps(data, indent=1, sort_keys=True)


def test_equals_json_dumps_on_a_stored_run() -> None:
    from qa_gate.baseline.file import FileBaselineStore
    from qa_gate.baseline.run_json import run_to_json

    run = FileBaselineStore(DEMO).read()
    assert run is not None
    data = run_to_json(run)
    assert sum(len(m["per_sample"]) for s in data["suites"].values() for m in s["metrics"].values()) > 1000
    assert canonical_dumps(data) == json.dumps(data, indent=1, sort_keys=True)
