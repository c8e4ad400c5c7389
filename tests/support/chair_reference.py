"""An independent, plainly written CHAIR (Rohrbach et al. 2018) for tests: mentions and counts of one caption.

It reads the shipped vocabulary file itself and knows only the published definition: words, a
regular plural ``-s``, multi-word names matched longest first, each mention's category. It knows
none of the special rules (qualifiers, not-objects, ``ignored_with``, irregular plurals): the
captions it is compared on avoid the words they concern (``SPECIAL``).
"""

from __future__ import annotations

import re
from importlib import resources

import yaml

RAW = yaml.safe_load(resources.files("qa_gate.metrics").joinpath("data", "chair_objects.yaml").read_text("utf-8"))
SPECIAL = ({w for k, heads in RAW["qualifiers"].items() for w in (k, *heads)} | set(RAW["ignored_with"])
           | set(RAW["ignored_with"].values()) | {w for pair in RAW["not_objects"] for w in pair.split()}
           | set(RAW["irregular"]))
"""Words with a special rule: captions compared with this implementation avoid them."""
NAME_TO_CATEGORY = {name: cat for cat, names in RAW["categories"].items() for name in [cat, *names]}
USABLE = sorted(n for n in NAME_TO_CATEGORY if not set(n.split()) & SPECIAL)
"""Names a random caption may use."""


def reference_counts(caption: str, objects: tuple[str, ...]) -> tuple[int, int, int, int]:
    """Mentions, hallucinated mentions, ground-truth categories and those mentioned."""
    tokens = re.findall(r"[a-z]+", caption.lower())
    name_words = {w for n in NAME_TO_CATEGORY for w in n.split()}
    tokens = [t[:-1] if t not in name_words and t.endswith("s") and t[:-1] in name_words else t for t in tokens]
    found, i = [], 0
    while i < len(tokens):
        for size in (3, 2, 1):
            name = " ".join(tokens[i:i + size])
            if len(tokens[i:i + size]) == size and name in NAME_TO_CATEGORY:
                found.append(NAME_TO_CATEGORY[name])
                i += size
                break
        else:
            i += 1
    truth = {NAME_TO_CATEGORY.get(o) or NAME_TO_CATEGORY[o[:-1]] for o in objects}  # a name or its plain plural
    return len(found), sum(c not in truth for c in found), len(truth), len(truth & set(found))


def reference_values(pairs: list[tuple[str, tuple[str, ...]]]) -> list[float]:
    """``[chair_i, chair_s, object_recall]`` of ``(caption, objects)`` pairs (0 for 0 / 0)."""
    rows = [reference_counts(c, o) for c, o in pairs]
    mentions, hallucinated = sum(r[0] for r in rows), sum(r[1] for r in rows)
    truth, found = sum(r[2] for r in rows), sum(r[3] for r in rows)
    return [hallucinated / mentions if mentions else 0.0, sum(r[1] > 0 for r in rows) / len(rows),
            found / truth if truth else 0.0]
