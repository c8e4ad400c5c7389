"""``mm-gate predict``: run the checkpoint as a gate run would and write every output its metrics consumed.

The checkpoint loads through the same adapters (``load_model``, the same demands), the same scoring
path runs with recording wrappers on the capabilities (``qa_gate.adapters.predictions.record``), and
the file is written in this adapter's own format: one sample row per sample of every gated suite
(``id``, ``suite`` and the fields the metrics read), one text row per other text the metrics embedded,
and ``<out>.settings.json`` with the decoding or scoring settings when the model has any. Gating the
written file (``adapter: predictions``) gives the same numbers and verdict as gating the checkpoint.
``--out`` never overwrites an input of the run; the output cache is not used (every output is computed).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from qa_gate.adapters.predictions.formats import INSTALL_HINT, READERS, shown
from qa_gate.adapters.predictions.record import Recorder, RecordingOutputs, recording
from qa_gate.adapters.protocols import CAPTIONER
from qa_gate.errors import AdapterError, ConfigError
from qa_gate.files import write_atomic
from qa_gate.outputs import Output, check_outputs, run_inputs

if TYPE_CHECKING:
    from qa_gate.config.model import GateConfig, Overrides
    from qa_gate.golden.suite import Suite
    from qa_gate.scoring.cached_model import RunOutputs

COLUMNS = ("id", "suite", "caption", "answer", "text", "labels", "scores", "image_embedding", "text_embedding",
           "input_text")
"""The columns of a written CSV or Parquet file, in order."""


@dataclass(frozen=True)
class Written:
    """What ``mm-gate predict`` wrote."""

    path: Path
    samples: int
    texts: int
    fields: tuple[str, ...]
    settings: Path | None

    def line(self) -> str:
        """One line for the terminal."""
        side = f" (settings in {shown(self.settings)})" if self.settings is not None else ""
        return (f"mm-gate: predictions of {self.samples} samples ({', '.join(self.fields) or 'no fields'}) and "
                f"{self.texts} text rows written to {shown(self.path)}{side}")


def predict(thresholds: Path, overrides: Overrides, out: Path) -> Written:
    """Score the configured checkpoint on every suite of ``thresholds``, recording its outputs, and write
    them to ``out`` (``.jsonl``, ``.csv`` or ``.parquet``)."""
    from qa_gate.adapters.load import LoadedModel, load_model, load_scorer
    from qa_gate.pipeline import prepare
    from qa_gate.scoring.device import autocast_dtype, resolve_device
    from qa_gate.scoring.families import FAMILIES, configured, demands, needs_scorer
    from qa_gate.scoring.runner import run

    prepared = prepare(thresholds, overrides)
    config = prepared.config
    families = configured(config)
    timed = [m for name, metrics in families.items() if FAMILIES[name].timed for m in metrics]
    if timed:
        raise ConfigError(f"{config.source.name}: {', '.join(timed)} time the model, which a predictions file "
                          "cannot replay; write predictions with a thresholds file without efficiency metrics")
    perturbed = [s.name for s in config.suites if getattr(s, "perturbations", ())]
    if perturbed:
        raise ConfigError(f"{config.source.name}: suites.{perturbed[0]}.perturbations: a predictions file holds "
                          "the outputs of the suites' own images; write predictions with a thresholds file "
                          "without perturbations")
    settings_path = out.with_name(out.name + ".settings.json")
    side = [out.with_name(f"{out.name}.{f}.npy") for f in ("image_embedding", "text_embedding")]
    check_outputs([Output("--out", "the predictions file", out.absolute()),
                   Output("--out", "the predictions settings sidecar", settings_path.absolute()),
                   *(Output("--out", "a stale predictions sidecar", p.absolute()) for p in side if p.exists())],
                  run_inputs(config, prepared.suites))
    if out.suffix.lower() not in READERS:
        raise ConfigError(f"--out {out}: a predictions file must end in .jsonl, .csv or .parquet")
    device = resolve_device(config.model.device)  # a model runs: torch is needed
    dtype = autocast_dtype(config.model.dtype, device)
    recorder = Recorder()
    loaded = recording(load_model(config.model, device, demands(config)), recorder)
    if needs_scorer(config) and config.scorer is not None:
        encoder, info = load_scorer(config.scorer, device)
        loaded = replace(loaded, scorer=encoder, scorer_checkpoint=info)
    assert isinstance(loaded, LoadedModel)
    run(config, prepared.suites, loaded, device, dtype, cast("RunOutputs", RecordingOutputs(recorder)))
    rows, texts = _rows(config, prepared.suites, recorder, families)
    fields = tuple(f for f in COLUMNS[2:-1] if any(f in r for r in rows))
    _write(out, [*rows, *texts])
    for stale in side:
        stale.unlink(missing_ok=True)  # a sidecar of an older file would replace the rows' embeddings
    wrote_settings = None
    if any(recorder.settings.values()):
        blob = json.dumps(recorder.settings, indent=2, sort_keys=True, default=str) + "\n"
        wrote_settings = write_atomic(settings_path, blob.encode("utf-8"))
    else:
        settings_path.unlink(missing_ok=True)
    return Written(out, len(rows), len(texts), fields, None if wrote_settings is None else Path(wrote_settings))


def _rows(config: GateConfig, suites: Sequence[Suite], recorder: Recorder,
          families: Mapping[str, Sequence[str]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """One sample row per sample of every suite, then one text row per other embedded text."""
    from qa_gate.scoring.families import family_of

    rows: list[dict[str, Any]] = []
    captioned: set[str] = set()
    for suite_cfg, suite in zip(config.suites, suites):
        generated = {f.generated_field for f in (family_of(m.name, m.params) for m in suite_cfg.metrics)
                     if CAPTIONER in f.accepts}
        text_field = "text" if generated == {"text"} else "caption"  # an OCR suite's transcriptions
        columns = {field: recorder.outputs(suite_cfg.name, operation) for field, operation in (
            ("image_embedding", "image encoding"), ("answer", "answering"), ("scores", "classification"),
            (text_field, "generation"))}
        for index, sample in enumerate(suite.samples):
            row: dict[str, Any] = {"id": sample.id, "suite": suite_cfg.name}
            for field, values in columns.items():
                if values is not None and index < len(values):
                    row[field] = _value(field, values[index], recorder.labels)
            caption = sample.caption
            if caption is not None and caption in recorder.texts:
                row["text_embedding"] = _floats(recorder.texts[caption])
                captioned.add(caption)
            rows.append(row)
    texts = [{"input_text": text, "text_embedding": _floats(vector)}
             for text, vector in recorder.texts.items() if text not in captioned]
    return rows, texts


def _floats(vector: Any) -> list[float]:
    return [float(v) for v in vector]


def _value(field: str, value: Any, labels: Sequence[str]) -> Any:
    if field == "image_embedding":
        return _floats(value)
    if field == "scores":
        return {label: float(v) for label, v in zip(labels, value)}
    return value


def _write(out: Path, rows: list[dict[str, Any]]) -> None:
    suffix = out.suffix.lower()
    if suffix == ".jsonl":
        blob = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode("utf-8")
    elif suffix == ".csv":
        blob = _csv(out, rows)
    else:
        blob = _parquet(rows)
    write_atomic(out, blob)


def _csv(out: Path, rows: list[dict[str, Any]]) -> bytes:
    empty = next(((r, f) for r in rows for f in ("caption", "answer", "text") if r.get(f) == ""), None)
    if empty is not None:
        raise AdapterError(f"--out {out}: the {empty[1]} of sample {empty[0]['id']!r} is empty, which a CSV cell "
                           "cannot tell from a missing value; write .jsonl or .parquet instead")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow(["" if row.get(c) is None else json.dumps(row[c]) if isinstance(row[c], (list, dict))
                         else row[c] for c in COLUMNS])
    return buffer.getvalue().encode("utf-8")


def _parquet(rows: list[dict[str, Any]]) -> bytes:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise AdapterError(INSTALL_HINT.replace("reading", "writing")) from None
    schema = pa.schema([("id", pa.string()), ("suite", pa.string()), ("caption", pa.string()),
                        ("answer", pa.string()), ("text", pa.string()), ("labels", pa.list_(pa.string())),
                        ("scores", pa.map_(pa.string(), pa.float64())),
                        ("image_embedding", pa.list_(pa.float64())), ("text_embedding", pa.list_(pa.float64())),
                        ("input_text", pa.string())])
    plain = [{c: (list(r[c].items()) if c == "scores" and c in r else r.get(c)) for c in COLUMNS} for r in rows]
    table = pa.Table.from_pylist(plain, schema=schema)
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()
