"""What a cached model output is keyed on: the model, how it runs, the input's content, the output format.

An output is stored under a **namespace** (one per model and way of running it) and an **entry key**
(one per input) inside it:

- the namespace hashes qa_gate's :data:`OUTPUT_FORMAT` and version, the adapter and the checkpoint's
  content sha256 (``checkpoint_digest``, the hash results record), every ``model`` setting that can
  change a number (architecture name, pretrained tag, ``options``), the device type (and the GPU or
  CPU model), the autocast dtype, the batch size (batching changes floating-point sums), the versions
  of the libraries that preprocess and run the model, and the preprocessing path (:data:`PREPROCESSING`);
- the entry key hashes the operation (``image encoding``, ``text encoding``, ``generation``, ...) and
  the content fed to the model: the image's sha256 from the suite's verified ``SHA256SUMS``, the
  text, the question.

A checkpoint without a content hash (a hub id, a pretrained tag: ``unhashed:``) and a user adapter
(``module:attr``, whose code is not hashed) have no namespace: they are never cached.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from qa_gate.config.model import ModelConfig
from qa_gate.golden.suite import HASHES, Suite
from qa_gate.golden.sums import listing_fingerprint, read_sums

OUTPUT_FORMAT = 1
"""The version of what a cached output means; bump it whenever qa_gate changes how an output is produced
or stored (a new preprocessing path, text padding trimmed differently, a new row layout)."""
PREPROCESSING = "pil-rgb decode, the model's own preprocessing"
"""How images reach the model; part of every namespace."""
LIBRARIES = ("torch", "torchvision", "pillow", "numpy", "open_clip_torch", "timm", "transformers", "tokenizers",
             "safetensors")
"""The distributions whose versions can change a model's outputs (preprocessing, tokenising, kernels)."""
BUILT_IN = ("open_clip", "transformers")


def default_dir(environ: Mapping[str, str] = os.environ) -> Path:
    """``$XDG_CACHE_HOME/qa_gate/outputs``, else ``~/.cache/qa_gate/outputs``."""
    base = environ.get("XDG_CACHE_HOME") or ""
    root = Path(base) if os.path.isabs(base) else Path.home() / ".cache"
    return root / "qa_gate" / "outputs"


@lru_cache(maxsize=1)
def library_versions() -> tuple[tuple[str, str], ...]:
    """The installed version of each of :data:`LIBRARIES` (``absent`` when not installed), read from metadata."""
    out = []
    for name in LIBRARIES:
        try:
            out.append((name, version(name)))
        except PackageNotFoundError:
            out.append((name, "absent"))
    return tuple(out)


def uncacheable(model: ModelConfig, digest: str) -> str | None:
    """Why outputs of ``model`` (whose checkpoint hashes to ``digest``) cannot be cached; ``None`` when they can."""
    if model.adapter not in BUILT_IN:
        return f"the user adapter '{model.adapter}' is code qa_gate does not hash"
    if digest.startswith("unhashed:"):
        return f"the checkpoint '{model.checkpoint}' has no content hash (a hub id or pretrained tag)"
    return None


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str).encode("utf-8")


def namespace(model: ModelConfig, digest: str, device: str, autocast: str) -> str:
    """The hex namespace of ``model`` (checkpoint content ``digest``) run on ``device`` (``cpu:<model>``,
    ``cuda:<GPU>``) under ``autocast`` (see the module docstring for what enters it)."""
    from qa_gate import __version__

    parts = {
        "format": OUTPUT_FORMAT, "qa_gate": __version__, "adapter": model.adapter, "checkpoint": digest,
        "model_name": model.model_name, "pretrained": model.pretrained, "options": dict(model.options),
        "device": device, "autocast": autocast, "batch_size": model.batch_size,
        "libraries": dict(library_versions()), "preprocessing": PREPROCESSING,
    }
    return hashlib.sha256(_canonical(parts)).hexdigest()


def entry_key(operation: str, *content: str) -> bytes:
    """The 32-byte key of one input of ``operation``: its content parts (an image sha256, a text, a question)."""
    return hashlib.sha256(_canonical([operation, *content])).digest()


class _Problems(list[str]):
    """What reading ``SHA256SUMS`` again found wrong (it was verified when the suite loaded: nothing, normally)."""

    def add(self, message: str) -> None:
        self.append(message)


def image_digests(suite: Suite) -> list[str] | None:
    """Each sample's image sha256, read from the suite's ``SHA256SUMS`` (verified when the suite loaded);
    ``None`` when the listing no longer matches the suite's fingerprint (it changed since), or lacks an image."""
    root = Path(suite.path).resolve()
    problems = _Problems()
    try:
        listed, alias, _ = read_sums(root / HASHES, problems)
    except OSError:
        return None
    if problems or listing_fingerprint(listed, alias) != suite.fingerprint:
        return None
    out = []
    for sample in suite.samples:
        try:
            rel = Path(sample.image_path).resolve().relative_to(root).as_posix()
        except ValueError:
            return None
        if rel not in listed:
            return None
        out.append(listed[rel])
    return out


def image_keys(operation: str, digests: Sequence[str], extra: Sequence[str] | None = None,
               variant: str | None = None) -> list[bytes]:
    """The entry keys of ``operation`` on each image (``digests``), with its ``extra`` text (a question) if any;
    ``variant`` (a perturbation's canonical spec) sets apart the outputs of the perturbed images."""
    tail = () if variant is None else (f"perturbation:{variant}",)
    if extra is None:
        return [entry_key(operation, d, *tail) for d in digests]
    return [entry_key(operation, d, str(e), *tail) for d, e in zip(digests, extra)]
