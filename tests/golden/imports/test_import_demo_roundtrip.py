"""The shipped demo suites' own content, exported as a JSON Lines and a CSV table and imported back: the gate's
verdict on the imported suites equals its verdict on the shipped ones, check by check and sample by sample."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import yaml
from support.project import write_thresholds

from qa_gate.config.model import Overrides
from qa_gate.golden.imports.run import ImportSettings, import_suite
from qa_gate.golden.manifest import sample_entry
from qa_gate.golden.suite import load_suite
from qa_gate.pipeline import judge, prepare, score

REPO = Path(__file__).resolve().parents[3]
GOOD = REPO / "qa_gate" / "demo" / "checkpoints" / "good"
COLUMNS = ("id", "image", "caption", "references", "question", "answers", "question_type", "answer_type",
           "choices", "labels", "text", "answer", "objects", "tags")


def _export(name: str, folder: Path) -> tuple[Path, Path, tuple[str, ...] | None]:
    suite = load_suite(REPO / "golden" / name)
    entries = [sample_entry(sample) for sample in suite.samples]
    table = folder / f"{name}.jsonl"
    table.write_text("".join(json.dumps(entry) + "\n" for entry in entries), encoding="utf-8")
    sheet = folder / f"{name}.csv"
    with sheet.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, COLUMNS)
        writer.writeheader()
        for entry in entries:
            writer.writerow({k: json.dumps(v) if isinstance(v, (list, dict)) else v for k, v in entry.items()})
    return table, sheet, suite.labels or None


def _verdict(root: Path, suites: dict) -> tuple[list[tuple[str, str, float | None]], dict]:
    thresholds = write_thresholds(root, model={"adapter": "open_clip", "checkpoint": GOOD, "device": "cpu",
                                               "batch_size": 64}, suites=suites,
                                  baseline={"path": "no-baseline.json"})
    prepared = prepare(thresholds, Overrides(quiet=True))
    run = score(prepared)
    verdict = judge(prepared, run)
    stats = {(s.name, m): r.stats.tolist() for s in run.suites for m, r in s.metrics.items()}
    return [(c.id, str(c.status), c.value) for c in verdict.checks], stats


def test_demo_suites_imported_through_jsonl_and_csv_get_the_shipped_verdict(tmp_path: Path) -> None:
    shipped = yaml.safe_load((REPO / "thresholds.yaml").read_text(encoding="utf-8"))["suites"]
    reference = {name: {**entry, "path": str(REPO / "golden" / name)} for name, entry in shipped.items()}
    expected_checks, expected_stats = _verdict(tmp_path / "shipped", reference)
    assert len(expected_checks) == 33
    for kind in ("jsonl", "csv"):
        imported: dict = {}
        for name, entry in shipped.items():
            table, sheet, labels = _export(name, tmp_path)
            import_suite(ImportSettings(kind, (table if kind == "jsonl" else sheet,), tmp_path / kind / "golden" / name,
                                        images=REPO / "golden" / name, labels=labels), progress=None)
            imported[name] = {**entry, "path": f"golden/{name}"}
        checks, stats = _verdict(tmp_path / kind, imported)
        assert checks == expected_checks, kind
        assert stats == expected_stats, kind
