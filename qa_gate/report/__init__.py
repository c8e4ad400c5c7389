"""The reports: a verdict rendered as Markdown (job summaries, PR comments, files) and as HTML."""

from qa_gate.report.escape import md_code, md_escape
from qa_gate.report.html import render_html, write_html
from qa_gate.report.markdown import append_step_summary, render_markdown, write_report

__all__ = ["append_step_summary", "md_code", "md_escape", "render_html", "render_markdown", "write_html",
           "write_report"]
