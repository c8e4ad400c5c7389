"""Escaping user text for GitHub-flavoured Markdown: table cells, HTML, mentions, issue links.

Everything a user controls (captions, sample ids, suite labels, tag values, checkpoint
paths, metric definitions, messages) reaches the report through :func:`md_escape`.
The result is one line of inline text that

- cannot open or close a table cell (``|`` becomes ``\\|``, newlines become spaces),
- cannot inject HTML (``&``, ``<``, ``>`` become entities),
- cannot format, link or embed (Markdown punctuation is backslash-escaped),
- cannot ping anyone or link an issue (a zero-width space follows ``@`` and ``#``),
- cannot reorder the line around it (bidirectional controls are dropped).
"""

from __future__ import annotations

import re

ELLIPSIS = "…"
ZERO_WIDTH_SPACE = "&#8203;"

# Control characters other than whitespace, and the bidirectional overrides and isolates
# ("Trojan Source") that make text display in an order other than its logical one.
_INVISIBLE = re.compile(r"[\x00-\x08\x0e-\x1f\x7f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_WHITESPACE = re.compile(r"\s+")  # includes \r, \n, \t, \v, \f, \x85, \u2028, \u2029
# At the start of a line these would open a list or a block quote even inside a list item.
_LEADING_MARKER = re.compile(r"^(\d{1,9})([.)])(?= |$)|^([-+])")

_CHARS: dict[int, str] = {
    ord("&"): "&amp;",
    ord("<"): "&lt;",
    ord(">"): "&gt;",
    ord("@"): "@" + ZERO_WIDTH_SPACE,
    ord("#"): "\\#" + ZERO_WIDTH_SPACE,
    **{ord(c): "\\" + c for c in "\\|`*_[]!~$"},
}

# ASCII-only text that is safe verbatim inside a code span (hashes, versions, ids).
_CODE_SAFE = re.compile(r"[A-Za-z0-9._:/+=,-]+")


def one_line(text: object, limit: int = 200) -> str:
    """``text`` as a single trimmed line of at most ``limit`` characters, invisible controls dropped.

    Not escaped: the HTML report applies this before jinja2's autoescape.
    """
    raw = "" if text is None else str(text)
    raw = _INVISIBLE.sub("", raw)
    raw = _WHITESPACE.sub(" ", raw).strip()
    limit = max(int(limit), 1)
    if len(raw) > limit:
        raw = raw[: limit - 1].rstrip() + ELLIPSIS
    return raw


def md_escape(text: object, limit: int = 200) -> str:
    """Make ``text`` safe as inline Markdown, in a table cell and against HTML.

    Newlines, carriage returns and tabs become spaces; text longer than ``limit``
    characters (counted before escaping) is cut and ends with an ellipsis; ``None``
    becomes the empty string. Used as the ``md`` filter of the report templates.
    """
    line = one_line(text, limit)
    marker = _LEADING_MARKER.match(line)
    if marker is not None:
        if marker.group(1) is not None:
            head = f"{marker.group(1)}\\{marker.group(2)}"
        else:
            head = "\\" + marker.group(3)
        return head + line[marker.end():].translate(_CHARS)
    return line.translate(_CHARS)


def md_code(text: object, limit: int = 80) -> str:
    """``text`` as a code span when it is plain ASCII (a hash, a version), else ``md_escape``.

    A code span shows its content verbatim, so only characters that cannot close it,
    split a table cell or form HTML are allowed inside one.
    """
    line = one_line(text, limit)
    if line and _CODE_SAFE.fullmatch(line):
        return f"`{line}`"
    return md_escape(line, limit)
