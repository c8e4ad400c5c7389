"""The pytest face of qa_gate: options, one item per check, hooks into one session per process.

The only module that imports pytest. Without ``--mm-gate`` it registers options and does
nothing else (no torch import). With it, ``config.stash`` holds a
:class:`~qa_gate.session.Controller` (which prepares, scores and judges once and writes
the reports) or, in a pytest-xdist worker, a :class:`~qa_gate.session.Worker` (which only
reports the outcomes the controller handed over). The hooks are one-liners into it.

Exit codes are the CLI's (:mod:`qa_gate.faults`): a :class:`~qa_gate.errors.GateError` or an
internal error is a usage error (4) in one line, Ctrl-C while scoring or writing is
interrupted (2) with a line saying what was written; ``--mm-debug`` adds the traceback.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from qa_gate.errors import GateError
from qa_gate.faults import Outputs, internal_error_line, interrupted_line
from qa_gate.handoff import FAILED, SKIPPED, Handoff
from qa_gate.option_sources import INI_DEFAULTS, bar_sources
from qa_gate.session import Controller, GateCheckFailed, GateSession, Worker

if TYPE_CHECKING:
    from qa_gate.pipeline import GateResults

OPTIONS: tuple[tuple[str, str, str], ...] = (
    ("thresholds", "PATH", "thresholds file (default: thresholds.yaml beside the ini file, else in the cwd)"),
    ("checkpoint", "PATH_OR_ID", "checkpoint under test; overrides model.checkpoint"),
    ("adapter", "NAME", "adapter: open_clip, transformers or module:attr; overrides model.adapter"),
    ("model-name", "NAME", "open_clip architecture or config .json; overrides model.model_name"),
    ("device", "DEVICE", "auto, cpu, cuda or cuda:N; overrides model.device"),
    ("dtype", "DTYPE", "auto, float32, float16 or bfloat16; overrides model.dtype"),
    ("batch-size", "N", "inference batch size; overrides model.batch_size"),
    ("workers", "N", "image decoding threads (0: none, the default on the CPU; else min(4, CPUs)); "
                     "overrides model.workers"),
    ("baseline", "PATH", "baseline file; overrides baseline.path"),
    ("report", "PATH", "write the Markdown report here; overrides report.path"),
    ("html", "PATH", "also write the self-contained HTML report (thumbnails, slices, trend) here"),
    ("verdict", "PATH", "write the machine-readable verdict here (default: mm-gate-verdict.json in the cwd)"),
    ("baseline-ref", "REF", "git ref whose merge-base with HEAD holds the baseline "
                            "(default: $GITHUB_BASE_REF, else origin/main, else main)"),
    ("mode", "MODE", "significant or strict: how every regression rule is judged (strict for release sign-off)"),
    ("cache-dir", "PATH", "model-output cache folder (default: $XDG_CACHE_HOME/qa_gate/outputs)"),
)
PATH_OPTIONS = frozenset({"thresholds", "checkpoint", "model-name", "baseline", "report", "html", "verdict"})
PREFIX = "--mm-"
WORKER_KEY = "mm_gate"
"""The ``workerinput`` key holding the controller's :class:`~qa_gate.handoff.Handoff` (JSON)."""


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register ``--mm-*`` options, each also settable in ``[tool.pytest.ini_options]``."""
    group = parser.getgroup("mm-gate", "multimodal model quality gate (qa_gate)")
    group.addoption("--mm-gate", action="store_true", default=None, dest="mm_gate",
                    help="score the checkpoint on the golden suites and gate it")
    parser.addini("mm_gate", "enable the gate (like --mm-gate)", type="bool", default=False)
    group.addoption("--mm-update-baseline", action="store_true", default=False, dest="mm_update_baseline",
                    help="record this run as the new baseline (when every floor holds and no metric was skipped)")
    group.addoption("--mm-accept-bar-change", "--mm-accept-baseline-change", action="store_true", default=None,
                    dest="mm_accept_bar_change",
                    help="judge by this branch's own rules and baseline, not the target branch's "
                         "(--mm-accept-baseline-change is the old name)")
    parser.addini("mm_accept_bar_change", "like --mm-accept-bar-change", type="bool", default=False)
    parser.addini("mm_accept_baseline_change", "old name of mm_accept_bar_change", type="bool", default=False)
    group.addoption("--mm-debug", action="store_true", default=None, dest="mm_debug",
                    help="show the traceback of a gate error (config, data, checkpoint or internal)")
    parser.addini("mm_debug", "like --mm-debug", type="bool", default=False)
    group.addoption("--mm-no-cache", action="store_true", default=None, dest="mm_no_cache",
                    help="neither read nor write the model-output cache (run the model on every sample)")
    for name, metavar, help_text in OPTIONS:
        dest = "mm_" + name.replace("-", "_")
        group.addoption(f"{PREFIX}{name}", metavar=metavar, default=None, dest=dest, help=help_text)
        parser.addini(dest, help_text, default=INI_DEFAULTS.get(dest))  # ini-relative


def _flag(config: pytest.Config, dest: str) -> bool:
    """A flag given on the command line, else its ini value."""
    flag = config.getoption(dest)
    return bool(config.getini(dest)) if flag is None else bool(flag)


def _value(config: pytest.Config, name: str) -> str | None:
    """Option value, else ini value (ini paths resolve against the ini file's folder)."""
    dest = "mm_" + name.replace("-", "_")
    value = config.getoption(dest)
    if value is not None:
        return str(value)
    ini = config.getini(dest)
    if not ini:
        return None
    ini = str(ini)
    if name in PATH_OPTIONS and config.inipath is not None and not os.path.isabs(ini):
        candidate = config.inipath.parent / ini
        if name != "checkpoint" or candidate.exists():
            return str(candidate)
    return ini


def skip_reason(name: str, reason: str) -> str:
    """What ``pytest -rs`` shows for a skipped check: its id, then why its metric was not computed."""
    return f"{name}: {reason}"


def _fault(config: pytest.Config, error: BaseException, outputs: Outputs | None, stage: str) -> tuple[int, str]:
    """The exit code and the one line for ``error``; its traceback on stderr first under ``--mm-debug``."""
    if _flag(config, "mm_debug"):
        traceback.print_exception(error, file=sys.stderr)
    if isinstance(error, GateError):
        return pytest.ExitCode.USAGE_ERROR, f"mm-gate: {error}"
    if isinstance(error, KeyboardInterrupt):
        return pytest.ExitCode.INTERRUPTED, interrupted_line(outputs, stage)
    return pytest.ExitCode.USAGE_ERROR, internal_error_line(error, "--mm-debug")


@contextmanager
def _usage_errors(config: pytest.Config, stage: str, outputs: Outputs | None = None) -> Iterator[None]:
    """Stop pytest in one line, without a traceback: exit code 4 for a :class:`GateError` (bad config,
    suite or checkpoint) or an internal error, 2 for Ctrl-C."""
    try:
        yield
    except (KeyboardInterrupt, Exception) as exc:
        code, line = _fault(config, exc, outputs, stage)
        if code == pytest.ExitCode.INTERRUPTED:
            pytest.exit(line, returncode=code)
        raise pytest.UsageError(line) from None


def _controller(config: pytest.Config) -> Controller:
    """Validate the thresholds and verify the golden suites (``--mm-*`` options, else ini values)."""
    from qa_gate.config.model import Overrides

    values = {name: _value(config, name) for name, _, _ in OPTIONS}
    overrides = Overrides(
        checkpoint=values["checkpoint"], adapter=values["adapter"], model_name=values["model-name"],
        device=values["device"], dtype=values["dtype"],
        batch_size=values["batch-size"],  # type: ignore[arg-type]  # a string; load_config validates it
        workers=values["workers"],  # type: ignore[arg-type]
        baseline_path=values["baseline"], report_path=values["report"],
        baseline_ref=values["baseline-ref"], mode=values["mode"],
        accept_bar_change=_flag(config, "mm_accept_bar_change") or bool(config.getini("mm_accept_baseline_change"))
        or None, option_prefix=PREFIX, sources=bar_sources(config),
        cache_dir=values["cache-dir"], no_cache=config.getoption("mm_no_cache"), quiet=config.get_verbosity() < 0,
    )
    html = Path(values["html"]).absolute() if values["html"] else None
    junit = getattr(config.option, "xmlpath", None)
    others = {"--junitxml": Path(junit)} if junit else {}
    with _usage_errors(config, "while checking the config and the golden suites"):
        return Controller.create(Path(values["thresholds"] or "thresholds.yaml"), overrides,
                                 bool(config.getoption("mm_update_baseline")), html, others, values["verdict"])


def _worker(config: pytest.Config) -> GateSession:
    """The session of an xdist worker, from what its controller put in ``workerinput``."""
    text = config.workerinput.get(WORKER_KEY)  # type: ignore[attr-defined]
    if text is None:
        raise pytest.UsageError("mm-gate: this xdist worker received no checks from its controller")
    return Worker(Handoff.loads(text))


class XdistHooks:
    """pytest-xdist hooks, registered on the controller only when xdist is present."""

    def __init__(self, controller: Controller) -> None:
        self.controller = controller

    def pytest_configure_node(self, node: Any) -> None:
        """Hand the worker its checks and their outcomes (it never prepares, scores or judges)."""
        node.workerinput[WORKER_KEY] = self.controller.handoff()


SESSION = pytest.StashKey[GateSession]()


def _session(config: pytest.Config) -> GateSession | None:
    return config.stash.get(SESSION, None)


def _scoring(config: pytest.Config) -> Controller | None:
    """The controller, when this process scores (not a worker, not ``--collect-only``)."""
    state = _session(config)
    return state if isinstance(state, Controller) and not config.option.collectonly else None


def pytest_configure(config: pytest.Config) -> None:
    """With the gate on: a worker session under xdist, else the controller (exit code 4 on a config error)."""
    config.addinivalue_line("markers", "mm_gate: a quality-gate check generated by qa_gate")
    if not _flag(config, "mm_gate"):
        if config.getoption("mm_update_baseline"):
            raise pytest.UsageError("mm-gate: --mm-update-baseline needs --mm-gate (nothing was scored or written)")
        return
    if hasattr(config, "workerinput"):
        config.stash[SESSION] = _worker(config)
        return
    controller = config.stash[SESSION] = _controller(config)
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(XdistHooks(controller), "mm-gate-xdist")


def pytest_unconfigure(config: pytest.Config) -> None:
    """Remove the session's files."""
    if (state := _session(config)) is not None:
        state.close()


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    """Score and judge once, on the controller, before xdist starts its workers."""
    if (controller := _scoring(session.config)) is not None:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(controller.scoring_line())
        with _usage_errors(session.config, "while scoring", controller.outputs()):
            controller.start()


class GateItem(pytest.Item):
    """One (suite, metric, rule) check, named by its id, e.g. ``shapes::clipscore::min``."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.add_marker("mm_gate")
        self.user_properties.append(("mm_gate_check", self.name))  # the check id, for mm-gate check-verdict

    def runtest(self) -> None:
        """Report this check's outcome: fail when it did not hold, skip when its metric could not be computed."""
        outcome = self.config.stash[SESSION].outcome(self.name)
        if outcome.result == FAILED:
            raise GateCheckFailed(outcome.message)
        if outcome.result == SKIPPED:
            pytest.skip(skip_reason(self.name, outcome.message))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        """One line for a broken rule; the usual traceback for anything unexpected."""
        if isinstance(excinfo.value, GateCheckFailed):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo, style=style))

    def reportinfo(self) -> tuple[Path, None, str]:
        """Where the check comes from: the thresholds file."""
        return self.config.stash[SESSION].source, None, self.name


