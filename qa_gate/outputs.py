"""What a run reads and what it writes: no output may overwrite an input, and every output is writable.

Both are checked before a model loads (:func:`qa_gate.pipeline.check_outputs`), so a bad
``--report`` costs one line, not a scoring run and the baseline. Paths are compared after
following symlinks, and existing files also by identity (a hard link is the same file).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from qa_gate.baseline.file import samples_path
from qa_gate.config.load import option_name
from qa_gate.config.model import GateConfig, ModelConfig, Overrides
from qa_gate.errors import GateError
from qa_gate.files import unwritable
from qa_gate.golden.suite import Suite
from qa_gate.report.comment import comment_path
from qa_gate.signoff_record import FOLDER as SIGNOFFS


class OutputError(GateError):
    """An output path would overwrite an input of the run, or cannot be written."""


@dataclass(frozen=True)
class Input:
    """A file (or, with ``folder``, everything inside a folder) that a run reads."""

    what: str
    """What it is, for messages: ``"the baseline"``, ``"golden suite 'vqa'"``."""
    path: Path
    folder: bool = False
    kind: str = "other"
    """``"baseline"`` for the baseline (which a baseline update replaces on purpose), else ``"other"``."""


@dataclass(frozen=True)
class Output:
    """A file a run writes, named as the user set it: the option or the key."""

    label: str
    """``"--report"``, ``"--mm-html"``, ``"report.path in thresholds.yaml"``."""
    what: str
    path: Path
    kind: str = "other"
    """``"markdown"``, ``"html"``, ``"verdict"``, ``"baseline"`` or ``"other"`` (an output a face adds, e.g. JUnit
    XML)."""
    replaces: str | None = None
    """The kind of input this output replaces on purpose (``"baseline"``, for a baseline update)."""


def real(path: Path) -> Path:
    """``path`` absolute with every symlink followed (the parts that exist)."""
    return Path(os.path.realpath(path))


def run_inputs(config: GateConfig, suites: Sequence[Suite]) -> tuple[Input, ...]:
    """Everything the run reads: thresholds, baseline, golden suite folders, checkpoints, sign-off records."""
    found = [Input(f"the thresholds file ({config.source.name})", config.source),
             Input("the baseline", config.baseline_path, kind="baseline"),
             Input("the baseline's per-sample file", samples_path(config.baseline_path), kind="baseline")]
    found += [Input(f"golden suite '{suite.name}'", suite.path, folder=True) for suite in suites]
    base = config.source.parent
    models: list[tuple[str, ModelConfig | None]] = [("the checkpoint", config.model), ("the scorer", config.scorer)]
    for what, model in models:
        if model is not None:
            found += [Input(what, path, folder=path.is_dir())
                      for path in _on_disk((model.checkpoint, model.pretrained), base)]
    if config.model.adapter == "predictions":
        found += [Input("a sidecar of the predictions file", side)
                  for path in _on_disk((config.model.checkpoint,), base) for side in _sidecars(path)]
    for suite_cfg in config.suites:
        if suite_cfg.shadow is not None:
            found += [Input(f"the shadow reference of suite '{suite_cfg.name}'", path)
                      for path in (suite_cfg.shadow.reference, *_sidecars(suite_cfg.shadow.reference))]
    found.append(Input("the sign-off records", _work_tree(base) / SIGNOFFS, folder=True))
    return tuple(found)


def _sidecars(path: Path) -> list[Path]:
    """The sidecars a predictions file may have (``preds.jsonl.settings.json``, ``preds.jsonl.*.npy``)."""
    return [path.with_name(f"{path.name}.{tail}") for tail in ("settings.json", "image_embedding.npy",
                                                                "text_embedding.npy")]


def _on_disk(locations: Iterable[str | None], base: Path) -> list[Path]:
    """The locations that name a file or folder (relative ones tried from the cwd and from ``base``)."""
    paths = []
    for location in locations:
        if not location:
            continue
        raw = Path(location).expanduser()
        paths += [p for p in dict.fromkeys((raw, base / raw)) if p.exists()][:1]
    return paths


def _work_tree(folder: Path) -> Path:
    """The git work tree holding ``folder`` (where ``signoffs/`` lives), else ``folder`` itself."""
    start = real(folder)
    return next((p for p in (start, *start.parents) if (p / ".git").exists()), start)


def run_outputs(config: GateConfig, overrides: Overrides, html: Path | None,
                update_baseline: bool, verdict: Path | None = None) -> tuple[Output, ...]:
    """Every file the run will write: the Markdown and HTML reports, the verdict file, and the baseline
    when updating it."""
    found = []
    source = config.source.name
    if config.report_path is not None:
        label = (option_name("report_path", overrides) if overrides.report_path is not None
                 else f"report.path in {source}")
        found.append(Output(label, "the Markdown report", config.report_path, "markdown"))
        found.append(Output(f"{label} (the PR comment beside it)", "the PR comment",
                            comment_path(config.report_path), "comment"))
    if html is not None:
        found.append(Output(f"{overrides.option_prefix}html", "the HTML report", Path(html).absolute(), "html"))
    if verdict is not None:
        found.append(Output(f"{overrides.option_prefix}verdict", "the verdict file", Path(verdict).absolute(),
                            "verdict"))
    if update_baseline:
        label = (option_name("baseline_path", overrides) if overrides.baseline_path is not None
                 else f"baseline.path in {source}")
        found.append(Output(label, "the baseline", config.baseline_path, "baseline", replaces="baseline"))
        found.append(Output(label, "the baseline's per-sample file", samples_path(config.baseline_path), "baseline",
                            replaces="baseline"))
    return tuple(found)


def clash(path: Path, inputs: Iterable[Input], replaces: str | None = None) -> Input | None:
    """The input that writing ``path`` would overwrite (or land inside), or ``None``; inputs of the
    kind ``replaces`` do not count (a baseline update replaces the baseline, and only the baseline)."""
    target = real(path)
    for item in inputs:
        if item.kind == replaces:
            continue
        where = real(item.path)
        if target == where or (item.folder and target.is_relative_to(where)) or _same_file(target, where):
            return item
    return None


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def refusal(output: Output, item: Input) -> str:
    """One line: which option or key, its path, and the input it would overwrite."""
    target = real(output.path)
    shown = f"{output.path}" if target == Path(output.path) else f"{output.path} (resolves to {target})"
    relation = "lies inside" if item.folder and target != real(item.path) else "is"
    return (f"{output.label} {shown}: refused: {output.what} would overwrite an input of this run: it {relation} "
            f"{item.what} ({real(item.path)}); choose another path")


def check_outputs(outputs: Sequence[Output], inputs: Sequence[Input]) -> None:
    """Refuse an output that would overwrite an input or another output, or that cannot be written.

    Raises :class:`OutputError` with one line naming the option or key, the path and the reason.
    """
    seen: dict[Path, Output] = {}
    for output in outputs:
        item = clash(output.path, inputs, output.replaces)
        if item is not None:
            raise OutputError(refusal(output, item))
        target = real(output.path)
        if target in seen:
            raise OutputError(f"{output.label} {output.path}: refused: {seen[target].label} writes "
                              f"{seen[target].what} to the same file; give each output its own path")
        seen[target] = output
        reason = unwritable(target)
        if reason is not None:
            raise OutputError(f"{output.label} {output.path}: cannot write {output.what} there: {reason} "
                              "(checked before scoring; nothing was scored or written)")
