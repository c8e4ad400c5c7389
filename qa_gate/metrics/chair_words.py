"""CHAIR's object mentions: the shipped vocabulary, a deterministic singulariser and mention extraction.

Follows ``caption_to_words`` of the reference implementation (LisaAnne/Hallucination
``utils/chair.py`` at a967f2f, 2019-03-06, its last change; lines 98-135), without NLTK or pattern
downloads:

1. lower-case the caption and split it into words: runs of letters and digits, joined by inner
   hyphens (``t-shirt``); every other character separates (``dog's`` -> ``dog``, ``s``), as
   ``nltk.word_tokenize`` splits the captions the reference reads;
2. singularise each word (``singular``): the vocabulary's irregular plurals (people -> person,
   mice -> mouse, knives -> knife, ...), then the rules -ies -> -y, -ves -> -f / -fe, -men -> -man,
   -es and -s dropped, each taken only when it gives a word the vocabulary knows (so ``bus``,
   ``glass`` and ``skis`` stay, ``skies`` does not become ``ski``);
3. join word groups, longest first, left to right: a multi-word name (``hot dog``, ``teddy bear``,
   ``traffic light``) is one mention; a ``not_objects`` pair (``train track``, ``home plate``) is
   none; a qualifier pair (``baby dog``, ``adult cow``, ``passenger jet``) counts as its last word
   only (the reference's "animal words" and "vehicle words");
4. drop a word ``ignored_with`` another word the caption holds (``seat`` when ``toilet`` is there);
5. every remaining word that names a category or a synonym is one mention of that category
   (repeats count: "a dog and a dog" holds two mentions of dog).

Deviations, all in the vocabulary file: it is written for qa_gate (the 80 COCO categories and common
synonyms, after the reference's ``data/synonyms.txt``); the reference's entries that exist only for
pattern's singularisation quirks (``wine glas``, ``knive``, ``phon``) and misspellings (``solider``,
``televison``) are not needed; ``bow`` (a ship's bow, a hair bow) is no tie; three-word names
(``stove top oven``) match, where the reference joins pairs only.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from types import MappingProxyType
from typing import Any

VOCABULARY_FILE = "chair_objects.yaml"
WORD = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
REFERENCE = "LisaAnne/Hallucination utils/chair.py a967f2f (caption_to_words, compute_chair)"


@dataclass(frozen=True)
class Vocabulary:
    """The CHAIR vocabulary file, parsed: what every word and word group of a caption means."""

    version: int
    sha256: str
    categories: tuple[str, ...]
    names: Mapping[str, str]
    """Each category name and synonym (singular, words joined by one space) -> its category."""
    groups: Mapping[tuple[str, ...], str]
    """Word groups joined into one word: a multi-word name to itself, a not-object pair to itself
    (which names nothing), a qualifier pair to its last word."""
    ignored_with: Mapping[str, str]
    irregular: Mapping[str, str]
    known: frozenset[str]
    """Every single word the vocabulary uses: the singulariser's rules only ever produce these."""

    @property
    def longest(self) -> int:
        """The most words in one group."""
        return max((len(group) for group in self.groups), default=1)


def _words(name: Any, where: str) -> tuple[str, ...]:
    words = tuple(str(name).split())
    if not isinstance(name, str) or not words or name != " ".join(words) or name != name.lower():
        raise ValueError(f"{VOCABULARY_FILE}: {where}: {name!r} is not a lower-case name of single-spaced words")
    return words


