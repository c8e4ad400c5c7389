"""Numbers and booleans in a manifest's text fields: read as text where that gives back what was written.

YAML turns some bare answers into other types. The YAML manifest is read in qa_gate's
one YAML dialect (``config.values.load_yaml``, as ``thresholds.yaml`` is): booleans
as YAML 1.2 has them (only ``true``/``false`` in any of three cases), so ``yes``,
``no``, ``on`` and ``off`` stay text; golden's layer on top keeps how each number
was written (``as_written``; the JSON Lines reader does the same). In the text fields
(``question``, ``question_type``, ``answer_type``, ``text``, the items of ``answers``,
``choices`` and ``labels``, and the top-level ``labels``) an integer becomes its text
(``2`` -> ``"2"``) and a boolean ``"true"``/``"false"``, as tags do. A float, or an
integer not written as plain decimal (``1:30`` is 90 in YAML 1.1, ``007`` is 7), is
refused with a hint to quote it: converting it back could not give what was written.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from qa_gate.golden.problems import ProblemSink


class _WrittenInt(int):
    """An integer with the text the manifest wrote it as (``as_written``)."""

    written: str


class _WrittenFloat(float):
    """A float with the text the manifest wrote it as (``as_written``)."""

    written: str


def as_written(value: float, text: str) -> float:
    """``value``, a number a manifest reader read from ``text``, remembering ``text`` (an int stays an int).

    It still compares and computes as the number; a text field that holds it can
    then quote back what the manifest wrote (``1:30``, ``1.10``) rather than ``90`` or ``1.1``.
    """
    kept = _WrittenInt(value) if isinstance(value, int) else _WrittenFloat(value)
    kept.written = text
    return kept


TEXT_FIELDS = ("question", "question_type", "answer_type", "text", "answer")
TEXT_LISTS = ("answers", "choices", "labels", "objects")
"""Sample fields (and lists of them) whose integers and booleans are read as text."""
REFUSED = object()  # a number in a text field that cannot become text as written; already reported


def as_text(value: Any, where: str, problems: ProblemSink, language: str = "YAML") -> Any:
    """``value`` from a text field: a boolean as ``"true"``/``"false"``, a plain decimal integer as its
    digits; a float or an oddly written integer is reported and ``REFUSED``; anything else unchanged."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if not isinstance(value, (int, float)):
        return value
    written = getattr(value, "written", None) or str(value)
    if isinstance(value, int) and written == str(int(value)):
        return written
    problems.add(f'{where}: {written} is a {language} number; quote it ("{written}") so it stays as written')
    return REFUSED


def with_texts(entry: Mapping[str, Any], where: str, problems: ProblemSink,
               language: str) -> tuple[dict[str, Any], set[str]]:
    """``entry`` with the numbers and booleans of its text fields made text, and the fields refused."""
    refused: set[str] = set()
    if all(type(entry.get(key, "")) is str for key in TEXT_FIELDS) and all(
            type(items) is not list or all(type(x) is str for x in items) for items in map(entry.get, TEXT_LISTS)):
        return dict(entry), refused  # every text already text: the common case, checked at C speed
    fixed = dict(entry)
    for key in TEXT_FIELDS:
        if key in fixed:
            fixed[key] = as_text(fixed[key], f"{where}: {key}", problems, language)
            if fixed[key] is REFUSED:
                refused.add(key)
    for key in TEXT_LISTS:
        if isinstance(fixed.get(key), list) and not all(type(x) is str for x in fixed[key]):
            fixed[key] = [as_text(x, f"{where}: {key}[{j}]", problems, language) for j, x in enumerate(fixed[key])]
            if any(x is REFUSED for x in fixed[key]):
                refused.add(key)
    return fixed, refused
