"""Golden suites: ``manifest.yaml`` (the samples) and assets, every file pinned by ``SHA256SUMS``.

Loading checks the manifest, that no image path leaves the folder and every file's sha256, and
raises one ``GoldenError`` listing the problems. PIL and yaml are imported lazily.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import TYPE_CHECKING, Any

from qa_gate.config.model import DEFAULT_MAX_PIXELS
from qa_gate.errors import GoldenError
from qa_gate.files import file_sha256
from qa_gate.golden.manifest import MANIFEST, Sample, as_written, parse_manifest

__all__ = ["HASHES", "MANIFEST", "Sample", "Suite", "load_suite", "open_image", "sample_hint",
           "verify_suite", "write_hashes"]

if TYPE_CHECKING:
    from PIL import Image

HASHES = "SHA256SUMS"
MAX_SHOWN = 20
SCRATCH = f".{HASHES}.tmp"  # write_hashes's own scratch file, never hashed
SUMS_LINE = re.compile(r"^([0-9a-fA-F]{64}) [ *](.+)$")
_BAD = object()  # the manifest could not be read at all; already reported


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


class _Problems:
    """Collects every problem found in one suite, then raises them as one error."""

    def __init__(self, where: str) -> None:
        self.where = where
        self.items: list[str] = []
        self.paths: set[str] = set()  # files already reported through a sample
        self.hint = f"if the change is deliberate run: mm-gate golden hash {where}"

    def add(self, message: str) -> None:
        self.items.append(f"{self.where}: {message}")

    def raise_if_any(self, note: str = "") -> None:
        if len(self.items) == 1:
            raise GoldenError(self.items[0] + note)
        if self.items:
            lines = [f"  - {item.removeprefix(self.where + ': ')}" for item in self.items[:MAX_SHOWN]]
            if len(self.items) > MAX_SHOWN:
                lines.append(f"  ... and {len(self.items) - MAX_SHOWN} more")
            head = f"{self.where}: {len(self.items)} problems in the golden suite{note}:"
            raise GoldenError("\n".join([head, *lines]))


def _display(path: Path) -> str:
    """The path relative to the current directory when it lies inside it, else absolute."""
    absolute = Path(os.path.abspath(path))
    try:
        return absolute.relative_to(Path.cwd()).as_posix()
    except ValueError:
        return absolute.as_posix()


def _open_root(path: Path) -> tuple[Path, _Problems]:
    where = _display(Path(path))
    root = Path(path).resolve()
    if not root.is_dir():
        raise GoldenError(f"{where}: golden suite folder does not exist or is not a folder")
    if not (root / MANIFEST).is_file():
        raise GoldenError(f"{where}: missing {MANIFEST}; expected a manifest listing the suite's samples")
    return root, _Problems(where)


@cache
def _manifest_loader() -> type:
    """qa_gate's YAML dialect (``config.values.YamlLoader``) keeping how each number was written."""
    import yaml

    from qa_gate.config.values import YamlLoader

    class ManifestLoader(YamlLoader):
        """``YamlLoader`` whose numbers remember their text (``as_written``), so ``1:30`` or ``1.10``
        in a text field can be quoted back rather than read as 90 or 1.1."""

    def number(loader: ManifestLoader, node: yaml.ScalarNode) -> float:  # an int is kept an int
        value = loader.construct_yaml_int(node) if node.tag.endswith(":int") else loader.construct_yaml_float(node)
        return as_written(value, node.value)

    ManifestLoader.add_constructor("tag:yaml.org,2002:int", number)
    ManifestLoader.add_constructor("tag:yaml.org,2002:float", number)
    return ManifestLoader


def _read_yaml(path: Path, problems: _Problems) -> Any:
    import yaml

    try:
        with path.open(encoding="utf-8") as handle:
            return yaml.load(handle, Loader=_manifest_loader())  # a SafeLoader subclass
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        problems.add(f"{MANIFEST}: not valid YAML: {exc}")
        return _BAD


def _check_image(label: str, image: str, root: Path, problems: _Problems) -> Path | None:
    """The image's absolute path, or None after reporting why it is refused."""
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


def _parse(root: Path, problems: _Problems) -> tuple[list[Sample], tuple[str, ...]]:
    data = _read_yaml(root / MANIFEST, problems)
    if data is _BAD:
        return [], ()
    return parse_manifest(data, problems, lambda label, image: _check_image(label, image, root, problems))


