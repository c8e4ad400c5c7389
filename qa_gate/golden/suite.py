"""Golden suites: a manifest (``manifest.yaml`` or ``manifest.jsonl``) and assets, every file pinned by ``SHA256SUMS``.

Loading checks the manifest, that no image path leaves the folder and every file's sha256, and
raises one ``GoldenError`` listing the problems. PIL and yaml are imported lazily.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import TYPE_CHECKING

from qa_gate.config.model import DEFAULT_MAX_PIXELS
from qa_gate.errors import GoldenError
from qa_gate.golden.hash_cache import HashCache
from qa_gate.golden.manifest import MANIFEST, MANIFEST_JSONL, Head, Sample
from qa_gate.golden.manifest_files import content_digest, find_manifest, read_manifest
from qa_gate.golden.problems import Problems, display
from qa_gate.golden.sums import (
    HASHES,
    SCRATCH,
    SUMS_LINE,
    Alias,
    find_alias,
    listing_fingerprint,
    read_sums,
    render_sums,
)
from qa_gate.golden.verify import Tree, compare, hash_files, report_tree, walk

__all__ = ["HASHES", "MANIFEST", "MANIFEST_JSONL", "SCRATCH", "SUMS_LINE", "Checked", "Sample", "Suite",
           "check_suite", "find_alias", "listing_fingerprint", "load_suite", "open_image", "sample_hint",
           "verify_suite", "write_hashes"]

if TYPE_CHECKING:
    from PIL import Image



@dataclass(frozen=True)
class Suite:
    """A verified golden suite; ``fingerprint`` changes whenever any of its files does."""

    name: str
    path: Path
    fingerprint: str
    samples: tuple[Sample, ...]
    labels: tuple[str, ...] = ()
    """The manifest's label set (multilabel suites); empty when it declares none."""
    max_pixels: int = DEFAULT_MAX_PIXELS
    """``golden.max_pixels``: :func:`open_image` refuses an image with more pixels, before decoding it."""
    kind: str = "golden"
    """The manifest's ``kind``: ``traffic`` for real traffic without ground truth (shadow comparisons)."""


@dataclass(frozen=True)
class Checked:
    """A suite as :func:`check_suite` verified it, with what rewriting its files needs."""

    suite: Suite
    head: Head
    manifest: str
    """The manifest's file name."""
    listed: dict[str, str]
    """``SHA256SUMS``: posix path -> sha256 (all verified)."""
    alias: Alias | None


def _open_root(path: Path, ignore: Sequence[str] = ()) -> tuple[Path, Problems, str]:
    where = display(Path(path))
    root = Path(path).resolve()
    if not root.is_dir():
        raise GoldenError(f"{where}: golden suite folder does not exist or is not a folder")
    return root, Problems(where), find_manifest(root, where, ignore)


def _check_image(label: str, image: str, root: Path, problems: Problems, plain: set[str]) -> Path | None:
    """The image's absolute path, or None after reporting why it is refused."""
    if image in plain and image[1:2] != ":" and not image.startswith("\\"):  # a file the walk found inside
        return root.joinpath(*image.split("/"))  # (a drive letter or UNC path is refused below)
    pure = PurePosixPath(image)
    problems.paths.add(pure.as_posix())
    if pure.is_absolute() or PureWindowsPath(image).drive:
        problems.add(f"{label}: image {image!r} is an absolute path; expected one relative to the suite folder")
    elif ".." in pure.parts:
        problems.add(f"{label}: image {image!r} leaves the suite folder ('..'); expected a path inside it")
    elif not (resolved := root.joinpath(*pure.parts).resolve()).is_relative_to(root):
        problems.add(f"{label}: image {image!r} resolves outside the suite folder (to {resolved}); "
                     "expected a file inside it (a symlink must stay inside the suite)")
    elif not resolved.is_file():
        problems.add(f"{label}: image {image!r} does not exist; expected a file at {resolved}")
    else:
        problems.paths.discard(pure.as_posix())
        return root.joinpath(*pure.parts)
    return None


def _parse(root: Path, manifest: str, tree: Tree, problems: Problems) -> tuple[Head, list[Sample]]:
    """The manifest's head and samples, then the walk's own problems (in that order, as messages list them)."""
    head, samples = read_manifest(root / manifest, manifest, problems,
                                  lambda label, image: _check_image(label, image, root, problems, tree.plain))
    report_tree(tree, problems)
    return head, samples


def _check_alias(alias: Alias | None, manifest: str, listed: dict[str, str], head: Head, samples: list[Sample],
                 problems: Problems) -> None:
    if alias is None or (manifest == MANIFEST_JSONL and listed.get(manifest) == alias.content):
        return  # a JSON Lines manifest in canonical form: its sha256 is its content digest
    if content_digest(head, samples) != alias.content:
        problems.add(f"{HASHES}: its 'qa_gate-fingerprint' line (kept by mm-gate golden convert) was written for "
                     f"other samples than {manifest} holds; {problems.hint}")


