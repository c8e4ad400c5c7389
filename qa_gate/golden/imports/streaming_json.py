"""Top-level arrays of a large JSON document, item by item, without building the whole document.

COCO, Karpathy and VQA files are one JSON object whose big arrays (``images``, ``annotations``,
``questions``) run to hundreds of megabytes; :func:`scan` decodes each array item on its own from a
sliding buffer (:mod:`json`'s C scanner), so only one item is held at a time.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from qa_gate.errors import GoldenError

CHUNK = 1 << 20
_DECODER = json.JSONDecoder()
_SPACE = " \t\r\n"


class _Buffer:
    def __init__(self, path: Path) -> None:
        self.path, self.handle = path, path.open(encoding="utf-8")
        self.text, self.pos, self.eof = "", 0, False

    def more(self) -> bool:
        if self.eof:
            return False
        chunk = self.handle.read(max(CHUNK, len(self.text) - self.pos))  # doubling: a huge item is read once
        self.text, self.pos = self.text[self.pos:] + chunk, 0
        self.eof = not chunk
        return bool(chunk)

    def peek(self) -> str:
        while True:
            while self.pos < len(self.text) and self.text[self.pos] in _SPACE:
                self.pos += 1
            if self.pos < len(self.text) or not self.more():
                return self.text[self.pos:self.pos + 1]

    def expect(self, char: str, what: str) -> None:
        if self.peek() != char:
            raise GoldenError(f"{self.path}: not valid JSON: expected {what}, got {self.peek() or 'the end'!r}")
        self.pos += 1

    def value(self) -> Any:
        self.peek()
        while True:
            try:
                value, end = _DECODER.raw_decode(self.text, self.pos)
            except json.JSONDecodeError as exc:
                if self.more():
                    continue
                raise GoldenError(f"{self.path}: not valid JSON: {exc.msg}") from None
            if end == len(self.text) and self.more():  # a number may go on in the next chunk
                continue
            self.pos = end
            return value


def scan(path: Path) -> Iterator[tuple[str, bool, Any]]:
    """``(key, True, item)`` for each item of each top-level array, ``(key, False, value)`` for other keys."""
    buf = _Buffer(Path(path))
    try:
        buf.expect("{", "a JSON object")
        if buf.peek() == "}":
            return
        while True:
            key = buf.value()
            buf.expect(":", "':' after a key")
            if buf.peek() == "[":
                buf.pos += 1
                if buf.peek() == "]":
                    buf.pos += 1
                else:
                    while True:
                        yield key, True, buf.value()
                        if buf.peek() == "]":
                            buf.pos += 1
                            break
                        buf.expect(",", f"',' or ']' in the array {key!r}")
            else:
                yield key, False, buf.value()
            if buf.peek() == "}":
                return
            buf.expect(",", "',' or '}' between top-level keys")
    except UnicodeDecodeError as exc:
        raise GoldenError(f"{path}: not UTF-8 text ({exc.reason})") from None
    finally:
        buf.handle.close()
