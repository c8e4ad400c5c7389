"""Errors a user can cause, and the did-you-mean helper their messages use.

Every ``GateError`` is a user mistake or bad input: the plugin turns it into a
``pytest.UsageError`` and the CLI into one line on stderr, never a traceback.
Messages name the file, the key path or the sample, the bad value and what was
expected.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class GateError(Exception):
    """Base class for every error caused by the user's config, data or checkpoint."""


class ConfigError(GateError):
    """``thresholds.yaml`` or a command-line option is malformed."""


class GoldenError(GateError):
    """A golden suite is malformed, incomplete or has been modified."""


class AdapterError(GateError):
    """A checkpoint or its backend cannot be loaded or used."""


class BaselineError(GateError):
    """A stored baseline cannot be read or written."""


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """Return ``" (did you mean 'x'?)"`` for the closest choice, or ``""`` when none is close."""
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def one_of(choices: Iterable[str]) -> str:
    """Format a list of allowed values for an error message: ``'a', 'b' or 'c'``."""
    items = [f"'{c}'" for c in sorted(choices)]
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " or " + items[-1]


def first_line(error: BaseException | str) -> str:
    """The first line of an exception's message (its type when it has none), or of a text ("" when empty).

    The one place a multi-line message (a library's exception, git's stderr) is cut to one line.
    """
    text = str(error).strip()
    if text:
        return text.splitlines()[0]
    return "" if isinstance(error, str) else type(error).__name__
