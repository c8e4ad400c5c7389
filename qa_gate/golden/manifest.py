"""The golden manifest's schema: what a sample may hold and how each field is checked.

A sample has an ``id`` and an ``image``; every other field serves a task family:
``caption``/``references`` (alignment, retrieval, captioning), ``question``,
``answers``, ``question_type``, ``answer_type`` and ``choices`` (VQA), ``labels``
(multilabel classification, drawn from the manifest's top-level ``labels``) and
``text`` (OCR). Whether a family's metric finds what it needs is checked later,
against the configured metrics (``runner.check_samples``); here each field only
has to be well-formed.

YAML turns some bare answers into other types. The manifest is read in qa_gate's
one YAML dialect (``config.values.YamlLoader``, as ``thresholds.yaml`` is): booleans
as YAML 1.2 has them (only ``true``/``false`` in any of three cases), so ``yes``,
``no``, ``on`` and ``off`` stay text; golden's layer on top keeps how each number
was written (``as_written``). In the text fields (``question``, ``question_type``,
``answer_type``, ``text``, the items of ``answers``, ``choices`` and ``labels``, and
the top-level ``labels``) an integer becomes its text (``2`` -> ``"2"``) and a
boolean ``"true"``/``"false"``, as tags do. A float, or an integer not written as
plain decimal (``1:30`` is 90 in YAML 1.1, ``007`` is 7), is refused with a hint
to quote it: converting it back could not give what was written.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Protocol

from qa_gate.errors import did_you_mean, one_of

MANIFEST = "manifest.yaml"
TOP_KEYS = ("version", "description", "labels", "samples")
TYPE_TAGS = ("question_type", "answer_type")
"""Sample fields that also become tags, so slices and slice rules can use them."""


def _text(v: Any) -> bool:
    return isinstance(v, str) and bool(v.strip())


def _texts(v: Any) -> bool:
    return isinstance(v, list) and all(_text(x) for x in v)


def _unique_texts(v: Any) -> bool:
    return _texts(v) and len(set(v)) == len(v)


class _WrittenInt(int):
    """A YAML integer with the text it was read from (``as_written``)."""

    written: str


class _WrittenFloat(float):
    """A YAML float with the text it was read from (``as_written``)."""

    written: str


def as_written(value: float, text: str) -> float:
    """``value``, a number the YAML loader read from ``text``, remembering ``text`` (an int stays an int).

    It still compares and computes as the number; a text field that holds it can
    then quote back what the manifest wrote (``1:30``, ``1.10``) rather than ``90`` or ``1.1``.
    """
    kept = _WrittenInt(value) if isinstance(value, int) else _WrittenFloat(value)
    kept.written = text
    return kept


TEXT_FIELDS = ("question", "question_type", "answer_type", "text")
TEXT_LISTS = ("answers", "choices", "labels")
"""Sample fields (and lists of them) whose YAML integers and booleans are read as text."""
_REFUSED = object()  # a number in a text field that cannot become text as written; already reported


def _as_text(value: Any, where: str, problems: ProblemSink) -> Any:
    """``value`` from a text field: a boolean as ``"true"``/``"false"``, a plain decimal integer as its
    digits; a float or an oddly written integer is reported and ``_REFUSED``; anything else unchanged."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if not isinstance(value, (int, float)):
        return value
    written = getattr(value, "written", None) or str(value)
    if isinstance(value, int) and written == str(int(value)):
        return written
    problems.add(f'{where}: {written} is a YAML number; quote it ("{written}") so it stays as written')
    return _REFUSED


def _with_texts(entry: Mapping[str, Any], where: str, problems: ProblemSink) -> tuple[dict[str, Any], set[str]]:
    """``entry`` with the numbers and booleans of its text fields made text, and the fields refused."""
    fixed, refused = dict(entry), set()
    for key in TEXT_FIELDS:
        if key in fixed:
            fixed[key] = _as_text(fixed[key], f"{where}: {key}", problems)
            if fixed[key] is _REFUSED:
                refused.add(key)
    for key in TEXT_LISTS:
        if isinstance(fixed.get(key), list):
            fixed[key] = [_as_text(x, f"{where}: {key}[{j}]", problems) for j, x in enumerate(fixed[key])]
            if any(x is _REFUSED for x in fixed[key]):
                refused.add(key)
    return fixed, refused


