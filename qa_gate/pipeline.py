"""The core both faces call: load and verify, score, judge, deliver (reports and baseline). No pytest here."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from qa_gate.baseline.file import UNCHECKED, FileBaselineStore, Unchecked, content_digest
from qa_gate.baseline.resolve import resolve_bar, resolve_baseline
from qa_gate.config.load import load_config
from qa_gate.config.model import GateConfig, Overrides, SuiteConfig
from qa_gate.config.shadow import check_reference
from qa_gate.errors import BaselineError, ConfigError, GateError, first_line
from qa_gate.files import write_atomic
from qa_gate.golden.hash_cache import hash_cache_allowed
from qa_gate.golden.needs import check_samples, check_slices
from qa_gate.golden.suite import Suite, load_suite
from qa_gate.outputs import Output, clash, run_inputs, run_outputs
from qa_gate.outputs import check_outputs as check_paths
from qa_gate.report.comment import render_comment
from qa_gate.report.html import render_html
from qa_gate.report.markdown import append_step_summary, render_markdown
from qa_gate.report.samples import common_answers
from qa_gate.results import RunResult
from qa_gate.verdict import record as verdict_record
from qa_gate.verdict.checks import Verdict, pickle_cautions
from qa_gate.verdict.gate import accept_as_baseline, evaluate


@dataclass(frozen=True)
class Prepared:
    """A validated config and its verified golden suites: everything checked before a model loads."""

    config: GateConfig
    suites: tuple[Suite, ...]
    overrides: Overrides = Overrides()
    """The options the face passed, so an error can name the one the user typed."""
    baseline_digest: str | None | Unchecked = UNCHECKED
    """The baseline file's content when the run started; a baseline update is refused if it changed since."""
    bar_changes: tuple[str, ...] = ()
    """How the branch's bar differs from the target branch's, and which version applies (:func:`resolve_bar`)."""


@dataclass(frozen=True)
class GateResults:
    """What the ``mm_gate_results`` fixture and the CLI hand out: config, scored run, verdict."""

    config: GateConfig
    run: RunResult
    verdict: Verdict


def prepare(thresholds: Path, overrides: Overrides = Overrides()) -> Prepared:
    """Validate ``thresholds.yaml`` and verify every golden suite it names (no torch needed)."""
    bar = resolve_bar(load_config(thresholds, overrides), overrides)
    config = bar.config
    for suite_cfg in config.suites:
        _check_folder(config, suite_cfg, suite_cfg.name in bar.kept_suites)
        check_reference(config.source, suite_cfg, config.scorer is not None)
    cached = hash_cache_allowed(config, overrides)  # strict runs and sign-offs hash every golden file
    suites = tuple(load_suite(s.path, s.name, config.max_pixels, cached=cached) for s in config.suites)
    for suite, suite_cfg in zip(suites, config.suites):
        check_samples(suite, suite_cfg)
        check_slices(suite, suite_cfg, config.source)
        if suite_cfg.shadow is not None:
            from qa_gate.scoring.families import family_of
            from qa_gate.scoring.shadow_views import check_shadow

            check_shadow(suite, suite_cfg.shadow, [family_of(m.name, m.params).name for m in suite_cfg.metrics])
    return Prepared(config, suites, overrides, content_digest(config.baseline_path), bar.lines)


def _check_folder(config: GateConfig, suite: SuiteConfig, kept: bool = False) -> None:
    """A suite's folder must exist: the error names the key that set it (the target branch's, for a
    suite the branch removed)."""
    if suite.path.is_dir():
        return
    what = "does not exist" if not suite.path.exists() else "is not a folder"
    whose = (" (in the target branch's thresholds file: this branch removed the suite, and the target "
             "branch's rules still gate it; pass --mm-accept-bar-change to drop it deliberately)") if kept else ""
    raise ConfigError(f"{config.source.name}: suites.{suite.name}.path: {suite.label} {what} ({suite.path}); "
                      "expected a golden suite folder holding manifest.yaml (or manifest.jsonl) and SHA256SUMS "
                      f"(without 'path' the suite is read from golden/{suite.name}){whose}")


def check_outputs(prepared: Prepared, *, html: Path | None, update_baseline: bool,
                  others: Mapping[str, Path] | None = None, verdict: Path | None = None) -> None:
    """Before scoring: refuse an output (report, HTML, the verdict file, the baseline when updating, ``others``
    by option) that would overwrite an input of the run or cannot be written; :class:`~qa_gate.outputs.OutputError`."""
    outputs = run_outputs(prepared.config, prepared.overrides, html, update_baseline, verdict)
    extra = tuple(Output(label, f"the {label} output", Path(path).absolute()) for label, path in (others or {}).items())
    check_paths((*outputs, *extra), run_inputs(prepared.config, prepared.suites))


