"""Reading rendered Markdown the way GitHub shows it: table rows split into cells, escapes removed."""

from __future__ import annotations

import re


def table_cells(row: str) -> list[str]:
    """Split a GFM table row into stripped cells the way GitHub does: ``\\|`` does not split."""
    cells, current, escaped = [], "", False
    for ch in row.strip()[1:]:
        if escaped:
            current, escaped = current + ch, False
        elif ch == "\\":
            current, escaped = current + ch, True
        elif ch == "|":
            cells.append(current.strip())
            current = ""
        else:
            current += ch
    return cells


def unescape(cell: str) -> str:
    """What GitHub shows for an escaped cell: backslash escapes and zero-width spaces removed."""
    return re.sub(r"\\(.)", r"\1", cell.replace("&#8203;", ""))


def table_rows(markdown: str, heading: str) -> list[list[str]]:
    """The data rows of the first table under ``heading`` (header and delimiter rows dropped)."""
    lines = markdown.splitlines()
    start = lines.index(heading)
    rows: list[list[str]] = []
    seen = 0
    for line in lines[start + 1:]:
        if line.startswith("#"):
            break
        if line.startswith("|"):
            seen += 1
            if seen > 2:
                rows.append(table_cells(line))
        elif seen:
            break
    return rows