_FIELDS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "image": (_text, "a non-empty path relative to the suite folder"),
    "caption": (lambda v: isinstance(v, str), "a string"),
    "references": (_texts, "a list of non-empty strings"),
    "tags": (lambda v: isinstance(v, dict) and all(
        isinstance(k, str) and isinstance(x, (str, int, float, bool)) for k, x in v.items()),
        "a mapping of string names to scalar values"),
    "question": (_text, "a non-empty string"),
    "answers": (_texts, "a list of non-empty strings (the human answers)"),
    "question_type": (_text, "a non-empty string"),
    "answer_type": (_text, "a non-empty string"),
    "choices": (_unique_texts, "a list of distinct non-empty strings (the candidate answers)"),
    "labels": (_unique_texts, "a list of distinct label names from the suite's top-level 'labels'"),
    "text": (lambda v: isinstance(v, str), "a string (the reference transcription)"),
}
SAMPLE_KEYS = ("id", *_FIELDS)


class ProblemSink(Protocol):
    """Where parsing reports what it refuses (``golden._Problems``)."""

    def add(self, message: str) -> None:
        """Record one problem."""
        ...


@dataclass(frozen=True)
class Sample:
    """One golden sample: an image and whichever task fields the suite uses.

    ``answers`` and ``labels`` are ``None`` when the manifest does not give them (an
    empty ``labels`` list is a sample with no positive label).
    """

    id: str
    image: str  # as written in the manifest (posix, relative to the suite folder)
    image_path: Path  # absolute
    caption: str | None = None
    references: tuple[str, ...] = ()
    tags: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}), hash=False)
    question: str | None = None
    answers: tuple[str, ...] | None = None
    choices: tuple[str, ...] = ()
    labels: tuple[str, ...] | None = None
    text: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "references", tuple(self.references))
        object.__setattr__(self, "choices", tuple(self.choices))
        for name in ("answers", "labels"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, tuple(getattr(self, name)))
        if not isinstance(self.tags, MappingProxyType):
            object.__setattr__(self, "tags", MappingProxyType(dict(self.tags)))

    def __reduce__(self) -> tuple[Any, ...]:  # a mappingproxy cannot be pickled
        return (Sample, (self.id, self.image, self.image_path, self.caption, self.references, dict(self.tags),
                         self.question, self.answers, self.choices, self.labels, self.text))


REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
"""Unicode categories an id may not hold: control, format (zero-width, bidi), surrogate, private-use,
unassigned, line and paragraph separators: ids differing only by such a character would look alike."""


def id_problem(sample_id: str) -> str | None:
    """Why ``sample_id`` is refused (it holds a control or invisible character), as the end of a message."""
    for position, char in enumerate(sample_id):
        if unicodedata.category(char) in REFUSED_CATEGORIES:
            name = unicodedata.name(char, "a control character")
            return (f"holds U+{ord(char):04X} {name} at position {position}; expected an id without control, "
                    "format or zero-width characters (ids are compared after NFC normalisation)")
    return None


def show(value: object) -> str:
    """A bad value as an error message shows it: short repr (a YAML number as written) and type."""
    text = getattr(value, "written", None) or repr(value)
    text = text if len(text) <= 80 else text[:80] + "…"
    kind = next(t for t in type(value).__mro__ if t.__module__ == "builtins").__name__  # int, not _WrittenInt
    return "nothing" if value is None else f"{text} ({kind})"


def _tags(entry: Mapping[str, Any], where: str, problems: ProblemSink) -> dict[str, str] | None:
    """The sample's tags as strings, with ``question_type``/``answer_type`` added."""
    tags = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in (entry.get("tags") or {}).items()}
    for name in TYPE_TAGS:
        value = entry.get(name)
        if value is None:
            continue
        if name in tags and tags[name] != value:
            problems.add(f"{where}: tag {name!r} is {tags[name]!r} but field {name!r} is {value!r}; "
                         "expected them equal (the field becomes a tag of that name)")
            return None
        tags[name] = value
    return tags


