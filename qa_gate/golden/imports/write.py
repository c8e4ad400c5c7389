"""Writing an imported suite: images, ``manifest.jsonl``, ``provenance.json``, ``SHA256SUMS``, all in a temporary
folder beside ``--out`` that is renamed into place only once the suite verifies; nothing half-written is left.

The manifest is rendered by the project's own writer (``golden.jsonl.render_jsonl``) and pinned by
``golden.suite.write_hashes`` (which checks the manifest and every image path); each distinct image is
decoded once as it is placed, so the suite passes ``mm-gate golden verify``.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from qa_gate.config.model import DEFAULT_MAX_PIXELS
from qa_gate.errors import GoldenError
from qa_gate.golden.imports.record import FileImage, Image
from qa_gate.golden.jsonl import render_jsonl
from qa_gate.golden.manifest import MANIFEST_JSONL, MANIFESTS, Head
from qa_gate.golden.problems import Problems, display
from qa_gate.golden.suite import write_hashes
from qa_gate.golden.sums import listing_fingerprint, read_sums

PROVENANCE = "provenance.json"
IMAGES = "images"
_BODY = ".samples.part"
_FORMATS = {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp", "GIF": ".gif", "BMP": ".bmp", "TIFF": ".tif"}
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def check_out(out: Path, force: bool, inputs: Sequence[Path]) -> None:
    """Refuse an ``--out`` that exists (unless ``force`` and it is a suite or empty), or that holds an input."""
    where = display(out)
    for path in inputs:
        if Path(path).resolve().is_relative_to(out.resolve()):
            raise GoldenError(f"--out {where}: holds the input {display(path)}; expected an output folder apart from "
                              "the sources (an import never overwrites its input)")
    if not out.exists():
        return
    if not out.is_dir():
        raise GoldenError(f"--out {where}: exists and is not a folder; expected a new suite folder")
    if not force:
        raise GoldenError(f"--out {where}: exists; not overwritten (--force replaces the suite there)")
    if not any((out / name).is_file() for name in MANIFESTS) and any(out.iterdir()):
        raise GoldenError(f"--out {where}: holds no golden suite (no {' or '.join(MANIFESTS)}); --force replaces "
                          "only a suite folder or an empty one")


def sha256_file(path: Path) -> str:
    """The hex sha256 of one file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _suffix(data: bytes, where: str) -> str:
    from PIL import Image as PILImage

    try:
        with PILImage.open(io.BytesIO(data)) as image:
            return _FORMATS.get(image.format or "", f".{(image.format or 'img').lower()}")
    except Exception as exc:  # noqa: BLE001 - Pillow raises many kinds for bad data
        raise GoldenError(f"{where}: the image bytes cannot be read ({type(exc).__name__}: {exc}); "
                          "expected an image Pillow can read") from None


def check_decodes(path: Path, where: str, max_pixels: int = DEFAULT_MAX_PIXELS) -> None:
    """Refuse an image Pillow cannot decode or with more than ``max_pixels`` pixels (``golden.max_pixels``'s
    default, as ``mm-gate golden verify`` checks); each distinct image is decoded once, as it is placed."""
    from PIL import Image as PILImage

    try:
        with PILImage.open(path) as image:
            width, height = image.size
            if width * height > max_pixels:
                raise GoldenError(f"{where}: is {width}x{height} = {width * height} pixels, over golden.max_pixels "
                                  f"= {max_pixels}; expected a smaller image")
            image.load()
    except GoldenError:
        raise
    except Exception as exc:  # noqa: BLE001 - Pillow raises many kinds for bad data
        raise GoldenError(f"{where}: cannot be decoded ({type(exc).__name__}: {exc}); expected an image Pillow "
                          "can read") from None


