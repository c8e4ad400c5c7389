"""Builders the tests share: tiny gate projects and thresholds files, tiny models, hand-made runs.

Test modules import these as ``from support.project import ...`` (``tests/`` is on ``sys.path``
through ``tests/conftest.py``); no test module imports another test module.
"""
