"""``adapter: predictions``: the model under test is a file of its outputs, keyed by sample id.

``table`` reads a JSON Lines, CSV or Parquet file (and its ``.npy`` / ``.settings.json`` sidecars)
into a :class:`~qa_gate.adapters.predictions.table.PredictionTable`; ``coverage`` aligns it to a
suite's samples; ``backend`` serves it as capabilities; ``write`` is ``mm-gate predict``.
"""
