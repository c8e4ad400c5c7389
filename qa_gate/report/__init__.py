"""The Markdown report: a verdict rendered for job summaries, PR comments and files."""

from qa_gate.report.escape import md_code, md_escape
from qa_gate.report.render import append_step_summary, render_markdown, write_report

__all__ = ["append_step_summary", "md_code", "md_escape", "render_markdown", "write_report"]