def parse_vocabulary(text: bytes) -> Vocabulary:
    """The vocabulary in ``text`` (the YAML file's bytes); a ``ValueError`` naming what is malformed."""
    import yaml

    data = yaml.safe_load(text.decode("utf-8"))
    if not isinstance(data, dict) or not isinstance(data.get("version"), int) \
            or not isinstance(data.get("categories"), dict):
        raise ValueError(f"{VOCABULARY_FILE}: expected a mapping with an integer 'version' and 'categories'")
    names: dict[str, str] = {}
    groups: dict[tuple[str, ...], str] = {}
    for category, synonyms in data["categories"].items():
        for name in [category, *synonyms]:
            words = _words(name, f"categories.{category}")
            if names.setdefault(name, category) != category:
                raise ValueError(f"{VOCABULARY_FILE}: {name!r} names both {names[name]!r} and {category!r}")
            if len(words) > 1:
                groups[words] = name
    for pair in data.get("not_objects") or ():
        groups[_words(pair, "not_objects")] = pair
    for qualifier, heads in (data.get("qualifiers") or {}).items():
        for head in heads:
            groups[_words(qualifier, "qualifiers") + _words(head, f"qualifiers.{qualifier}")] = head
    ignored = {str(k): str(v) for k, v in (data.get("ignored_with") or {}).items()}
    irregular = {str(k): str(v) for k, v in (data.get("irregular") or {}).items()}
    texts = [*names, *(" ".join(g) for g in groups), *ignored, *ignored.values(), *irregular.values()]
    known = frozenset(w for text in texts for w in text.split())
    return Vocabulary(int(data["version"]), hashlib.sha256(text).hexdigest(), tuple(data["categories"]),
                      MappingProxyType(names), MappingProxyType(groups), MappingProxyType(ignored),
                      MappingProxyType(irregular), known)


@lru_cache(maxsize=1)
def vocabulary() -> Vocabulary:
    """The vocabulary shipped in ``qa_gate/metrics/data/chair_objects.yaml`` (read once)."""
    return parse_vocabulary(resources.files("qa_gate.metrics").joinpath("data").joinpath(VOCABULARY_FILE).read_bytes())


def _candidates(word: str) -> list[str]:
    """Singular forms ``word`` could have, most specific rule first."""
    if word.endswith("ies"):
        return [word[:-3] + "y", word[:-1]]  # ponies -> pony; ties -> tie (never skies -> ski)
    out = []
    if word.endswith("ves"):
        out += [word[:-3] + "f", word[:-3] + "fe"]  # calves, knives
    if word.endswith("men"):
        out.append(word[:-3] + "man")  # women, policemen
    if word.endswith("es"):
        out.append(word[:-2])  # buses, glasses, couches
    if word.endswith("s"):
        out.append(word[:-1])
    return out


def singular(word: str, vocab: Vocabulary | None = None) -> str:
    """``word`` in the singular when it is the plural of a word the vocabulary knows, else ``word``."""
    vocab = vocab or vocabulary()
    if word in vocab.irregular:
        return vocab.irregular[word]
    if word in vocab.known:
        return word
    return next((c for c in _candidates(word) if c in vocab.known), word)


def caption_words(caption: str, vocab: Vocabulary | None = None) -> list[str]:
    """The caption's words after steps 1-4 (singular, groups joined, ignored words dropped)."""
    vocab = vocab or vocabulary()
    words = [singular(w, vocab) for w in WORD.findall(caption.lower())]
    joined, i, longest = [], 0, vocab.longest
    while i < len(words):
        for size in range(min(longest, len(words) - i), 1, -1):
            group = vocab.groups.get(tuple(words[i:i + size]))
            if group is not None:
                joined.append(group)
                i += size
                break
        else:
            joined.append(words[i])
            i += 1
    present = set(joined)
    return [w for w in joined if not (w in vocab.ignored_with and vocab.ignored_with[w] in present)]


def mentions(caption: str, vocab: Vocabulary | None = None) -> list[str]:
    """The category of every object mention in ``caption``, in order, repeats kept."""
    vocab = vocab or vocabulary()
    return [vocab.names[w] for w in caption_words(caption, vocab) if w in vocab.names]


def category(name: str, vocab: Vocabulary | None = None) -> str | None:
    """The category a ground-truth object name means (``dogs``, ``puppy``, ``Dining Table``), else ``None``."""
    vocab = vocab or vocabulary()
    words = " ".join(singular(w, vocab) for w in WORD.findall(name.lower()))
    return vocab.names.get(words) or vocab.names.get(" ".join(name.lower().split()))


def unknown_objects(objects: Sequence[str], vocab: Vocabulary | None = None) -> list[str]:
    """The names among ``objects`` that the vocabulary does not know."""
    return [o for o in objects if category(o, vocab) is None]