class GateChecks(pytest.Collector):
    """The checks of ``thresholds.yaml``: one item per (suite, metric, rule), in the file's order."""

    def collect(self) -> list[pytest.Item]:
        """Items named after their check id (:func:`qa_gate.verdict.checks.check_id`)."""
        return [GateItem.from_parent(self, name=name, nodeid=name) for name in self.config.stash[SESSION].planned]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """A skipped check is located at the thresholds file (``pytest -rs``), not at this module."""
    report = yield
    if isinstance(item, GateItem) and report.skipped and isinstance(report.longrepr, tuple):
        report.longrepr = (str(item.reportinfo()[0]), None, report.longrepr[2])
    return report


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    """Add the gate's items (before -k and marker selection run), counted as collected."""
    if (state := _session(config)) is not None:
        items.extend(session.genitems(GateChecks.from_parent(session, **_node_names(state.source, config))))


def _node_names(source: Path, config: pytest.Config) -> dict[str, str]:
    """The thresholds file as the collector's name and node id: relative to the rootdir when inside it."""
    try:
        label = source.relative_to(config.rootpath).as_posix()
    except ValueError:
        label = str(source)
    return {"name": label, "nodeid": label}


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """On the controller: write the reports and a requested baseline. A refused baseline or an error
    while writing is exit code 4, Ctrl-C 2; its line ends the terminal summary."""
    if (controller := _scoring(session.config)) is None:
        return
    outputs = controller.outputs()
    try:
        delivery = controller.finish(interrupted=exitstatus == pytest.ExitCode.INTERRUPTED)
    except (KeyboardInterrupt, Exception) as exc:
        session.exitstatus, line = _fault(session.config, exc, outputs, "while writing the reports")
        controller.lines = (*controller.lines, line)
        return
    if delivery is not None and delivery.refused is not None:
        session.exitstatus = pytest.ExitCode.USAGE_ERROR


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """Print the verdict table and where the report went."""
    if (state := _session(config)) is not None and (lines := state.summary()):
        from qa_gate.report.terminal import with_other_tests
        terminalreporter.section("mm-gate")
        for line in with_other_tests(lines, terminalreporter.stats, state.planned):
            terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def mm_gate_results(request: pytest.FixtureRequest) -> GateResults:
    """The config, scored run and verdict (``GateResults``) for tests of your own; skips without ``--mm-gate``.
    On an xdist worker they are the controller's, read from the file it handed over."""
    state = _session(request.config)
    results = None if state is None else state.results()
    if results is None:
        pytest.skip("mm-gate is off: run with --mm-gate")
    return results
