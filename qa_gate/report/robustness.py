"""A suite's Robustness section: each metric clean and under each perturbation (Δ from clean), and consistency.

Built from the suite's results alone: the ``name@P`` metrics (``qa_gate.config.perturbations``) and
the perturbation spec their definitions carry. The clean column is the suite's own metric; each
perturbation's cell is the perturbed value and its change from clean (``+``: higher, whatever the
metric's direction). ``consistency`` has no clean value. Numbers are formatted here; user text
(metric and perturbation names) stays raw for the templates to escape.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from qa_gate.metrics.registry import CONSISTENCY, base_metric
from qa_gate.report.formatting import MISSING, format_delta, format_number
from qa_gate.results import SuiteResult


@dataclass(frozen=True)
class RobustnessRow:
    """One metric: its clean value and one cell per perturbation (``value (Δ)``, or ``—`` where not scored)."""

    metric: str
    clean: str
    cells: tuple[str, ...]


@dataclass(frozen=True)
class RobustnessTable:
    """The perturbations (``jpeg_q30``) with what each does (``jpeg 30``), and the rows, consistency last."""

    perturbations: tuple[str, ...]
    kinds: tuple[str, ...]
    rows: tuple[RobustnessRow, ...]


def robustness_table(suite: SuiteResult) -> RobustnessTable | None:
    """The suite's robustness table; ``None`` when it scored no metric under a perturbation."""
    perturbations: dict[str, str] = {}
    bases: list[str] = []
    for name, result in suite.metrics.items():
        base, perturbation = base_metric(name)
        spec = result.definition.get("perturbation")
        if perturbation is None or not isinstance(spec, Mapping):  # a stored run's metric of another meaning
            continue
        perturbations.setdefault(perturbation, f"{spec.get('kind')} {spec.get('value')}")
        if base not in bases:
            bases.append(base)
    if not perturbations:
        return None
    bases.sort(key=lambda b: b == CONSISTENCY)  # consistency last, the rest in the suite's order
    rows = []
    for base in bases:
        clean = suite.metrics.get(base)
        cells = []
        for perturbation in perturbations:
            scored = suite.metrics.get(f"{base}@{perturbation}")
            if scored is None:
                cells.append(MISSING)
            elif clean is None:
                cells.append(format_number(scored.value))
            else:
                cells.append(f"{format_number(scored.value)} ({format_delta(scored.value - clean.value)})")
        rows.append(RobustnessRow(base, format_number(clean.value) if clean is not None else MISSING, tuple(cells)))
    return RobustnessTable(tuple(perturbations), tuple(perturbations.values()), tuple(rows))
