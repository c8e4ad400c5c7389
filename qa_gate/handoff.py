"""What the pytest controller hands to its xdist workers: the planned checks, each check's outcome,
and a file holding the judged results. No pytest here, and nothing a worker imports runs the gate.

A worker gets a :class:`Handoff` (JSON, through ``workerinput``) and never prepares, scores
or judges: its items report the outcomes the controller computed. The results
(``mm_gate_results``) travel as a pickle file, read only when a worker's test asks for them.
"""

from __future__ import annotations

import copyreg
import io
import json
import pickle
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from qa_gate.pipeline import GateResults
    from qa_gate.verdict.checks import Check, Verdict

PASSED, FAILED, SKIPPED = "passed", "failed", "skipped"
RESULTS_FILE = "results.pickle"


@dataclass(frozen=True)
class Outcome:
    """What one check's pytest item reports: ``result`` (passed, failed or skipped), the check's
    ``status`` and ``message`` (the one-line summary of a failure, the reason of a skip)."""

    id: str
    status: str
    result: str
    message: str

    @classmethod
    def of(cls, check: Check) -> Outcome:
        """The outcome of a judged check."""
        if check.status.skipped:
            return cls(check.id, check.status.value, SKIPPED, check.message)
        return cls(check.id, check.status.value, FAILED if check.status.failed else PASSED, check.summary())


def outcomes(verdict: Verdict) -> Mapping[str, Outcome]:
    """Each check's outcome, by check id."""
    return MappingProxyType({check.id: Outcome.of(check) for check in verdict.checks})


@dataclass(frozen=True)
class Handoff:
    """Everything a worker needs: where the checks come from, their ids, their outcomes
    (``None`` when nothing was scored) and the results file."""

    source: Path
    planned: tuple[str, ...]
    outcomes: Mapping[str, Outcome] | None
    results: Path | None = None

    def dumps(self) -> str:
        """As JSON text (what ``workerinput`` can carry)."""
        return json.dumps({
            "source": str(self.source),
            "planned": list(self.planned),
            "outcomes": None if self.outcomes is None else [
                [o.id, o.status, o.result, o.message] for o in self.outcomes.values()],
            "results": None if self.results is None else str(self.results),
        })

    @classmethod
    def loads(cls, text: str) -> Handoff:
        """Read what :meth:`dumps` wrote."""
        data = json.loads(text)
        found = None if data["outcomes"] is None else MappingProxyType(
            {entry[0]: Outcome(*entry) for entry in data["outcomes"]})
        return cls(Path(data["source"]), tuple(data["planned"]), found,
                   None if data["results"] is None else Path(data["results"]))


def _mapping_proxy(items: dict[Any, Any]) -> MappingProxyType[Any, Any]:
    return MappingProxyType(items)


def _reduce_mapping_proxy(proxy: MappingProxyType[Any, Any]) -> tuple[Any, tuple[dict[Any, Any]]]:
    return _mapping_proxy, (dict(proxy),)


def save_results(results: GateResults, folder: Path) -> Path:
    """Pickle ``results`` into ``folder`` (frozen mappings included); returns the file."""
    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL)
    # A private table: registering the reducer globally would change copy/pickle for everyone.
    pickler.dispatch_table = {**copyreg.dispatch_table, MappingProxyType: _reduce_mapping_proxy}
    pickler.dump(results)
    path = folder / RESULTS_FILE
    path.write_bytes(buffer.getvalue())
    return path


def load_results(path: Path) -> GateResults:
    """The results :func:`save_results` wrote (a file this session's controller made, never user input)."""
    with path.open("rb") as handle:
        results: GateResults = pickle.load(handle)
    return results