def sample_images(prepared: Prepared) -> dict[tuple[str, str], Path]:
    """Each sample's image, keyed by (suite name, sample id), for reports that show thumbnails."""
    return {(suite.name, s.id): s.image_path for suite in prepared.suites for s in suite.samples}


def score(prepared: Prepared) -> RunResult:
    """Load the checkpoint as what the configured metric families need and score every suite."""
    from qa_gate.scoring.cached_model import RunOutputs
    from qa_gate.scoring.device import autocast_dtype, choose_device
    from qa_gate.scoring.families import demands, needs_scorer
    from qa_gate.scoring.runner import run

    model = prepared.config.model
    device = choose_device(model.device)  # torch is imported only where a model runs
    dtype = autocast_dtype(model.dtype, device)
    outputs = RunOutputs.open(prepared.config, prepared.overrides, device, dtype)  # loads a model only if needed
    loaded = outputs.load(model, demands(prepared.config))
    if needs_scorer(prepared.config) and prepared.config.scorer is not None:
        scorer = outputs.load(prepared.config.scorer, (), role="scorer")
        loaded = replace(loaded, scorer=scorer.encoder, scorer_checkpoint=scorer.checkpoint)
    shown = _shown_path(loaded.checkpoint.checkpoint, prepared.config.source.parent)
    loaded = replace(loaded, checkpoint=replace(loaded.checkpoint, checkpoint=shown))
    from qa_gate.adapters.load import check_served

    check_served(loaded, prepared.suites)  # a predictions file covers every sample, before anything is scored
    result = run(prepared.config, prepared.suites, loaded, device, dtype, outputs)
    outputs.finish()
    return result


def _shown_path(location: str, base: Path) -> str:
    """A checkpoint path as recorded: relative to the thresholds folder when inside it."""
    try:
        return Path(location).relative_to(base.resolve()).as_posix()
    except ValueError:
        return location


def judge(prepared: Prepared, run: RunResult, update_baseline: bool = False) -> Verdict:
    """Compare ``run`` with the resolved baseline under the config's rules."""
    context = resolve_baseline(prepared.config, [s.path for s in prepared.suites], replacing=update_baseline,
                               overrides=prepared.overrides)
    verdict = evaluate(run, context.baseline, prepared.config, baseline_source=context.source)
    from qa_gate.scoring.families import needs_scorer

    cautions = pickle_cautions(prepared.config, needs_scorer(prepared.config))
    verdict = replace(verdict, changes=context.changes, history=context.history, cautions=cautions,
                      bar_changes=(*prepared.bar_changes, *context.bar))
    return accept_as_baseline(verdict) if update_baseline else verdict


def record_baseline(config: GateConfig, verdict: Verdict, expected: str | None | Unchecked = UNCHECKED) -> str:
    """Write ``verdict.run`` to the working tree's baseline file; refused (nothing written)
    when a floor fails, a configured metric was skipped (not computed), or the file is no
    longer the ``expected`` content (another update finished first)."""
    skipped = verdict.run.skipped()
    if skipped:
        by_reason: dict[str, list[str]] = {}
        for suite, metric, reason in skipped:
            by_reason.setdefault(reason, []).append(f"{metric} on {suite.label}")
        which = "; ".join(f"{', '.join(where)}: {reason}" for reason, where in by_reason.items())
        raise BaselineError(
            f"baseline not updated: {len(skipped)} metric(s) skipped, not computed ({which}); a baseline "
            "must hold every configured metric: fix that and update again, or remove the metric from "
            f"{config.source.name}"
        )
    broken = [c.id for c in verdict.checks if c.rule.is_floor and c.status.failed]
    if broken:
        raise BaselineError(
            f"baseline not updated: floors fail ({', '.join(broken)}); a baseline must pass its own floors"
        )
    return FileBaselineStore(config.baseline_path).write(verdict.run, expected)


@dataclass(frozen=True)
class Delivery:
    """What :func:`deliver` wrote, as lines for the terminal, and why it did not finish."""

    lines: tuple[str, ...]
    refused: str | None = None
    """Why a requested baseline was not written (a floor fails, a metric was skipped, another update came
    first) or a report could not be written; ``None`` otherwise. The faces exit 4 on it."""


