"""TODO docstring."""

from __future__ import annotations

import importlib
from types import ModuleType

from qa_gate.errors import AdapterError


def import_backend(module: str, package: str) -> ModuleType:
    """Import an optional backend, or fail with the command that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise AdapterError(
            f"the '{module}' backend is not installed ({exc}); install it with: pip install {package}"
        ) from None
