"""Fixtures of the whole-gate runs: checkpoints built once and shared by the family modules."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.tiny_models import build_tiny_vit_gpt2_captioner


@pytest.fixture(scope="session")
def captioner_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny ViT + GPT-2 ``VisionEncoderDecoderModel``, ``ViTImageProcessor`` and tokenizer folder
    (read only: a project copies it)."""
    return build_tiny_vit_gpt2_captioner(tmp_path_factory.mktemp("captioner") / "ckpt")
