"""md_escape: user text cannot break a table, inject HTML, ping people or link issues."""

from __future__ import annotations

import pytest

from qa_gate.report.escape import md_code, md_escape


def table_cells(row: str) -> list[str]:
    """Split a GFM table row into cells the way GitHub does: ``\\|`` does not split."""
    cells, current, i = [], "", 0
    body = row.strip()
    body = body[1:] if body.startswith("|") else body
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            current += body[i : i + 2]
            i += 2
            continue
        if ch == "|":
            cells.append(current)
            current = ""
        else:
            current += ch
        i += 1
    if current.strip():
        cells.append(current)
    return cells


@pytest.mark.parametrize("text", ["a|b", "a\\|b", "a\\\\|b", "|||", "x | y | z\\"])
def test_pipes_do_not_add_table_cells(text: str) -> None:
    row = f"| {md_escape(text)} | second |"
    assert len(table_cells(row)) == 2


def test_html_is_entity_escaped() -> None:
    out = md_escape("<script>alert(1)</script> & <img src=x onerror=alert(1)>")
    assert "<" not in out and ">" not in out
    assert "&lt;script&gt;" in out
    assert "&amp;" in out and "& " not in out


def test_existing_entities_are_not_decoded() -> None:
    # "&lt;" typed by a user must show as text, not turn into "<" in the browser.
    assert md_escape("&lt;b&gt;") == "&amp;lt;b&amp;gt;"


def test_mentions_are_neutralised() -> None:
    out = md_escape("thanks @octocat and @github/team")
    assert "@octocat" not in out and "@github" not in out
    assert "@&#8203;octocat" in out


def test_issue_references_are_neutralised() -> None:
    out = md_escape("fixes #12 and org/repo#7")
    assert "#12" not in out and "#7" not in out


@pytest.mark.parametrize("text", ["a\nb", "a\r\nb", "a\rb", "a\tb", "a\u2028b", "a\x85b"])
def test_line_breaks_become_spaces(text: str) -> None:
    out = md_escape(text)
    assert "\n" not in out and "\r" not in out and "\t" not in out
    assert "\u2028" not in out and "\x85" not in out
    assert out.count(" ") == 1


def test_markdown_punctuation_is_escaped() -> None:
    out = md_escape("*bold* _em_ `code` [link](http://x) ![img](y) ~~del~~ $x$")
    for raw in ("*bold*", "_em_", "`code`", "[link]", "![img]", "~~del~~", "$x$"):
        assert raw not in out
    assert md_escape("*") == "\\*"
    assert md_escape("\\") == "\\\\"


@pytest.mark.parametrize(("text", "expected"), [("- item", "\\- item"), ("+ x", "\\+ x"),
                                                 ("1. first", "1\\. first"), ("2) two", "2\\) two")])
def test_leading_list_markers_are_escaped(text: str, expected: str) -> None:
    assert md_escape(text) == expected


def test_long_text_is_truncated_with_ellipsis() -> None:
    out = md_escape("x" * 5000)
    assert len(out) == 200 and out.endswith("…")
    assert md_escape("y" * 5000, limit=10) == "y" * 9 + "…"
    assert md_escape("short", limit=10) == "short"


def test_truncation_counts_characters_before_escaping() -> None:
    # Cutting after escaping could split "&lt;" into "&l", which renders as garbage.
    out = md_escape("<" * 50, limit=10)
    assert out == "&lt;" * 9 + "…"


def test_bidi_and_control_characters_are_dropped() -> None:
    assert md_escape("abc\u202edef\x00\x1b") == "abcdef"


def test_non_strings_and_none() -> None:
    assert md_escape(None) == ""
    assert md_escape(0.5) == "0.5"
    assert md_escape("1.5 apples") == "1.5 apples"  # not a list marker: no space after "1."


def test_md_code_keeps_plain_hashes_in_code_spans_and_escapes_the_rest() -> None:
    assert md_code("3f2a9c") == "`3f2a9c`"
    assert md_code("torch 2.5.1+cu121") == "torch 2.5.1+cu121"  # space: not code-safe
    assert md_code("a`b|c") == "a\\`b\\|c"
    assert md_code("") == ""
