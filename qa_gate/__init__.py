"""qa_gate: a pytest quality gate for multimodal (image-text) models."""

__version__ = "0.1.0"