def deliver(prepared: Prepared, verdict: Verdict, *, html: Path | None, update_baseline: bool,
            interrupted: bool = False, verdict_file: Path | None = None) -> Delivery:
    """Write the Markdown report (rendered once), the HTML report, the GitHub job summary,
    when asked and not ``interrupted`` the baseline, and last the verdict file (``verdict_file``).
    Every face ends its run with this.

    The job summary is best-effort: when it cannot be written it costs a warning line, never
    the exit status or the baseline. A report that cannot be written (the disk filled up
    since :func:`check_outputs`) is ``refused`` and the baseline is then left as it was. The
    verdict file holds the verdict only when the run finished; an interrupted or refused run
    writes an unfinished one saying why, so it never claims a pass the exit status does not.
    """
    if verdict_file is not None and update_baseline and not interrupted:
        try:  # first make sure it can be written, so a run that must exit 4 never changed the baseline
            verdict_record.write(verdict_file, verdict_record.unfinished_json("the baseline is being recorded"))
        except OSError as exc:
            return Delivery((), refused=_verdict_unwritable(prepared, verdict_file, exc, update_baseline))
    done = _reports_and_baseline(prepared, verdict, html=html, update_baseline=update_baseline,
                                 interrupted=interrupted)
    if verdict_file is None:
        return done
    if interrupted or done.refused is not None:
        why = "the run was interrupted (exit 2)" if interrupted else f"the run stopped with exit 4: {done.refused}"
        data, note = verdict_record.unfinished_json(why), " (no verdict: the run did not finish)"
    else:
        data, note = verdict_record.verdict_json(verdict, prepared.config), ""
    try:
        written = verdict_record.write(verdict_file, data)
    except OSError as exc:
        return replace(done, refused=done.refused or _verdict_unwritable(prepared, verdict_file, exc, False))
    return replace(done, lines=(*done.lines, f"mm-gate: verdict file written to {written}{note}"))


def _verdict_unwritable(prepared: Prepared, path: Path, exc: OSError, update_baseline: bool) -> str:
    kept = "; the baseline was not updated" if update_baseline else ""
    return f"{prepared.overrides.option_prefix}verdict {path}: cannot write the verdict file: {first_line(exc)}{kept}"


def _reports_and_baseline(prepared: Prepared, verdict: Verdict, *, html: Path | None, update_baseline: bool,
                          interrupted: bool) -> Delivery:
    """The reports, the job summary and a requested baseline (:func:`deliver` without the verdict file)."""
    lines: list[str] = []
    answers = common_answers(prepared.suites)
    markdown = render_markdown(verdict, answers)
    shown = {"markdown": "report", "html": "HTML report", "comment": "PR comment"}
    for output in run_outputs(prepared.config, prepared.overrides, html, update_baseline=False):
        text = (markdown if output.kind == "markdown" else render_comment(verdict, answers)
                if output.kind == "comment" else render_html(verdict, sample_images(prepared), answers))
        try:
            written = write_atomic(output.path, text.encode("utf-8"))
        except OSError as exc:
            kept = "; the baseline was not updated" if update_baseline else ""
            return Delivery(tuple(lines), refused=f"{output.label} {output.path}: cannot write {output.what}: "
                                                  f"{first_line(exc)}{kept}")
        lines.append(f"mm-gate: {shown[output.kind]} written to {written}")
    lines.extend(_job_summary(prepared, markdown))
    if not update_baseline:
        return Delivery(tuple(lines))
    if interrupted:
        return Delivery((*lines, "mm-gate: baseline NOT updated: the session was interrupted"))
    try:
        where = record_baseline(prepared.config, verdict, prepared.baseline_digest)
    except GateError as exc:
        return Delivery(tuple(lines), refused=str(exc))
    return Delivery((*lines, f"mm-gate: baseline written to {where}"))


def _job_summary(prepared: Prepared, markdown: str, environ: Mapping[str, str] = os.environ) -> list[str]:
    """Append the report to ``$GITHUB_STEP_SUMMARY``: the line saying so, or a warning when it cannot be."""
    target = environ.get("GITHUB_STEP_SUMMARY")
    if not target:
        return []
    item = clash(Path(target), run_inputs(prepared.config, prepared.suites))
    if item is not None:
        return [_summary_warning(target, f"it is {item.what} ({item.path}), an input of this run")]
    try:
        written = append_step_summary(markdown, environ)
    except OSError as exc:
        return [_summary_warning(target, exc.strerror or first_line(exc))]
    return [] if written is None else [f"mm-gate: report appended to $GITHUB_STEP_SUMMARY ({written})"]


def _summary_warning(target: str, reason: str) -> str:
    return (f"mm-gate: warning: job summary not written to $GITHUB_STEP_SUMMARY ({target}): {reason}; "
            "the verdict and the exit status are unaffected")