def parse_sample(i: int, entry: Any, labels: tuple[str, ...] | None, problems: ProblemSink,
                 seen: dict[str, int], check_image: Callable[[str, str], Path | None]) -> Sample | None:
    """One manifest entry as a ``Sample``, or ``None`` after reporting every problem with it.

    ``labels`` is the suite's label set (``None`` when the manifest declares none);
    ``check_image(label, image)`` resolves the image path or reports why it is refused.
    """
    where = f"{MANIFEST}: samples[{i}]"
    if not isinstance(entry, dict):
        problems.add(f"{where}: expected a mapping with 'id' and 'image', got {show(entry)}")
        return None
    raw_id, label = entry.get("id"), where
    if isinstance(raw_id, (int, float)) and not isinstance(raw_id, bool):
        raw_id = _as_text(raw_id, f"{where}: id", problems)  # 007 or 1:30 would silently become 7 or 90
        if raw_id is _REFUSED:
            return None
    sample_id = None if isinstance(raw_id, bool) or not isinstance(raw_id, (str, int)) else str(raw_id)
    invisible = None if sample_id is None else id_problem(sample_id)
    if not sample_id or not sample_id.strip():
        problems.add(f"{where}: field 'id' must be a non-empty string, got {show(raw_id)}")
        sample_id = None
    elif invisible is not None:
        problems.add(f"{where}: id {sample_id!r} {invisible}")
        sample_id = None
    else:
        sample_id = unicodedata.normalize("NFC", sample_id)
        where, label = f"{MANIFEST}: sample {sample_id!r} (samples[{i}])", f"sample {sample_id!r}"
        if sample_id in seen:
            problems.add(f"{where}: duplicate id {sample_id!r}, already used by samples[{seen[sample_id]}]; "
                         "expected ids unique in the suite")
        seen.setdefault(sample_id, i)
    for key in entry:
        if key not in SAMPLE_KEYS:
            problems.add(f"{where}: unknown field {key!r}{did_you_mean(str(key), SAMPLE_KEYS)}; "
                         f"expected {one_of(SAMPLE_KEYS)}")
    entry, refused = _with_texts(entry, where, problems)
    bad = bool(refused)
    for key, (valid, expected) in _FIELDS.items():
        if key in refused:
            continue
        if (key == "image" or entry.get(key) is not None) and not valid(entry.get(key)):
            problems.add(f"{where}: field {key!r} must be {expected}, got {show(entry.get(key))}")
            bad = True
    sample_labels = entry.get("labels")
    if not bad and sample_labels is not None:
        bad = not _check_labels(sample_labels, labels, where, problems)
    image = entry.get("image")
    image_path = check_image(label, image) if _FIELDS["image"][0](image) else None
    tags = None if bad else _tags(entry, where, problems)
    if bad or tags is None or sample_id is None or image_path is None:
        return None
    return Sample(sample_id, image, image_path, entry.get("caption"), tuple(entry.get("references") or ()),
                  MappingProxyType(tags), entry.get("question"), entry.get("answers"),
                  tuple(entry.get("choices") or ()), sample_labels, entry.get("text"))


def _check_labels(given: list[str], labels: tuple[str, ...] | None, where: str, problems: ProblemSink) -> bool:
    if labels is None:
        problems.add(f"{where}: field 'labels' is given but the manifest declares no label set; "
                     "expected a top-level 'labels: [...]' listing every label of the suite")
        return False
    outside = [x for x in given if x not in labels]
    for name in outside:
        problems.add(f"{where}: label {name!r} is not in the suite's label set{did_you_mean(name, labels)}; "
                     f"expected {one_of(labels)}")
    return not outside


def parse_manifest(data: Any, problems: ProblemSink,
                   check_image: Callable[[str, str], Path | None]) -> tuple[list[Sample], tuple[str, ...]]:
    """The manifest's samples and label set (empty when none is declared); problems go to ``problems``."""
    if not isinstance(data, dict):
        problems.add(f"{MANIFEST}: expected a mapping with 'version' and 'samples', got {show(data)}")
        return [], ()
    for key in data:
        if key not in TOP_KEYS:
            hint = did_you_mean(str(key), TOP_KEYS)
            problems.add(f"{MANIFEST}: unknown key {key!r}{hint}; expected {one_of(TOP_KEYS)}")
    version = data.get("version")
    if version != 1 or isinstance(version, bool):
        problems.add(f"{MANIFEST}: 'version' must be 1, got {show(version)}")
    if not isinstance(data.get("description", ""), (str, type(None))):
        problems.add(f"{MANIFEST}: 'description' must be a string, got {show(data['description'])}")
    labels: tuple[str, ...] | None = None
    if data.get("labels") is not None:
        given = data["labels"]
        if isinstance(given, list):
            given = [_as_text(x, f"{MANIFEST}: labels[{j}]", problems) for j, x in enumerate(given)]
        if isinstance(given, list) and any(x is _REFUSED for x in given):
            labels = ()
        elif _unique_texts(given) and given:
            labels = tuple(given)
        else:
            problems.add(f"{MANIFEST}: 'labels' must be a non-empty list of distinct label names, "
                         f"got {show(given)}")
            labels = ()
    raw = data.get("samples")
    if not isinstance(raw, list):
        problems.add(f"{MANIFEST}: 'samples' must be a list of samples, got {show(raw)}")
        return [], labels or ()
    if not raw:
        problems.add(f"{MANIFEST}: the suite has no samples; expected at least one")
    seen: dict[str, int] = {}
    parsed = [parse_sample(i, entry, labels, problems, seen, check_image) for i, entry in enumerate(raw)]
    return [sample for sample in parsed if sample is not None], labels or ()
