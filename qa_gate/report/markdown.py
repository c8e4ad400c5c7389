"""Render a verdict to GitHub-flavoured Markdown and deliver it (file, job summary).

Layout lives in ``templates/report.md.j2``; :mod:`qa_gate.report.views` decides order
(failures first, worst slices first) and formats numbers. User text reaches the template
raw and is escaped there by the ``md`` filter, so escaping happens in exactly one place.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import fields
from functools import lru_cache
from pathlib import Path

import jinja2

from qa_gate.files import write_atomic
from qa_gate.report.escape import md_code, md_escape
from qa_gate.report.formatting import (  # noqa: F401
    MINUS,
    MISSING,
    format_delta,
    format_number,
    format_rule,
)
from qa_gate.report.samples import NO_ANSWERS
from qa_gate.report.view import ReportView, report_view
from qa_gate.verdict.checks import Verdict

TEMPLATE = "report.md.j2"
TEMPLATES_DIR = Path(__file__).parent / "templates"
_BLANK_RUNS = re.compile(r"\n{3,}")
STEP_SUMMARY_LIMIT = 1024 * 1024
"""GitHub refuses a job summary larger than 1 MiB per step."""


def template_context(view: ReportView) -> dict[str, object]:
    """The view's fields as template variables (nested views stay objects)."""
    return {f.name: getattr(view, f.name) for f in fields(view)}


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
        autoescape=False,  # Markdown, not HTML: every user string goes through `md` instead
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["md"] = md_escape
    env.filters["code"] = md_code
    return env


def markdown_environment() -> jinja2.Environment:
    """The jinja2 environment of the Markdown templates (the report and the PR comment)."""
    return _environment()


def render_markdown(verdict: Verdict, answers: Mapping[tuple[str, str], str] = NO_ANSWERS) -> str:
    """The verdict as a GitHub-flavoured Markdown report, bar changes first, then failures, everywhere.

    ``answers``: the most common human answer of each VQA sample by (suite name, sample id).
    """
    return tidy(_environment().get_template(TEMPLATE).render(template_context(report_view(verdict, answers))))


def tidy(text: str) -> str:
    """Rendered Markdown with runs of blank lines cut to one, ending in one newline."""
    return _BLANK_RUNS.sub("\n\n", text).strip("\n") + "\n"


def write_report(verdict: Verdict, path: Path, answers: Mapping[tuple[str, str], str] = NO_ANSWERS) -> Path:
    """Render ``verdict`` and write it to ``path`` atomically (see :func:`write_atomic`)."""
    return write_atomic(path, render_markdown(verdict, answers).encode("utf-8"))


def append_step_summary(markdown: str, environ: Mapping[str, str] = os.environ) -> Path | None:
    """Append ``markdown`` to the file named by ``$GITHUB_STEP_SUMMARY``; ``None`` when unset.

    GitHub rejects a step summary over 1 MiB, so a longer report is cut at a line
    boundary with a note pointing to the full report.
    """
    target = environ.get("GITHUB_STEP_SUMMARY")
    if not target:
        return None
    path = Path(target)
    used = path.stat().st_size if path.exists() else 0
    data = markdown.rstrip("\n").encode("utf-8") + b"\n\n"
    room = STEP_SUMMARY_LIMIT - used
    if len(data) > room:
        note = "\n\n_Report truncated: GitHub limits a job summary to 1 MiB. See the full report file._\n\n"
        cut = max(room - len(note.encode("utf-8")), 0)
        head = data[:cut]
        head = head[: head.rfind(b"\n") + 1] if b"\n" in head else b""
        data = head + note.encode("utf-8")
    with path.open("ab") as handle:
        handle.write(data)
    return path
