"""``mm-gate check-verdict``: does the verdict file agree with itself and with pytest's JUnit XML?

pytest's exit status can be rewritten by the code it runs (a ``conftest.py`` whose ``trylast``
``pytest_sessionfinish`` sets ``session.exitstatus = 0``); the verdict file and the JUnit XML are
two records of the same checks. This module reads both without importing torch or pytest, and
lists every disagreement: a gate check missing from the JUnit, reported there with another outcome,
or a verdict whose ``passed`` contradicts its own checks. Each gate item's testcase carries the
check id as the ``mm_gate_check`` property; a JUnit without properties is matched by pytest's
testcase names (``classname`` ``suite.metric``, ``name`` the rule kind, as pytest 9 writes them).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from qa_gate.errors import first_line
from qa_gate.verdict.record import VerdictFile, VerdictFileError, read

PROPERTY = "mm_gate_check"
"""The JUnit testcase property (``record_property``-style ``user_properties``) naming a gate item's check id."""
SLACK = timedelta(seconds=120)
"""How long after the JUnit's session ended the verdict file may have been written (the gate delivers at the end)."""


@dataclass(frozen=True)
class Testcase:
    """One ``<testcase>`` of the JUnit XML: how pytest named it, its outcome, and its gate check id, if any."""

    classname: str
    name: str
    outcome: str
    check: str | None

    def ids(self) -> set[str]:
        """The check ids this testcase can be: its property, else the ids its names spell."""
        if self.check is not None:
            return {self.check}
        found = {self.name} if "::" in self.name else set()  # older pytest: the whole id as the name
        if self.classname:
            suite, _, metric = self.classname.rpartition(".")  # metric names hold no '.', suite names may
            found.add(f"{suite}::{metric}::{self.name}" if suite else f"{metric}::{self.name}")
        return found


@dataclass(frozen=True)
class JUnit:
    """The testcases of a JUnit XML file, and when its (first) test suite started and how long it ran."""

    path: Path
    testcases: tuple[Testcase, ...]
    started: datetime | None
    seconds: float | None


def _outcome(case: ET.Element) -> str:
    tags = {child.tag for child in case}
    return "failed" if tags & {"failure", "error"} else "skipped" if "skipped" in tags else "passed"


def _property(case: ET.Element) -> str | None:
    for prop in case.iter("property"):
        if prop.get("name") == PROPERTY:
            return prop.get("value")
    return None


def read_junit(path: Path) -> JUnit:
    """Parse pytest's ``--junitxml`` file; :class:`VerdictFileError` when it is missing or not JUnit XML."""
    try:
        root = ET.parse(path).getroot()
    except FileNotFoundError:
        raise VerdictFileError(f"{path}: no JUnit XML file (pytest writes it with --junitxml {path})") from None
    except (OSError, ET.ParseError) as exc:
        raise VerdictFileError(f"{path}: not readable JUnit XML ({first_line(exc)})") from None
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite")) if root.tag == "testsuites" else []
    if not suites:
        raise VerdictFileError(f"{path}: not JUnit XML (the root element is <{root.tag}>, expected <testsuites> "
                               "or <testsuite>)")
    cases = tuple(Testcase(c.get("classname", ""), c.get("name", ""), _outcome(c), _property(c))
                  for suite in suites for c in suite.iter("testcase"))
    started, seconds = None, None
    try:
        stamp = suites[0].get("timestamp")
        if stamp:
            when = datetime.fromisoformat(stamp)
            started = when if when.tzinfo is not None else when.astimezone()  # naive: the runner's local time
        seconds = float(suites[0].get("time", "nan"))
    except ValueError:
        started, seconds = None, None
    return JUnit(Path(path), cases, started, seconds if seconds == seconds else None)


