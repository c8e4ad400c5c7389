"""Backends that load a checkpoint and turn batches of images and texts into embeddings."""
