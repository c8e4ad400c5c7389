"""The golden manifest's schema: what a sample may hold and how each field is checked.

A sample has an ``id`` and an ``image``; every other field serves a task family:
``caption``/``references`` (alignment, retrieval, captioning), ``question``,
``answers``, ``question_type``, ``answer_type`` and ``choices`` (VQA), ``labels``
(multilabel classification, drawn from the manifest's top-level ``labels``),
``text`` (OCR), ``answer`` (one reference answer: POPE's yes/no) and ``objects``
(CHAIR). Whether a family's metric finds what it needs is checked later, against the
configured metrics (``golden.needs``); here each field only has to be well-formed.
The :class:`Sample` itself lives in ``golden.sample``.

The manifest is ``manifest.yaml`` (small hand-written suites) or ``manifest.jsonl`` (one sample a
line; ``golden.jsonl``); both hold the same fields, checked here, and read numbers and words in text
fields alike (``golden.written``).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, NamedTuple

from qa_gate.errors import did_you_mean, one_of
from qa_gate.golden.problems import ProblemSink
from qa_gate.golden.sample import Sample, id_problem
from qa_gate.golden.written import REFUSED, as_text, with_texts

MANIFEST = "manifest.yaml"
MANIFEST_JSONL = "manifest.jsonl"
MANIFESTS = (MANIFEST, MANIFEST_JSONL)
"""The manifest file names; a suite folder holds exactly one of them."""
TOP_KEYS = ("version", "description", "labels", "kind", "samples")
KINDS = ("golden", "traffic")
"""A manifest's ``kind``: ``golden`` (labelled; the default) or ``traffic`` (real traffic without ground truth,
for shadow comparisons: a sample needs only ``id``, ``image`` and its prompt fields)."""
TYPE_TAGS = ("question_type", "answer_type")
"""Sample fields that also become tags, so slices and slice rules can use them."""


def _text(v: Any) -> bool:
    return isinstance(v, str) and bool(v.strip())


def _texts(v: Any) -> bool:
    return isinstance(v, list) and all(_text(x) for x in v)


def _unique_texts(v: Any) -> bool:
    return _texts(v) and len(set(v)) == len(v)


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
    "answer": (_text, "a non-empty string (the one reference answer: POPE's yes or no)"),
    "objects": (_texts, "a list of non-empty strings (the objects in the image, for CHAIR)"),
}
SAMPLE_KEYS = ("id", *_FIELDS)
_KNOWN = frozenset(SAMPLE_KEYS)


def show(value: object) -> str:
    """A bad value as an error message shows it: short repr (a YAML number as written) and type."""
    text = getattr(value, "written", None) or repr(value)
    text = text if len(text) <= 80 else text[:80] + "…"
    kind = next(t for t in type(value).__mro__ if t.__module__ == "builtins").__name__  # int, not _WrittenInt
    return "nothing" if value is None else f"{text} ({kind})"


def _tags(entry: Mapping[str, Any], where: str, problems: ProblemSink) -> dict[str, str] | None:
    """The sample's tags as strings, with ``question_type``/``answer_type`` added."""
    given = entry.get("tags") or {}
    if all(type(v) is str for v in given.values()):
        tags = dict(given)
    else:
        tags = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in given.items()}
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


class Place(NamedTuple):
    """Where a manifest entry was read, as messages name it: ``manifest.yaml: samples[3]`` or
    ``manifest.jsonl line 5``; once its id is known, ``... sample 'x' (samples[3])`` or ``... line 5: sample 'x'``."""

    source: str  # the manifest's file name
    at: int  # samples[at] in YAML, the line number in JSON Lines
    lines: bool = False  # True in a JSON Lines manifest

    @property
    def language(self) -> str:
        """The format whose numbers a text field refuses: ``YAML`` or ``JSON``."""
        return "JSON" if self.lines else "YAML"

    def bare(self) -> str:
        """The entry before its id is known."""
        return f"{self.source} line {self.at}" if self.lines else f"{self.source}: samples[{self.at}]"

    def of(self, sample_id: str) -> str:
        """The entry named by its id."""
        if self.lines:
            return f"{self.source} line {self.at}: sample {sample_id!r}"
        return f"{self.source}: sample {sample_id!r} (samples[{self.at}])"

    def first_use(self) -> str:
        """How a later duplicate points back here: ``by samples[3]`` or ``on line 5``."""
        return f"on line {self.at}" if self.lines else f"by samples[{self.at}]"


def _sample_id(entry: Mapping[str, Any], place: Place, problems: ProblemSink, seen: dict[str, str]) -> str | None:
    """The entry's id, NFC-normalised and recorded in ``seen`` (id -> first use), or ``None`` after reporting."""
    where, raw_id = place.bare(), entry.get("id")
    if isinstance(raw_id, (int, float)) and not isinstance(raw_id, bool):
        raw_id = as_text(raw_id, f"{where}: id", problems, place.language)  # 007 or 1:30 would become 7 or 90
        if raw_id is REFUSED:
            return None
    sample_id = None if isinstance(raw_id, bool) or not isinstance(raw_id, (str, int)) else str(raw_id)
    invisible = None if sample_id is None else id_problem(sample_id)
    if not sample_id or not sample_id.strip():
        problems.add(f"{where}: field 'id' must be a non-empty string, got {show(raw_id)}")
        return None
    if invisible is not None:
        problems.add(f"{where}: id {sample_id!r} {invisible}")
        return None
    sample_id = unicodedata.normalize("NFC", sample_id)
    if sample_id in seen:
        problems.add(f"{place.of(sample_id)}: duplicate id {sample_id!r}, already used {seen[sample_id]}; "
                     "expected ids unique in the suite")
    seen.setdefault(sample_id, place.first_use())
    return sample_id


