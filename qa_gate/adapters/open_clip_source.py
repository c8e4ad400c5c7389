"""What an open_clip checkpoint is: which architecture, which weights file, and what its sha256 covers.

``model.checkpoint`` takes four forms (the README's table):

- a **folder** (or ``local-dir:<folder>``) holding ``open_clip_config.json`` and one weights file,
  found as open_clip finds it (:data:`WEIGHT_NAMES` first, else the only ``*.safetensors``,
  ``*.bin`` or ``*.pth``). A folder without one is refused (open_clip would initialise the model
  at random), and so is a folder with several and none of the preferred names (open_clip would
  pick one alphabetically). Its sha256 covers the folder's files except weights files that are
  not loaded: the config, the loaded weights, tokenizer files and the like;
- a **weights file**, with ``model.model_name`` (an architecture or a model config ``.json``):
  its sha256 is the file's;
- ``hf-hub:org/repo``, downloaded by open_clip, and
- a **pretrained tag** of ``model.model_name`` (``openai``): recorded by name, not hashed here.

The gate loads the weights of the first two itself, so it can refuse weights that leave some of
the model's parameters unset (see ``qa_gate.adapters.open_clip``).
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qa_gate.adapters.locations import missing_location, other_backend
from qa_gate.config.model import ModelConfig
from qa_gate.errors import AdapterError, did_you_mean, first_line
from qa_gate.files import file_sha256
from qa_gate.registry import import_backend

CONFIG_FILE = "open_clip_config.json"
WEIGHT_NAMES = ("open_clip_model.safetensors", "open_clip_pytorch_model.safetensors", "open_clip_pytorch_model.bin",
                "open_clip_pytorch_model.pth", "model.safetensors", "pytorch_model.bin", "pytorch_model.pth",
                "model.pth")
"""The weights file names open_clip looks for in a ``local-dir`` folder, preferred first."""
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pth")
"""The other files open_clip would take as weights in a folder."""
WEIGHTS_LIKE = (*WEIGHT_SUFFIXES, ".pt", ".ckpt", ".npz", ".npy")
"""Files left out of a folder's sha256 unless they are the weights loaded."""
MODEL_CFG_KEYS = ("embed_dim", "vision_cfg", "text_cfg")
# preprocess_cfg keys of a config .json -> create_model_and_transforms overrides (size comes from the model)
_PREPROCESS_ARGS = {"mean": "image_mean", "std": "image_std", "interpolation": "image_interpolation",
                    "resize_mode": "image_resize_mode"}
FORMS = ("an open_clip checkpoint folder (open_clip_config.json and weights), a weights file with model.model_name, "
         "hf-hub:org/repo, or a pretrained tag with model.model_name")


@dataclass(frozen=True)
class Source:
    """How to build one open_clip checkpoint."""

    name: str
    """The model name open_clip's factory and tokenizer take (``local-dir:<folder>``, ``ViT-B-32``, ...)."""
    shown: str
    """The name results record."""
    weights: Path | None = None
    """The weights file the gate loads itself; ``None``: open_clip loads ``pretrained`` (a tag, the hub)."""
    pretrained: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    """Preprocessing overrides from a wrapped model config ``.json``."""
    sha256: str | None = None
    """The hash of what is loaded; ``None`` for a download, recorded by name."""


def resolve(model: ModelConfig) -> Source:
    """The :class:`Source` of ``model.checkpoint``, or an ``AdapterError`` saying what is wrong with it."""
    text = model.checkpoint
    if text.startswith("hf-hub:"):
        return Source(text, text)
    folder = Path(text.removeprefix("local-dir:"))
    if folder.is_dir():
        return _folder(folder)
    if text.startswith("local-dir:") or (model.model_name is None and not folder.exists()):
        missing = missing_location(str(folder), hub=False) or f"model.checkpoint: '{text}' does not exist"
        raise AdapterError(f"{missing}; expected {FORMS}")
    if model.model_name is None:
        raise AdapterError(
            f"model.model_name: the open_clip checkpoint '{text}' needs its architecture "
            "(model_name, e.g. ViT-B-32, or a path to a model config .json)"
        )
    name, overrides = _architecture(model.model_name)
    given, key = (model.pretrained, "model.pretrained") if model.pretrained else (text, "model.checkpoint")
    weights = Path(given)
    if weights.is_file():
        return Source(name, name, weights=weights, overrides=overrides, sha256=file_sha256(weights))
    open_clip = import_backend("open_clip", "open_clip_torch")
    if not weights.exists() and open_clip.get_pretrained_cfg(name, given):
        return Source(name, name, pretrained=given, overrides=overrides)
    tags = open_clip.list_pretrained_tags_by_model(name)
    known = f"its tags: {', '.join(tags[:6])}{', ...' if len(tags) > 6 else ''}" if tags else "it has no tags"
    what = "is a folder, not a weights file" if weights.exists() else "does not exist"
    raise AdapterError(f"{key}: '{given}' {what} and is not a pretrained tag of {name}{did_you_mean(given, tags)}; "
                       f"expected a weights file or a pretrained tag ({known})")