def self_disagreements(verdict: VerdictFile) -> list[str]:
    """A verdict file whose ``passed`` or counts contradict its own checks."""
    failed = [c.id for c in verdict.checks if c.outcome == "failed"]
    out = []
    if verdict.passed and failed:
        out.append(f"the verdict file says passed, but {len(failed)} of its checks failed: {', '.join(failed[:5])}")
    if not verdict.passed and not failed:
        out.append("the verdict file says failed, but none of its checks failed")
    if verdict.counts and verdict.counts.get("checks") != len(verdict.checks):
        out.append(f"the verdict file counts {verdict.counts.get('checks')} checks but lists {len(verdict.checks)}")
    return out


def _fresh(verdict: VerdictFile, junit: JUnit) -> list[str]:
    """The verdict file must come from the session that wrote the JUnit, not from an earlier run."""
    if junit.started is None:
        return []
    written = verdict.created.astimezone(timezone.utc)
    start = junit.started.astimezone(timezone.utc)
    if written < start - timedelta(seconds=5):
        return [f"the verdict file was written {written.isoformat(timespec='seconds')}, before the pytest session "
                f"of {junit.path} started ({start.isoformat(timespec='seconds')}): it is left from an earlier run"]
    if junit.seconds is not None and written > start + timedelta(seconds=junit.seconds) + SLACK:
        return [f"the verdict file was written {written.isoformat(timespec='seconds')}, after the pytest session of "
                f"{junit.path} ended: it is not that session's verdict"]
    return []


def disagreements(verdict: VerdictFile, junit: JUnit | None) -> list[str]:
    """One line per disagreement between the verdict file, itself, and (when given) the JUnit XML."""
    out = self_disagreements(verdict)
    if junit is None:
        return out
    out += _fresh(verdict, junit)
    wanted = {c.id: c for c in verdict.checks}
    seen: dict[str, list[str]] = {}
    for case in junit.testcases:
        for check_id in ({case.check} if case.check is not None else case.ids() & wanted.keys()):
            seen.setdefault(check_id, []).append(case.outcome)
    for check in verdict.checks:
        found = seen.get(check.id)
        if not found:
            out.append(f"{check.id}: the verdict says {check.outcome}, but {junit.path} has no such testcase")
        elif any(o != check.outcome for o in found):
            said = " and ".join(sorted(set(found)))
            out.append(f"{check.id}: the verdict says {check.outcome}, {junit.path} says {said}"
                       + (f" ({check.message})" if check.outcome == "failed" and check.message else ""))
    out += [f"{check_id}: {junit.path} reports this gate check ({', '.join(outcomes)}), the verdict file has no "
            "such check" for check_id, outcomes in seen.items() if check_id not in wanted]
    return out


def gate_testcases(junit: JUnit, ids: Iterable[str]) -> int:
    """How many of the JUnit's testcases are the gate checks ``ids``."""
    wanted = set(ids)
    return sum(bool(case.ids() & wanted) for case in junit.testcases)


def check_verdict(verdict_path: Path, junit_path: Path | None) -> tuple[bool, list[str]]:
    """``mm-gate check-verdict``: whether the verdict passed and everything agrees, and the lines to print.

    Raises :class:`VerdictFileError` when a file is missing or unreadable, or the run did not finish.
    """
    verdict = read(verdict_path)
    junit = None if junit_path is None else read_junit(junit_path)
    found = disagreements(verdict, junit)
    lines = [f"mm-gate check-verdict: DISAGREE  {line}" for line in found]
    lines += [f"mm-gate check-verdict: bar change: {line}" for line in verdict.bar_changes]
    lines.append(f"mm-gate check-verdict: {verdict.summary()}")
    if junit is not None:
        matched = gate_testcases(junit, (c.id for c in verdict.checks))
        agree = "agrees with" if not found else f"{len(found)} disagreement(s) with"
        lines.append(f"mm-gate check-verdict: the verdict file {agree} {junit.path} ({matched} gate testcases of "
                     f"{len(junit.testcases)})")
    ok = verdict.passed and not found
    lines.append(f"mm-gate check-verdict: {'PASSED' if ok else 'FAILED'}")
    return ok, lines
