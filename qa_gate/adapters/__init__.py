"""Adapters: load a checkpoint (open_clip, transformers or a user's own) and serve capabilities."""
