"""adapters/hf stage."""