def _read_sums(path: Path, problems: _Problems) -> dict[str, str]:
    listed: dict[str, str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
        if not line.strip():
            continue
        match = SUMS_LINE.match(line)
        pure = PurePosixPath(match.group(2)) if match else None
        where = f"{HASHES} line {number}"
        if match is None or pure is None:
            problems.add(f"{where}: expected '<64 hex digits>  <relative path>', got {line[:100]!r}")
        elif pure.is_absolute() or ".." in pure.parts:
            problems.add(f"{where}: path {match.group(2)!r} leaves the suite folder; expected a relative path")
        elif pure.as_posix() in listed:
            problems.add(f"{where}: path {match.group(2)!r} is listed twice; expected one line per file")
        else:
            listed[pure.as_posix()] = match.group(1).lower()
    return listed


def _walk(root: Path, problems: _Problems) -> dict[str, Path]:
    """Every regular file under ``root`` except SHA256SUMS, by posix relative path."""
    files: dict[str, Path] = {}
    for dirpath, dirnames, filenames in os.walk(root):  # does not follow symlinked folders
        for name in sorted(dirnames + filenames):
            path = Path(dirpath, name)
            rel = path.relative_to(root).as_posix()
            if rel in (HASHES, SCRATCH) or rel in problems.paths:
                continue
            if path.is_symlink() and not path.resolve().is_relative_to(root):
                problems.add(f"{rel!r} is a symlink to outside the suite folder ({path.resolve()}); "
                             "expected only files inside it")
            elif name in filenames and path.is_file():
                if "\n" in rel or "\r" in rel:
                    problems.add(f"file name {rel!r} holds a line break; SHA256SUMS cannot list it")
                files[rel] = path
    return files


def _compare(listed: dict[str, str], files: dict[str, Path], samples: list[Sample], root: Path,
             problems: _Problems) -> None:
    users: dict[str, list[Sample]] = {}
    for sample in samples:
        users.setdefault(sample.image_path.resolve().relative_to(root).as_posix(), []).append(sample)
    for rel in sorted(set(listed) | set(files), key=lambda rel: (rel != MANIFEST, rel)):  # the manifest first
        if rel in problems.paths:
            continue
        who = users.get(rel, [])
        label = ", ".join(f"sample {s.id!r}" for s in who) + f": image {who[0].image!r}" if who else f"file {rel!r}"
        if rel not in files:
            problems.add(f"{label} is listed in {HASHES} but missing from the suite folder; {problems.hint}")
        elif rel not in listed:
            problems.add(f"{label} is not listed in {HASHES} (every file in the suite must be); {problems.hint}")
        elif (got := file_sha256(files[rel])) != listed[rel]:
            sums = f"(expected {listed[rel][:12]}…, got {got[:12]}…); {problems.hint}"
            if rel == MANIFEST:
                problems.add(f"{MANIFEST} changed since {HASHES} was written: it does not match its sha256 {sums}")
            else:
                problems.add(f"{label} does not match its sha256 in {HASHES} {sums}")


def listing_fingerprint(listed: Mapping[str, str]) -> str:
    """The suite fingerprint of a SHA256SUMS listing (path -> sha256): order-independent."""
    content = "".join(f"{listed[rel]}  {rel}\n" for rel in sorted(listed))
    return hashlib.sha256(content.encode("utf-8")).hexdigest()[:16]


def load_suite(path: Path, name: str | None = None, max_pixels: int = DEFAULT_MAX_PIXELS) -> Suite:
    """Load a suite, verifying its manifest, image paths and every file's sha256 (one error lists all problems);
    its images will open only up to ``max_pixels`` (``golden.max_pixels``)."""
    root, problems = _open_root(path)
    if not (root / HASHES).is_file():
        raise GoldenError(f"{problems.where}: missing {HASHES}; run: mm-gate golden hash {problems.where}")
    listed = _read_sums(root / HASHES, problems)
    samples, labels = _parse(root, problems)
    _compare(listed, _walk(root, problems), samples, root, problems)
    problems.raise_if_any()
    return Suite(name or root.name, root, listing_fingerprint(listed), tuple(samples), labels, max_pixels)


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
        problems = _Problems(_display(Path(path)))
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
    """(Re)write ``SHA256SUMS`` (atomically) after a deliberate change and return its path; refuse a broken suite."""
    root, problems = _open_root(path)
    _parse(root, problems)
    files = _walk(root, problems)
    problems.raise_if_any(note=f" ({HASHES} not written)")
    target, tmp = root / HASHES, root / SCRATCH
    try:
        tmp.write_text("".join(f"{file_sha256(files[rel])}  {rel}\n" for rel in sorted(files)), encoding="utf-8")
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
        raise GoldenError(f"{_display(folder)}: {_too_large(sample, size, max_pixels)}") from None
    except Exception as exc:  # Pillow raises many kinds for bad data
        raise GoldenError(f"{_display(folder)}: sample {sample.id!r}: image {sample.image!r} cannot be decoded "
                          f"({type(exc).__name__}: {exc}); expected an image Pillow can read") from exc


def suite_hint(suite: Suite) -> str:
    """``"golden/shapes"``: the suite folder as messages about it show it."""
    return _display(suite.path)


def sample_hint(suite: Suite, sample: Sample) -> str:
    """``"golden/shapes: sample 'x'"``: the prefix other modules put on messages about a sample."""
    return f"{_display(suite.path)}: sample {sample.id!r}"