def parse_sample(place: Place, entry: Any, labels: tuple[str, ...] | None, problems: ProblemSink,
                 seen: dict[str, str], check_image: Callable[[str, str], Path | None]) -> Sample | None:
    """One manifest entry as a ``Sample``, or ``None`` after reporting every problem with it.

    ``labels`` is the suite's label set (``None`` when the manifest declares none); ``seen`` maps each
    id met so far to its first use; ``check_image(label, image)`` resolves the image path or reports why
    it is refused.
    """
    if not isinstance(entry, dict):
        problems.add(f"{place.bare()}: expected a mapping with 'id' and 'image', got {show(entry)}")
        return None
    sample_id = _sample_id(entry, place, problems, seen)
    where = place.bare() if sample_id is None else place.of(sample_id)
    label = where if sample_id is None else f"sample {sample_id!r}"
    if not _KNOWN.issuperset(entry):
        for key in entry:
            if key not in _KNOWN:
                problems.add(f"{where}: unknown field {key!r}{did_you_mean(str(key), SAMPLE_KEYS)}; "
                             f"expected {one_of(SAMPLE_KEYS)}")
    entry, refused = with_texts(entry, where, problems, place.language)
    bad = bool(refused)
    for key, (valid, expected) in _FIELDS.items():
        if key in refused:
            continue
        if (key == "image" or entry.get(key) is not None) and not valid(entry.get(key)):
            hint = "; a list of human answers goes in 'answers'" if key == "answer" and isinstance(
                entry.get(key), list) else ""
            problems.add(f"{where}: field {key!r} must be {expected}, got {show(entry.get(key))}{hint}")
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
                  tuple(entry.get("choices") or ()), sample_labels, entry.get("text"), entry.get("answer"),
                  entry.get("objects"))


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


@dataclass(frozen=True)
class Head:
    """What a manifest says beside its samples: its description and the suite's label set."""

    description: str | None = None
    labels: tuple[str, ...] | None = None
    """``None`` when the manifest declares no label set."""
    kind: str = "golden"
    """``golden`` or ``traffic`` (:data:`KINDS`)."""


def parse_head(data: Mapping[str, Any], keys: tuple[str, ...], version_key: str, where: str,
               problems: ProblemSink, language: str = "YAML") -> Head:
    """The manifest's top-level keys (``keys`` allowed; ``version_key`` must be 1) as a :class:`Head`."""
    for key in data:
        if key not in keys:
            problems.add(f"{where}: unknown key {key!r}{did_you_mean(str(key), keys)}; expected {one_of(keys)}")
    version = data.get(version_key)
    if version != 1 or isinstance(version, bool):
        problems.add(f"{where}: {version_key!r} must be 1, got {show(version)}")
    description = data.get("description")
    if not isinstance(description, (str, type(None))):
        problems.add(f"{where}: 'description' must be a string, got {show(description)}")
        description = None
    labels: tuple[str, ...] | None = None
    if data.get("labels") is not None:
        given = data["labels"]
        if isinstance(given, list):
            given = [as_text(x, f"{where}: labels[{j}]", problems, language) for j, x in enumerate(given)]
        if isinstance(given, list) and any(x is REFUSED for x in given):
            labels = ()
        elif _unique_texts(given) and given:
            labels = tuple(given)
        else:
            problems.add(f"{where}: 'labels' must be a non-empty list of distinct label names, got {show(given)}")
            labels = ()
    kind = data.get("kind", "golden")
    if kind not in KINDS:
        hint = did_you_mean(kind, KINDS) if isinstance(kind, str) else ""
        problems.add(f"{where}: 'kind' must be {one_of(KINDS)}, got {show(kind)}{hint}")
        kind = "golden"
    return Head(description, labels, kind)


def sample_entry(sample: Sample) -> dict[str, Any]:
    """The manifest entry that reads back as ``sample``: fields in schema order, absent ones left out,
    ``question_type``/``answer_type`` as fields (they are also tags), every tag value as text."""
    tags = dict(sample.tags)
    types = {name: tags.pop(name) for name in TYPE_TAGS if _text(tags.get(name))}
    entry: dict[str, Any] = {"id": sample.id, "image": sample.image}
    if sample.caption is not None:
        entry["caption"] = sample.caption
    if sample.references:
        entry["references"] = list(sample.references)
    if tags:
        entry["tags"] = tags
    if sample.question is not None:
        entry["question"] = sample.question
    if sample.answers is not None:
        entry["answers"] = list(sample.answers)
    entry.update(types)
    if sample.choices:
        entry["choices"] = list(sample.choices)
    if sample.labels is not None:
        entry["labels"] = list(sample.labels)
    if sample.text is not None:
        entry["text"] = sample.text
    if sample.answer is not None:
        entry["answer"] = sample.answer
    if sample.objects is not None:
        entry["objects"] = list(sample.objects)
    return entry
