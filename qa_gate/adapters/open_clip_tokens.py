"""open_clip's ``SimpleTokenizer`` on plain texts, word by word from a cache: the same tokens, several times faster.

``SimpleTokenizer.encode`` cleans each text (``ftfy.fix_text``, ``html.unescape`` twice, whitespace
collapsed, lower case), splits it with its regular expression and maps every piece through BPE. On a
*plain* text (printable ASCII, tabs and newlines, and no ``&``) the cleaning is only the whitespace
and the case: ``ftfy`` changes nothing that is printable ASCII without an HTML entity (its fixes act
on mojibake, entities, control and non-ASCII characters), and ``html.unescape`` needs an ``&``. The
expression never matches whitespace and reads no further than a match, so splitting the cleaned
text at whitespace and tokenising each word alone gives the same pieces in the same order; and for
printable ASCII the byte-to-unicode step of BPE maps every character to itself. So a plain text's
tokens are its lower-cased words' tokens in order, and each word is tokenised once per run (the
tokenizer's own expression, BPE and vocabulary; only the cleaning, already known to be a no-op, is
skipped). Every other text goes through ``SimpleTokenizer.encode``. Truncation and padding are
open_clip's: ``[SOT] + tokens + [EOT]`` cut to the context length with EOT last, zeros after.

Used only for the class itself with its default ``lower`` cleaning, no reduction mask and special tokens
without whitespace (the expression matches them whole, so one with a space would span two words), and
after a probe at load (``PROBE``) gives exactly the tokenizer's own output; otherwise the tokenizer is
called as it is. ``tests/adapters/test_open_clip_tokens.py`` compares the two on texts made to break it.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch

_NOT_PLAIN = re.compile(r"[^\t\n\x20-\x25\x27-\x7e]")
"""Any character outside printable ASCII, tab and newline, or an ``&``: such a text is cleaned by open_clip."""
CACHED_WORDS = 1 << 20
"""Words kept per tokenizer; the cache starts again when it is full."""
PROBE = ("a photo of a cat", "A  Photo\tdepicts\n two RED squares, don't they?", "it's 1,234.5 px <end_of_text>",
         "", "   ", "x" * 200, "naïve café &amp; crème", "fish &chips", "tab\x0bvertical", "Ünïcödé ὕδωρ 水")
"""Texts the fast path is checked on at load: plain ones, and ones it must leave to ``encode``."""


def plain(text: str) -> bool:
    """Whether ``text`` is cleaned by open_clip to its whitespace-collapsed lower case (see the module docstring)."""
    return _NOT_PLAIN.search(text) is None


class WordTokenizer:
    """A ``SimpleTokenizer``'s ``__call__`` (``texts -> [n, context_length]`` int64 tokens), plain texts by word."""

    def __init__(self, tokenizer: Any) -> None:
        self._tokenizer = tokenizer  # its other attributes (encode, decode, vocab_size, ...) are read through
        self._sot, self._eot = tokenizer.sot_token_id, tokenizer.eot_token_id
        self.context_length: int = tokenizer.context_length
        self._words: dict[str, list[int]] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._tokenizer, name)

    def _word(self, word: str) -> list[int]:
        tok = self._tokenizer
        ids = [tok.encoder[piece] for token in tok.pat.findall(word) for piece in tok.bpe(token).split(" ")]
        if len(self._words) >= CACHED_WORDS:
            self._words.clear()
        self._words[word] = ids
        return ids

    def ids(self, text: str) -> list[int]:
        """``[SOT] + encode(text) + [EOT]``, untruncated."""
        if not plain(text):
            return [self._sot, *self._tokenizer.encode(text), self._eot]
        out, words = [self._sot], self._words
        for word in text.lower().split():
            found = words.get(word)
            out += self._word(word) if found is None else found
        out.append(self._eot)
        return out

    def __call__(self, texts: str | Sequence[str], context_length: int | None = None) -> torch.Tensor:
        """The tokens of ``texts`` as ``SimpleTokenizer.__call__`` returns them."""
        import torch

        texts = [texts] if isinstance(texts, str) else texts
        width = context_length or self.context_length
        rows = [self.ids(text) for text in texts]
        for row in rows:
            if len(row) > width:
                del row[width:]
                row[-1] = self._eot
        lengths = np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
        out = np.zeros((len(rows), width), dtype=np.int64)
        out[np.arange(width) < lengths[:, None]] = np.fromiter(
            itertools.chain.from_iterable(rows), dtype=np.int64, count=int(lengths.sum()))
        return torch.from_numpy(out)


def word_tokenizer(tokenizer: Any) -> Callable[..., torch.Tensor]:
    """A :class:`WordTokenizer` for an open_clip ``SimpleTokenizer`` that agrees with it on ``PROBE``, else the
    tokenizer itself."""
    import torch
    from open_clip import tokenizer as module

    simple = getattr(module, "SimpleTokenizer", None)
    if (type(tokenizer) is not simple or getattr(tokenizer, "clean_fn", None) is not getattr(module, "_clean_lower", 0)
            or getattr(tokenizer, "reduction_fn", None) is not None or not tokenizer.context_length):
        return tokenizer
    if any(not token.isascii() or len(token.split()) != 1 for token in map(tokenizer.decoder.get,
                                                                              tokenizer.all_special_ids)):
        return tokenizer  # a special token with whitespace in it is matched across words
    fast = WordTokenizer(tokenizer)
    for width in (tokenizer.context_length, 8):
        try:
            same = torch.equal(fast(list(PROBE), width), tokenizer(list(PROBE), width))
        except Exception:  # noqa: BLE001 - a tokenizer the word path cannot read is called as it is
            same = False
        if not same:
            return tokenizer
    return fast