class SuiteWriter:
    """A suite being written into a temporary folder; :meth:`finish` renames it to ``out``."""

    def __init__(self, out: Path, link: bool) -> None:
        self.out, self.link = Path(out), link
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = Path(tempfile.mkdtemp(dir=self.out.parent, prefix=f".{self.out.name}.import-"))
        self.body = (self.tmp / _BODY).open("w", encoding="utf-8")
        self.placed: dict[str, str] = {}  # source file (resolved) or content sha -> image path in the suite
        self.used: set[str] = set()
        self.resolved: dict[tuple[str, str], str] = {}
        self.count = 0

    def image(self, sample_id: str, image: Image, where: str) -> str:
        """Put the sample's image into the suite once and return its path there (posix, relative)."""
        if isinstance(image, FileImage):
            source = image.root / image.rel
            token = self.resolved.get(key := (str(image.root), image.rel)) or self.resolved.setdefault(
                key, str(source.resolve()))
            if token not in self.placed:
                rel = image.rel if image.rel.startswith(f"{IMAGES}/") else f"{IMAGES}/{image.rel}"
                if rel in self.used:  # another source file had that name: keep both
                    rel = f"{IMAGES}/{hashlib.sha256(token.encode()).hexdigest()[:12]}/{image.rel}"
                self._place_file(source, self.tmp / rel, where)
                check_decodes(self.tmp / rel, f"{where}: sample {sample_id!r}: image {image.rel!r}")
                self.placed[token] = rel
            return self.placed[token]
        token = hashlib.sha256(image.data).hexdigest()
        if token not in self.placed:
            suffix = image.suffix if image.suffix.startswith(".") and len(image.suffix) > 1 else _suffix(image.data,
                                                                                                          where)
            stem = _UNSAFE.sub("_", sample_id).strip("._") or "image"
            rel = f"{IMAGES}/{stem}{suffix.lower()}"
            if rel in self.used:
                rel = f"{IMAGES}/{stem}-{token[:12]}{suffix.lower()}"
            target = self.tmp / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(image.data)
            check_decodes(target, f"{where}: sample {sample_id!r}")
            self.placed[token] = rel
            self.used.add(rel)
        return self.placed[token]

    def _place_file(self, source: Path, target: Path, where: str) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        self.used.add(target.relative_to(self.tmp).as_posix())
        if not self.link:
            shutil.copyfile(source, target)
            return
        try:
            os.link(source, target)
        except OSError as exc:
            raise GoldenError(f"{where}: --link-images: cannot hard-link {source} into {display(self.out)} "
                              f"({exc.strerror}; another file system?); use --copy-images") from None

    def sample(self, entry: Mapping[str, Any]) -> None:
        """Append one manifest entry (``id``, ``image``, fields, ``tags``)."""
        self.body.write(json.dumps(entry, ensure_ascii=False, allow_nan=False) + "\n")
        self.count += 1

    def _entries(self) -> Iterator[dict[str, Any]]:
        with (self.tmp / _BODY).open(encoding="utf-8") as handle:
            for line in handle:
                yield json.loads(line)

    def finish(self, head: Head, provenance: Mapping[str, Any], force: bool) -> str:
        """Write the manifest, ``provenance.json`` and ``SHA256SUMS``, verify, rename to ``out``; the fingerprint."""
        self.body.close()
        with (self.tmp / MANIFEST_JSONL).open("w", encoding="utf-8") as handle:
            handle.writelines(render_jsonl(head, self._entries()))
        (self.tmp / _BODY).unlink()
        (self.tmp / PROVENANCE).write_text(json.dumps(provenance, indent=2, ensure_ascii=False) + "\n",
                                           encoding="utf-8")
        sums = write_hashes(self.tmp)  # checks the manifest and every image path as loading does
        problems = Problems(display(self.out))
        listed, alias, _ = read_sums(sums, problems)
        problems.raise_if_any()
        fingerprint = listing_fingerprint(listed, alias)
        old = None
        if self.out.exists():
            if not force:  # appeared while importing
                raise GoldenError(f"--out {display(self.out)}: exists; not overwritten (--force replaces it)")
            old = self.out.parent / f"{self.tmp.name}.replaced"
            os.replace(self.out, old)
        os.replace(self.tmp, self.out)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        return fingerprint

    def discard(self) -> None:
        """Remove the temporary folder (after a failure or an interrupt)."""
        if not self.body.closed:
            self.body.close()
        shutil.rmtree(self.tmp, ignore_errors=True)
