"""What the runner refuses of a model's outputs, and how its messages list the inputs they name."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from qa_gate.errors import AdapterError

SHOWN = 3
"""How many sample ids (or texts) an error lists."""


def as_rows(result: Any, dtype: Any = np.float64) -> np.ndarray | None:
    """``result`` (a torch tensor, a numpy array or a list of rows) as a ``dtype`` array; ``None`` if it is none."""
    if hasattr(result, "detach"):
        result = result.detach().float().cpu().numpy()
    try:
        return np.asarray(result, dtype=dtype)
    except (TypeError, ValueError):
        return None


def listed(names: Sequence[str]) -> str:
    """Up to ``SHOWN`` names (long ones cut), quoted, with ``...`` when there are more."""
    shown = ", ".join(repr(n if len(n) <= 40 else n[:37] + "...") for n in names[:SHOWN])
    return shown + (", ..." if len(names) > SHOWN else "")


def refuse_non_finite(who: str, operation: str, chunks: Sequence[np.ndarray], names: Sequence[str], what: str, *,
                      autocast: bool) -> None:
    """An ``AdapterError`` when a row of ``chunks`` (row ``i`` belongs to ``names[i]``) holds NaN or inf."""
    bad_rows = [i for i, ok in enumerate(np.concatenate([np.isfinite(c).all(axis=1) for c in chunks])) if not ok]
    if not bad_rows:
        return
    values = sum(int((~np.isfinite(c)).sum()) for c in chunks)
    hint = " or the autocast dtype overflowed (try model.dtype: float32)" if autocast else ""
    raise AdapterError(f"{who}: its {operation} returned {values} non-finite value(s) (NaN or inf) for "
                       f"{len(bad_rows)} of {len(names)} {what} ({listed([names[i] for i in bad_rows])}); "
                       f"expected finite numbers: the model's weights or inputs are broken{hint}")


def refuse_widths(who: str, operation: str, chunks: Sequence[np.ndarray]) -> None:
    """An ``AdapterError`` when the rows of ``chunks`` have several widths."""
    widths = sorted({c.shape[1] for c in chunks})
    if len(widths) > 1:
        raise AdapterError(f"{who}: its {operation} returned rows of {widths[0]} and of {widths[-1]} "
                           "values in different batches; expected one width for every input")
