"""open_clip's SimpleTokenizer word by word (``qa_gate.adapters.open_clip_tokens``) gives exactly the tokenizer's
own tokens, on texts made to break it, and is used only where it is the tokenizer's own rule."""

from __future__ import annotations

import html
import json
import random

import ftfy
import pytest
import torch
from open_clip.tokenizer import SimpleTokenizer
from support.project import TINY_CLIP

from qa_gate.adapters import open_clip_tokens
from qa_gate.adapters.open_clip import OpenClipEncoder
from qa_gate.adapters.open_clip_tokens import WordTokenizer, plain, word_tokenizer

PIECES = ("a", "A", "photo", "PHOTO", "Depicts", "x", "1", "23", "4.5", "1,000", "'s", "'S", "'ll", "'re", "don't",
          "it's", "o'clock", "''", "\"quoted\"", "<start_of_text>", "<END_OF_TEXT>", "<", ">", "_", "snake_case",
          "-", "--", "e-mail", "!?", "...", "#1", "@user", "$5", "%", "(x)", "[y]", "{z}", "~", "`", "^", "|", "\\",
          "/", "+", "=", "*", ";", ":", "&", "&amp;", "&lt;b&gt;", "naïve", "café", "Ünïcödé", "水", "ὕδωρ", "ﬁ",
          "\u2019s", "\u201cq\u201d", "é", "\x1b[31m", "\x0b", "\x0c", "\r", "\x00", "\x7f", "\u00a0", "\u3000",
          "Ã©", "â€™", "zzzzqqqjjjxxx", "antidisestablishmentarianism")
SPACES = (" ", "  ", "\t", "\n", " \n ", "")


def _texts(count: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    out = ["", " ", "\t\n", "a", "A photo depicts a cat", "x" * 300]
    for _ in range(count):
        words = [rng.choice(PIECES) for _ in range(rng.randint(0, 14))]
        out.append("".join(w + rng.choice(SPACES) for w in words))
    return out


@pytest.fixture(scope="module")
def tokenizer() -> SimpleTokenizer:
    return SimpleTokenizer(context_length=77)


def test_the_premise_plain_texts_are_left_alone_by_ftfy_and_html() -> None:
    texts = [t for t in _texts(4000, seed=1) if plain(t)]
    assert len(texts) > 500
    for text in texts:
        assert ftfy.fix_text(text) == text, repr(text)
        assert html.unescape(text) == text, repr(text)


def test_word_tokens_equal_open_clips_own(tokenizer: SimpleTokenizer) -> None:
    texts = _texts(4000)
    assert sum(map(plain, texts)) > 500 and sum(not plain(t) for t in texts) > 500  # both paths are exercised
    fast = WordTokenizer(tokenizer)
    for width in (77, 12, 3):
        want = tokenizer(texts, width)
        got = fast(texts, width)
        assert got.dtype == want.dtype == torch.int64 and got.shape == want.shape
        differ = [texts[i] for i in torch.nonzero((got != want).any(dim=1)).flatten().tolist()]
        assert not differ, differ[:5]
    assert torch.equal(fast("One text"), tokenizer("One text"))


def test_a_full_word_cache_starts_again(tokenizer: SimpleTokenizer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(open_clip_tokens, "CACHED_WORDS", 5)
    fast = WordTokenizer(tokenizer)
    texts = [t for t in _texts(300, seed=2) if plain(t)]
    assert torch.equal(fast(texts), tokenizer(texts))
    assert len(fast._words) <= 5


def test_only_the_default_simple_tokenizer_is_replaced(tokenizer: SimpleTokenizer) -> None:
    assert isinstance(word_tokenizer(tokenizer), WordTokenizer)
    for other in (SimpleTokenizer(clean="canonicalize"), SimpleTokenizer(clean="whitespace"),
                  SimpleTokenizer(reduction_mask="simple"), SimpleTokenizer(additional_special_tokens=["<my tok>"])):
        assert word_tokenizer(other) is other
    spaced = SimpleTokenizer(additional_special_tokens=["<my tok>"])  # why: the word path would split it
    assert not torch.equal(WordTokenizer(spaced)(["a <my tok> b"]), spaced(["a <my tok> b"]))
    extra = SimpleTokenizer(additional_special_tokens=["<mask>"])
    fast = word_tokenizer(extra)
    assert isinstance(fast, WordTokenizer) and fast.vocab_size == extra.vocab_size  # attributes read through
    texts = ["a <mask> b", "<MASK>x<mask>", *_texts(300, seed=4)]
    assert torch.equal(fast(texts), extra(texts))

    class Own(SimpleTokenizer):  # a subclass may encode differently
        pass

    own = Own()
    assert word_tokenizer(own) is own


def test_a_tokenizer_the_probe_disagrees_with_is_kept(tokenizer: SimpleTokenizer,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(open_clip_tokens, "plain", lambda text: True)  # a wrong premise: entities, accents by word
    assert word_tokenizer(tokenizer) is tokenizer


def test_the_open_clip_encoder_tokenizes_by_word() -> None:
    import open_clip

    config = json.loads(TINY_CLIP.read_text(encoding="utf-8"))["model_cfg"]
    torch.manual_seed(0)
    model, tokenizer = open_clip.CLIP(**config).eval(), SimpleTokenizer(context_length=16)
    encoder = OpenClipEncoder(model, None, tokenizer, torch.device("cpu"))
    assert isinstance(encoder.tokenizer, WordTokenizer)
    texts = _texts(200, seed=3)
    with torch.inference_mode():
        torch.testing.assert_close(encoder.encode_texts(texts), model.encode_text(tokenizer(texts)),
                                   rtol=1e-6, atol=1e-6)
