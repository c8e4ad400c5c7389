"""Builders for the import tests: small real images and the ``mm-gate`` entry point."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from qa_gate.cli import main

COLOURS = {"red": (220, 30, 30), "green": (30, 200, 30), "blue": (30, 30, 220)}


def _encoded(rgb: tuple[int, int, int], fmt: str) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (24, 24), rgb).save(buffer, format=fmt)
    return buffer.getvalue()


@pytest.fixture
def encoded():
    """``encoded(colour, fmt="PNG")``: the bytes of a small plain image of that colour."""
    return lambda colour, fmt="PNG": _encoded(COLOURS[colour], fmt)


@pytest.fixture
def picture():
    """``picture(path, colour)`` writes a small image file there (its format from the suffix)."""
    def write(path: Path, colour: str = "red") -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        fmt = "JPEG" if path.suffix.lower() in (".jpg", ".jpeg") else "PNG"
        path.write_bytes(_encoded(COLOURS[colour], fmt))
        return path
    return write


@pytest.fixture
def mm_gate(capsys: pytest.CaptureFixture[str]):
    """``mm_gate(*args)`` -> (exit code, stdout, stderr) of the real CLI."""
    def run(*args: object) -> tuple[int, str, str]:
        code = main([str(a) for a in args])
        out, err = capsys.readouterr()
        return code, out, err
    return run
