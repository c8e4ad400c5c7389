"""qa_gate: a pytest quality gate for multimodal (image-text) models."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("qa-gate")
    """The installed distribution's version (``pyproject.toml``), as ``mm-gate --version`` prints it."""
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"
