"""Which baseline a run is judged against, and what the change under test did to it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from qa_gate.baseline.bar import merge_bar
from qa_gate.baseline.changes import Changes, HistoryPoint
from qa_gate.baseline.git import GitBaselineStore
from qa_gate.baseline.run_json import UnreadableBaseline
from qa_gate.baseline.shadow_bar import reference_changes
from qa_gate.baseline.store import open_store
from qa_gate.config.load import load_config
from qa_gate.config.model import GateConfig, Overrides
from qa_gate.errors import BaselineError, ConfigError, first_line
from qa_gate.results import RunResult

HISTORY = 10
ACCEPT = "accept-bar-change"
"""The option (after the face's prefix) that applies the branch's own rules and baseline deliberately."""
BAR_OPTIONS: tuple[tuple[str, str], ...] = (
    ("thresholds", "thresholds"), ("baseline_path", "baseline"), ("baseline_ref", "baseline-ref"),
    ("mode", "mode"), ("cache_dir", "cache-dir"), ("accept_bar_change", ACCEPT))
"""Options that change what a run is judged against: (``Overrides.sources`` key, option name)."""
WAY_OUT = ("to replace it, record a new baseline (mm-gate baseline update, or pytest --mm-gate "
           "--mm-update-baseline); if that is not the baseline file, fix baseline.path or the baseline option")
"""What an error about a corrupt baseline suggests: a baseline update replaces a file it cannot read."""


@dataclass(frozen=True)
class Bar:
    """The config a run applies (the target branch's rules where the branch would lower them) and the
    bar-change block: how the branch's bar differs, which version applies, and options from ini files
    or the environment that change what the run is judged against."""

    config: GateConfig
    lines: tuple[str, ...] = ()
    kept_suites: frozenset[str] = frozenset()
    """Suites the branch removed or renamed that the run still gates (the target branch's)."""


def resolve_bar(config: GateConfig, overrides: Overrides = Overrides()) -> Bar:
    """In git, the rules of ``config.source`` as committed at the merge-base with the target branch, merged
    with the branch's (:func:`~qa_gate.baseline.bar.merge_bar`); outside git, ``config`` as it is.

    The merge-base is found with the command line's ``--mm-baseline-ref`` or the default target
    (``$GITHUB_BASE_REF``, ``origin/main``, ``main``), never the branch's own ``baseline.ref``,
    unless no default target exists (then it says so).
    """
    lines = list(option_lines(config, overrides))
    store = GitBaselineStore.discover(config.source, ref=overrides.baseline_ref)
    if store is None:
        return Bar(config, tuple(lines))
    lines += _bypass(config, overrides, store)
    try:
        content, where = store.committed(), store.describe()
    except BaselineError as exc:
        if config.baseline_ref is None or overrides.baseline_ref is not None:
            lines.append(f"The target branch's rules cannot be read ({exc}): this run is judged by the branch's "
                         f"own {config.source.name}.")
            return Bar(config, tuple(lines))
        store = GitBaselineStore(config.source, config.baseline_ref)
        content, where = store.committed(), store.describe()
        lines.append(f"No default target branch: the target's rules are read at the merge-base with the "
                     f"branch's own baseline.ref ({config.baseline_ref}).")
    name = store.rel
    if content is None:
        lines.append(f"{name} is not on the target branch ({where}): this run is judged by the branch's own "
                     "rules, which no one has approved on the target branch yet.")
        return Bar(config, tuple(lines))
    try:
        target = load_config(config.source, overrides, content=content, label=f"{name} ({where})")
    except ConfigError as exc:
        lines.append(f"The target branch's {name} cannot be read by this qa_gate ({first_line(exc)}): "
                     "this run is judged by the branch's own rules.")
        return Bar(config, tuple(lines))
    merged = merge_bar(target, config)
    merged = replace(merged, changes=(*merged.changes, *reference_changes(store, merged.config, config)))
    if not merged.changes:
        return Bar(merged.config, tuple(lines))
    accepted = config.accept_bar_change
    prefix = overrides.option_prefix
    head = (f"This branch's {name} lowers or changes the bar set by the target branch ({where}) in "
            f"{len(merged.changes)} way(s); ")
    if accepted:
        head += (f"accepted ({prefix}{ACCEPT}, from {overrides.sources.get('accept_bar_change', 'the command line')}"
                 "): the branch's own version applies.")
    else:
        head += f"the target branch's version applies to each; pass {prefix}{ACCEPT} to apply the branch's."
    lines += [head, *(change.line() for change in merged.changes)]
    if accepted:
        return Bar(config, tuple(lines))
    return Bar(merged.config, tuple(lines), merged.kept_suites)


def option_lines(config: GateConfig, overrides: Overrides) -> list[str]:
    """One line per option that changes what the run is judged against and was not given on the command
    line (an ini file, ``addopts``, ``PYTEST_ADDOPTS``), with where it came from."""
    out = []
    for key, option in BAR_OPTIONS:
        source = overrides.sources.get(key)
        if source is None:
            continue
        value = config.source.name if key == "thresholds" else getattr(overrides, key, None)
        shown = "on" if value is True else value
        out.append(f"{overrides.option_prefix}{option} = {shown} comes from {source}, not the command line: "
                   "it changes what this run is judged against.")
    return out


def _bypass(config: GateConfig, overrides: Overrides, store: GitBaselineStore) -> list[str]:
    """An explicit baseline file inside the repository reads the branch's own copy: say so."""
    if not config.baseline_explicit or not Path(config.baseline_path).resolve().is_relative_to(store.root):
        return []
    source = overrides.sources.get("baseline_path", "the command line")
    rel = Path(config.baseline_path).resolve().relative_to(store.root).as_posix()
    return [f"{overrides.option_prefix}baseline {rel} (from {source}) reads the file in this branch's working "
            "tree: this run is not judged against the target branch's baseline."]


@dataclass(frozen=True)
class BaselineContext:
    """The baseline a run is judged against, where it came from, and what the change under test did to it."""

    source: str
    baseline: RunResult | None
    changes: tuple[str, ...] = ()
    history: tuple[HistoryPoint, ...] = ()
    bar: tuple[str, ...] = ()
    """What the change did to the baseline it is judged against (the bar-change block's lines)."""


def resolve_baseline(config: GateConfig, suite_paths: Sequence[Path], history: int = HISTORY, *,
                     replacing: bool = False, overrides: Overrides = Overrides()) -> BaselineContext:
    """The target branch's baseline (at the merge-base) inside git; the file otherwise.

    ``--mm-baseline PATH`` always means the file. In git, a baseline or golden suite
    changed by the change under test is reported, and the change's own baseline is
    used only with ``--mm-accept-bar-change``. A baseline that cannot be parsed
    stops the run with a way out, unless the run is ``replacing`` it (a baseline update of a
    ``.json`` file): then the run goes on without one and says so.
    """
    prefix, accepted_from = overrides.option_prefix, overrides.sources.get("accept_bar_change", "the command line")
    store = open_store(config)
    try:
        baseline = target_run = store.read()
        changes = store.changes(list(suite_paths), watched_files(config))
    except UnreadableBaseline as exc:
        if not replacing:
            raise UnreadableBaseline(f"{exc}; {WAY_OUT}") from None
        if config.baseline_path.suffix.lower() != ".json":  # more likely a wrong path than a corrupt baseline
            raise UnreadableBaseline(f"{exc}; not replaced: a baseline update replaces an unreadable baseline "
                                     "only when its name ends in .json; fix baseline.path or the baseline option, "
                                     "or delete the file") from None
        note = f"The stored baseline cannot be read ({exc}); this baseline update replaces it."
        return BaselineContext(store.describe(), None, (note,))
    notes: list[str] = []
    bar: list[str] = []
    if changes.baseline is not None:
        bar.append(changes.baseline.summary())
        if config.accept_bar_change:
            baseline = changes.baseline.new
            bar.append(f"The changed baseline is accepted ({prefix}{ACCEPT}, from {accepted_from}): "
                       "this run is judged against it.")
        else:
            bar.append(f"This run is judged against the target branch's baseline; pass {prefix}{ACCEPT} "
                       "to accept the new one deliberately.")
    if isinstance(store, GitBaselineStore):
        bar += _lost_baselines(target_run, baseline, config)
    else:
        changes = _repository_changes(config, suite_paths) or changes
    notes.extend(change.summary() for change in changes.golden)
    files = changes.verdict_files_summary()
    if files is not None:
        notes.append(files)
    return BaselineContext(store.describe(), baseline, tuple(notes), tuple(store.history(history)), tuple(bar))


def _repository_changes(config: GateConfig, suite_paths: Sequence[Path]) -> Changes | None:
    """With a file baseline (``--mm-baseline``) inside a repository, what the branch did to the golden suites
    and to the files that can change the verdict still shows; None outside git or without a target branch."""
    repo = GitBaselineStore.discover(config.source)
    if repo is None:
        return None
    try:
        return Changes(None, tuple(repo.golden_changes(suite_paths)), tuple(repo.verdict_files(watched_files(config))))
    except BaselineError:
        return None


def _lost_baselines(target: RunResult | None, applied: RunResult | None, config: GateConfig) -> list[str]:
    """Suites that had a baseline on the target branch and have none in this run: gone from the applied
    baseline, or no longer gated (a removal or rename accepted with the bar change)."""
    if target is None:
        return []
    gated = {s.name for s in config.suites}
    out = [f"Suite {s.name} had a baseline on the target branch and has none in this run: its regression rules "
           "have nothing to compare with." for s in config.suites
           if target.suite(s.name) is not None and (applied is None or applied.suite(s.name) is None)]
    out += [f"Suite {s.name} had a baseline on the target branch and is not gated by this run." for s in target.suites
            if s.name not in gated]
    return out


def watched_files(config: GateConfig) -> list[Path]:
    """The files of this config that can change its verdict: the thresholds file and the modules of
    user adapters (``package.module:attr``, looked up beside the thresholds file)."""
    out = [config.source]
    for model in (config.model, config.scorer):
        if model is not None and ":" in model.adapter:
            parts = model.adapter.split(":")[0].split(".")
            base = config.source.parent
            out += [base.joinpath(*parts[:-1], parts[-1] + ".py"), base.joinpath(*parts, "__init__.py")]
    return out
