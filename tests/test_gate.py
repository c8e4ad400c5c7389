"""Transitional: ``tests/baseline/*`` still import ``make_run`` from here; the gate's tests are in
``tests/verdict/test_verdict_gate.py``. Delete this file once they import ``support.runs``."""

from __future__ import annotations

from support.runs import make_run

__all__ = ["make_run"]
