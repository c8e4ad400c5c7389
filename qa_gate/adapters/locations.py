"""Where a checkpoint named by a path is, or why it is not there, before any backend looks at it.

A value that looks like a path is never tried as a Hugging Face hub id (that costs a round of
HTTP retries and then blames the network): a missing folder fails at once with
``no such folder: /abs/path`` and a did-you-mean among its siblings. So does any missing
value while the hub is offline (``HF_HUB_OFFLINE``), unless the hub cache holds it. A folder
written for the other built-in backend is named as such (``use adapter: open_clip``).
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path

OPEN_CLIP_CONFIG = "open_clip_config.json"
TRANSFORMERS_CONFIG = "config.json"
_TRUE = frozenset({"1", "on", "yes", "true"})


def hub_offline() -> bool:
    """True when ``HF_HUB_OFFLINE`` (or ``TRANSFORMERS_OFFLINE``) is set to a true value."""
    return any(os.environ.get(name, "").strip().lower() in _TRUE for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def looks_like_path(text: str) -> bool:
    """True for values a hub id can never be: ``./x``, ``../x``, ``/x``, ``~/x``, ``x\\y``, ``a/b/c``, ``x/``,
    or ``org/name`` whose ``org`` is a folder here."""
    if text.startswith((".", "/", "~")) or "\\" in text or text.endswith("/"):
        return True
    parts = text.split("/")
    return len(parts) > 2 or (len(parts) == 2 and Path(parts[0]).is_dir())


def sibling_guess(path: Path) -> str | None:
    """The closest existing name beside ``path`` (same parent folder), or ``None`` when none is close."""
    parent = path.parent if str(path.parent) else Path()
    try:
        names = [entry.name for entry in parent.iterdir()] if parent.is_dir() else []
    except OSError:
        return None
    close = difflib.get_close_matches(path.name, names, n=1, cutoff=0.6)
    return close[0] if close else None


def _in_hub_cache(repo_id: str) -> bool:
    """True when the local Hugging Face cache holds ``repo_id``'s ``config.json`` (no network)."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return False
    try:
        found = try_to_load_from_cache(repo_id, TRANSFORMERS_CONFIG)
    except Exception:  # noqa: BLE001 - an id the hub would refuse is simply not cached
        return False
    return isinstance(found, str)


def missing_location(text: str, key: str = "model.checkpoint", hub: bool = True) -> str | None:
    """Why ``text`` names no checkpoint here, when it cannot be anything else; ``None`` when it exists
    or may still be a hub id (``hub``: the backend would try the hub).

    The message reads ``model.checkpoint: no such folder: /abs/path (did you mean 'tiny_clip'?); ...``.
    """
    path = Path(text).expanduser()
    if path.exists():
        return None
    shown = Path(os.path.abspath(path))
    guess = sibling_guess(shown)
    offline = hub and hub_offline()
    if hub and not looks_like_path(text) and guess is None and (not offline or _in_hub_cache(text)):
        return None
    hint = f" (did you mean '{guess}'?)" if guess is not None else ""
    why = ""
    if hub:
        reason = ("it reads as a path" if looks_like_path(text) else "a folder of a similar name is here"
                  if guess is not None else "HF_HUB_OFFLINE is set")
        why = f"; {reason}, so it was not looked up on the Hugging Face hub"
    return f"{key}: no such folder: {shown}{hint}{why}"


def other_backend(folder: Path, adapter: str) -> str | None:
    """``this folder holds open_clip_config.json: use adapter: open_clip`` when ``folder`` was written for the
    other built-in backend than ``adapter`` (and lacks its own config), else ``None``."""
    if not folder.is_dir():
        return None
    theirs = {"transformers": (OPEN_CLIP_CONFIG, TRANSFORMERS_CONFIG, "open_clip"),
              "open_clip": (TRANSFORMERS_CONFIG, OPEN_CLIP_CONFIG, "transformers")}.get(adapter)
    if theirs is None:
        return None
    found, own, use = theirs
    if (folder / found).is_file() and not (folder / own).is_file():
        return (f"'{folder}' holds {found}, not the {own} the {adapter} adapter reads: it is a checkpoint for "
                f"the {use} adapter; use adapter: {use} (model.adapter, or --adapter / --mm-adapter)")
    return None
