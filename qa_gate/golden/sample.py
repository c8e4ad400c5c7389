"""A golden sample as the suite holds it, and which ids are refused (``qa_gate.golden.manifest`` checks the rest)."""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any


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
    answer: str | None = None
    """The one reference answer where a task has one (POPE: ``yes`` or ``no``)."""
    objects: tuple[str, ...] | None = None
    """The objects in the image (CHAIR's ground truth); ``None`` when the manifest does not give them."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "references", tuple(self.references))
        object.__setattr__(self, "choices", tuple(self.choices))
        for name in ("answers", "labels", "objects"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, tuple(getattr(self, name)))
        if not isinstance(self.tags, MappingProxyType):
            object.__setattr__(self, "tags", MappingProxyType(dict(self.tags)))

    def __reduce__(self) -> tuple[Any, ...]:  # a mappingproxy cannot be pickled
        return (Sample, (self.id, self.image, self.image_path, self.caption, self.references, dict(self.tags),
                         self.question, self.answers, self.choices, self.labels, self.text, self.answer,
                         self.objects))


REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
"""Unicode categories an id may not hold: control, format (zero-width, bidi), surrogate, private-use,
unassigned, line and paragraph separators: ids differing only by such a character would look alike."""


def id_problem(sample_id: str) -> str | None:
    """Why ``sample_id`` is refused (it holds a control or invisible character), as the end of a message."""
    if sample_id.isascii() and sample_id.isprintable():  # no refused category among printable ASCII
        return None
    for position, char in enumerate(sample_id):
        if unicodedata.category(char) in REFUSED_CATEGORIES:
            name = unicodedata.name(char, "a control character")
            return (f"holds U+{ord(char):04X} {name} at position {position}; expected an id without control, "
                    "format or zero-width characters (ids are compared after NFC normalisation)")
    return None
