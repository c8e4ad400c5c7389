"""Where baselines live: behind one small interface (a file store now; a git store later)."""
