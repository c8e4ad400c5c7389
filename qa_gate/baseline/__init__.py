"""Where baselines live: one store interface (``store``), a file store and a git store, and the resolution a run
is judged by."""
