"""Coverage: a predictions file must hold exactly one row per sample of every suite it serves.

Missing ids, unknown ids (in no gated suite) and duplicate ids stop the run before scoring, in one
line naming the file, the suite, the count and the first ids; an id that differs from a sample's only
by case or whitespace gets a did-you-mean. A file with a ``suite`` column is matched suite by suite
(rows naming a suite that is not gated are unknown); without one, its ids serve every gated suite.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from qa_gate.adapters.predictions.table import PredictionTable, align, listed
from qa_gate.errors import AdapterError, did_you_mean


def check_file(table: PredictionTable, suites: Mapping[str, Sequence[str]]) -> dict[str, PredictionTable]:
    """``table`` aligned to every gated suite (name -> sample ids, in order): the table of each suite."""
    if table.suites is not None:
        strays = sorted({s for s in table.suites if s not in suites})
        if strays:
            count = sum(1 for s in table.suites if s in strays)
            at = table.where[next(i for i, s in enumerate(table.suites) if s in strays)]
            raise AdapterError(f"{table.name}: {count} row(s) name suite(s) {listed(strays)} (first on {at}), "
                               f"which the thresholds file does not gate{did_you_mean(strays[0], suites)}; "
                               f"it gates {', '.join(suites)}")
        return {name: align(table, ids, name) for name, ids in suites.items()}
    every = [i for ids in suites.values() for i in ids] if len(suites) > 1 else []
    return {name: align(table, ids, name, every) for name, ids in suites.items()}