def _folder(folder: Path) -> Source:
    config = folder / CONFIG_FILE
    if not config.is_file() and (other := other_backend(folder, "open_clip")) is not None:
        raise AdapterError(f"model.checkpoint: {other}")
    if not config.is_file():
        raise AdapterError(f"model.checkpoint: folder '{folder}' has no {CONFIG_FILE}; an open_clip "
                           "checkpoint folder needs its model config beside the weights")
    data = _read_json(config, "model.checkpoint")
    model_cfg = data.get("model_cfg") if isinstance(data, dict) else None
    missing = [k for k in MODEL_CFG_KEYS if not isinstance(model_cfg, dict) or k not in model_cfg]
    if missing:
        raise AdapterError(f"model.checkpoint: '{config}' has no open_clip model config (model_cfg lacks "
                           f"{', '.join(missing)}); expected {{\"model_cfg\": {{{', '.join(MODEL_CFG_KEYS)}, ...}}, "
                           "\"preprocess_cfg\": {...}}")
    weights = folder_weights(folder)
    return Source(f"local-dir:{folder}", f"local-dir:{folder.name}", weights=weights,
                  sha256=folder_sha256(folder, weights))


def folder_weights(folder: Path) -> Path:
    """The weights file open_clip loads from ``folder``; an ``AdapterError`` when there is none, or no
    telling which."""
    for name in WEIGHT_NAMES:
        if (folder / name).is_file():
            return folder / name
    found = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in WEIGHT_SUFFIXES)
    if len(found) == 1:
        return found[0]
    if found:
        raise AdapterError(f"model.checkpoint: folder '{folder}' holds several weights files "
                           f"({', '.join(p.name for p in found)}) and none named {WEIGHT_NAMES[0]}; keep one, "
                           f"or name the one to load {WEIGHT_NAMES[0]}")
    others = sorted(p.name for p in folder.iterdir() if p.name != CONFIG_FILE)
    held = f"it holds {', '.join(others[:6])}" if others else f"it holds only {CONFIG_FILE}"
    hint = next((f"; rename '{n}' to open_clip_pytorch_model.bin if it is a state_dict" for n in others
                 if Path(n).suffix in WEIGHTS_LIKE), "")
    raise AdapterError(f"model.checkpoint: folder '{folder}' has no weights file that open_clip loads "
                       f"({WEIGHT_NAMES[0]}, or one *.safetensors, *.bin or *.pth file); {held}{hint}. Without "
                       "weights the model would be initialised at random")


def folder_sha256(folder: Path, weights: Path) -> str:
    """sha256 over (relative posix path, file sha256) of the folder's files, in path order, leaving out
    weights files other than ``weights`` (open_clip does not read them)."""
    outer = hashlib.sha256()
    for file in sorted(p for p in folder.rglob("*") if p.is_file()):
        if file.suffix in WEIGHTS_LIKE and file != weights:
            continue
        outer.update(file.relative_to(folder).as_posix().encode())
        outer.update(bytes.fromhex(file_sha256(file)))
    return outer.hexdigest()


def folder_digest(location: str) -> str | None:
    """The sha256 :func:`resolve` records for an open_clip checkpoint folder at ``location``, without
    loading it; ``None`` when it is no loadable folder (then nothing was recorded for it this way)."""
    folder = Path(location.removeprefix("local-dir:"))
    if not (folder / CONFIG_FILE).is_file():
        return None
    try:
        return folder_sha256(folder, folder_weights(folder))
    except AdapterError:
        return None


def _read_json(path: Path, key: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AdapterError(f"{key}: '{path}' is not readable JSON: {first_line(exc)}") from None


def _architecture(name: str) -> tuple[str, dict[str, Any]]:
    """An architecture open_clip knows, or a model config ``.json`` registered with it, and its overrides."""
    if name.endswith(".json"):
        return _register_config(name)
    open_clip = import_backend("open_clip", "open_clip_torch")
    known = open_clip.list_models()
    if name.replace("/", "-") not in known:
        raise AdapterError(
            f"model.model_name: '{name}' is not an open_clip architecture{did_you_mean(name, known)}; "
            "expected a name from open_clip.list_models() or a path to a model config .json"
        )
    return name, {}


def _register_config(path_text: str) -> tuple[str, dict[str, Any]]:
    """Register a model config .json with open_clip under its file stem.

    Takes a plain model config (``embed_dim``, ``vision_cfg``, ``text_cfg``: what
    ``open_clip.add_model_config`` reads) or an ``open_clip_config.json``-style file
    (``{"model_cfg": ..., "preprocess_cfg": ...}``), whose model config is registered
    and whose mean, std, interpolation and resize mode become preprocessing overrides.
    """
    open_clip = import_backend("open_clip", "open_clip_torch")
    path = Path(path_text)
    if not path.is_file():
        raise AdapterError(f"model.model_name: model config '{path_text}' does not exist")
    data = _read_json(path, "model.model_name")
    wrapped = isinstance(data, dict) and isinstance(data.get("model_cfg"), dict)
    model_cfg = data["model_cfg"] if wrapped else data
    missing = [key for key in MODEL_CFG_KEYS if not isinstance(model_cfg, dict) or key not in model_cfg]
    if missing:
        raise AdapterError(
            f"model.model_name: '{path_text}' is not an open_clip model config (it lacks "
            f"{', '.join(missing)}); expected {', '.join(MODEL_CFG_KEYS)} at the top level or "
            f"under 'model_cfg' as in {CONFIG_FILE}"
        )
    if wrapped:  # add_model_config reads only plain model configs: register a plain copy
        with tempfile.TemporaryDirectory() as folder:
            plain = Path(folder) / path.name
            plain.write_text(json.dumps(model_cfg), encoding="utf-8")
            open_clip.add_model_config(plain)
    else:
        open_clip.add_model_config(path)
    given = data.get("preprocess_cfg") if wrapped else None
    preprocess = {arg: given[key] for key, arg in _PREPROCESS_ARGS.items()
                  if isinstance(given, dict) and given.get(key) is not None}
    return path.stem, preprocess
