"""What a format reader yields: one source sample (:class:`Record`) and where its image comes from."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from qa_gate.errors import GoldenError


@dataclass(frozen=True)
class FileImage:
    """An image file ``rel`` (posix, as the source wrote it) under the image root ``root``."""

    root: Path
    rel: str


@dataclass(frozen=True)
class BytesImage:
    """An image held in the source (a Parquet cell, a tar member): its bytes and a file-name suffix (``.jpg``)."""

    data: bytes
    suffix: str = ""


Image = FileImage | BytesImage


@dataclass(frozen=True)
class Record:
    """One sample as a format reader found it: ``fields`` are manifest fields (``caption``, ``answers``, ...).

    ``image`` is ``None`` when the source names no image for it; ``skip`` is a reason to leave it out
    (``"no caption"``), counted in the import's report like a missing image.
    """

    id: str
    where: str
    """Where it was read, as messages name it: ``captions_val2014.json: images[3]``."""
    image: Image | None
    fields: Mapping[str, Any] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)
    skip: str | None = None


Reader = Callable[[], Iterator[Record]]
"""A format's records, read afresh from its sources at each call (an import may read them twice)."""


@dataclass(frozen=True)
class ReadSettings:
    """What a format reader is told: ``images`` is the image root, ``mapping`` the ``--map`` (field -> column)."""

    sources: Sequence[Path]
    images: Path | None = None
    split: str | None = None
    mapping: Mapping[str, str] = field(default_factory=dict)


def inside(root: Path, rel: str, where: str) -> str:
    """``rel`` as a normal posix path inside ``root``; ``GoldenError`` naming ``where`` when it leaves it."""
    pure = PurePosixPath(rel.replace("\\", "/"))
    if not rel or pure.is_absolute() or PureWindowsPath(rel).drive or ".." in pure.parts:
        raise GoldenError(f"{where}: image {rel!r} leaves the image root {root}; expected a path inside it")
    return pure.as_posix()


def text_id(value: Any, where: str) -> str:
    """A source id as text (``42`` -> ``"42"``); ``GoldenError`` for anything else."""
    if isinstance(value, bool) or not isinstance(value, (str, int)) or not str(value).strip():
        raise GoldenError(f"{where}: id {value!r} is not usable; expected a non-empty string or an integer")
    return str(value)


def need_images(settings: ReadSettings, fmt: str) -> Path:
    """The ``--images`` root, required by ``fmt``."""
    if settings.images is None:
        raise GoldenError(f"golden import {fmt}: --images DIR is required (the folder the source's image paths "
                          "are relative to)")
    if not settings.images.is_dir():
        raise GoldenError(f"golden import {fmt}: --images {settings.images}: not a folder")
    return settings.images