def check_suite(path: Path, name: str | None = None, max_pixels: int = DEFAULT_MAX_PIXELS, *, cached: bool = False,
                ignore: Sequence[str] = ()) -> Checked:
    """Load and verify a suite (one error lists every problem); ``cached`` lets unchanged files be taken from
    the local verified-hash cache (``golden.hash_cache``) instead of hashed; ``ignore`` names files of the
    folder to leave out (``mm-gate golden convert --force`` replacing one)."""
    root, problems, manifest = _open_root(path, ignore)
    if not (root / HASHES).is_file():
        raise GoldenError(f"{problems.where}: missing {HASHES}; run: mm-gate golden hash {problems.where}")
    listed, alias, sums_digest = read_sums(root / HASHES, problems)
    for rel in ignore:
        listed.pop(rel, None)
    tree = walk(root, ignore)
    head, samples = _parse(root, manifest, tree, problems)
    compare(listed, tree, samples, root, manifest, problems, HashCache(root, sums_digest) if cached else None)
    _check_alias(alias, manifest, listed, head, samples, problems)
    problems.raise_if_any()
    suite = Suite(name or root.name, root, listing_fingerprint(listed, alias), tuple(samples), head.labels or (),
                  max_pixels, head.kind)
    return Checked(suite, head, manifest, listed, alias)


def load_suite(path: Path, name: str | None = None, max_pixels: int = DEFAULT_MAX_PIXELS, *,
               cached: bool = False) -> Suite:
    """Load a suite, verifying its manifest, image paths and every file's sha256 (one error lists all problems);
    its images will open only up to ``max_pixels`` (``golden.max_pixels``). ``cached``: files unchanged since
    they were last verified against this ``SHA256SUMS`` are not hashed again (never in strict mode or sign-off)."""
    return check_suite(path, name, max_pixels, cached=cached).suite


class _TooLarge(Exception):
    """An image over ``golden.max_pixels``, found from its header before decoding; the text says its size."""


def _decode(path: Path, rgb: bool = True, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """The decoded image; :class:`_TooLarge` when its header gives more than ``max_pixels`` pixels."""
    from PIL import Image

    try:
        opened = Image.open(path)  # reads the header only
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:  # Pillow's own limit (or its
        raise _TooLarge(f"is larger than Pillow allows ({exc})") from None  # warning made an error by -W error)
    with opened as image:
        width, height = image.size
        if width * height > max_pixels:
            raise _TooLarge(f"is {width}x{height} = {width * height} pixels")
        image.load()
        return image.convert("RGB") if rgb else image


def _too_large(sample: Sample, size: _TooLarge, max_pixels: int) -> str:
    return (f"sample {sample.id!r}: image {sample.image!r} {size}, over golden.max_pixels = {max_pixels}; "
            "expected a smaller image (downscale it), or raise golden.max_pixels in thresholds.yaml")


def verify_suite(path: Path, decode_images: bool = True, *, name: str | None = None) -> Suite:
    """``load_suite``, then decode every image with Pillow so an unreadable one is caught."""
    suite = load_suite(path, name)
    if decode_images:
        problems = Problems(display(Path(path)))
        for sample in suite.samples:
            try:
                _decode(sample.image_path, rgb=False, max_pixels=suite.max_pixels)
            except _TooLarge as size:
                problems.add(_too_large(sample, size, suite.max_pixels))
            except Exception as exc:  # noqa: BLE001 - Pillow raises many kinds for bad data
                problems.add(f"sample {sample.id!r}: image {sample.image!r} cannot be decoded "
                             f"({type(exc).__name__}: {exc}); expected an image Pillow can read")
        problems.raise_if_any()
    return suite


def write_hashes(path: Path) -> Path:
    """(Re)write ``SHA256SUMS`` (atomically) after a deliberate change and return its path; refuse a broken suite.

    A ``qa_gate-fingerprint`` line (``mm-gate golden convert``) is kept while the manifest's content is still
    the one it records, and dropped otherwise (the manifest changed, so the fingerprint does).
    """
    root, problems, manifest = _open_root(path)
    tree = walk(root)
    head, samples = _parse(root, manifest, tree, problems)
    problems.raise_if_any(note=f" ({HASHES} not written)")
    alias = read_sums(root / HASHES, Problems(problems.where))[1] if (root / HASHES).is_file() else None
    if alias is not None and content_digest(head, samples) != alias.content:
        alias = None
    listed = hash_files(tree.files)
    if alias is not None and alias.name == manifest and alias.sha256 == listed[manifest]:
        alias = None  # the manifest is the file the fingerprint counts
    target, tmp = root / HASHES, root / SCRATCH
    try:
        tmp.write_text(render_sums(listed, alias), encoding="utf-8")
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def open_image(sample: Sample, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """The sample's image converted to RGB (alpha dropped); ``GoldenError`` naming the suite folder and the
    sample if it has more than ``max_pixels`` pixels (checked from the header, before decoding; pass the
    suite's ``Suite.max_pixels``) or cannot be decoded."""
    folder = sample.image_path.parents[len(PurePosixPath(sample.image).parts) - 1]
    try:
        return _decode(sample.image_path, max_pixels=max_pixels)
    except _TooLarge as size:
        raise GoldenError(f"{display(folder)}: {_too_large(sample, size, max_pixels)}") from None
    except Exception as exc:  # Pillow raises many kinds for bad data
        raise GoldenError(f"{display(folder)}: sample {sample.id!r}: image {sample.image!r} cannot be decoded "
                          f"({type(exc).__name__}: {exc}); expected an image Pillow can read") from exc


def suite_hint(suite: Suite) -> str:
    """``"golden/shapes"``: the suite folder as messages about it show it."""
    return display(suite.path)


def sample_hint(suite: Suite, sample: Sample) -> str:
    """``"golden/shapes: sample 'x'"``: the prefix other modules put on messages about a sample."""
    return f"{display(suite.path)}: sample {sample.id!r}"
