"""open_clip text encoding with each batch's padding trimmed, where that leaves every embedding unchanged.

open_clip pads every text to the model's context length (77 for the CLIP family) and its
``encode_text`` only takes tokens of that length: the positional embedding and causal mask are
added whole (``CLIP.encode_text``; ``TextTransformer`` in open_clip 3.x too). For a text tower
that is

- **causal**: the standard additive mask (``-inf`` above the diagonal), so the output at
  position ``i`` depends on tokens ``0..i`` only (LayerNorm and the MLP act per token); and
- **pooled at the end-of-text token** (``pool_type`` ``argmax``, the EOT id being the highest,
  or ``eos``), read from the tokens themselves; with
- **absolute learned positions**: position ``i`` adds row ``i`` of the positional embedding,
  whatever the sequence's length;

nothing after the last pooled position of a batch reaches any pooled output, so cutting the
tokens, the positional embedding and the mask there gives the same embeddings (up to float
rounding of differently shaped kernels). A tower pooled at the first or last position, or
mean-pooled, bidirectional (``no_causal_mask``), with a padding mask or an appended class token
(CoCa), an HF text tower, or a subclass with its own ``encode_text`` is encoded as open_clip
does. The conditions are checked on the module's attributes, and the trimmed forward is probed
against ``encode_text`` once at load (``trimmed_text_encoder``), so a change in open_clip that
breaks the equality turns trimming off instead of changing numbers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

PROBE = ("a photo of a cat", "x", "A photo depicts two red squares and a very small blue circle on a grey table")
"""Texts of different lengths the trimmed forward is checked on at load."""
TOLERANCE = 1e-5
"""The largest difference the probe accepts, relative to the embeddings' largest absolute value."""


@dataclass(frozen=True)
class _Tower:
    """The parts of an open_clip text tower the forward below uses."""

    token_embedding: Any
    positional_embedding: Any
    transformer: Any
    ln_final: Any
    text_projection: Any
    attn_mask: Any
    pool_type: str
    eos_id: int | None


def _tower(model: Any) -> _Tower | None:
    """The text tower of an open_clip ``CLIP`` or ``CustomTextCLIP`` whose padding can be trimmed, else ``None``."""
    from open_clip.model import CLIP, CustomTextCLIP
    from open_clip.transformer import TextTransformer

    if isinstance(model, CLIP) and type(model).encode_text is CLIP.encode_text:
        tower = _Tower(model.token_embedding, model.positional_embedding, model.transformer, model.ln_final,
                       model.text_projection, getattr(model, "attn_mask", None), model.text_pool_type,
                       getattr(model, "text_eos_id", None))
    elif (isinstance(model, CustomTextCLIP) and type(model).encode_text is CustomTextCLIP.encode_text
          and type(model.text) is TextTransformer):
        text = model.text
        if text.cls_emb is not None or getattr(text, "use_pad_mask", False) or text.output_tokens:
            return None
        tower = _Tower(text.token_embedding, text.positional_embedding, text.transformer, text.ln_final,
                       text.text_projection, getattr(text, "attn_mask", None), text.pool_type,
                       getattr(text, "eos_id", None))
    else:
        return None
    if tower.pool_type not in ("argmax", "eos") or (tower.pool_type == "eos" and tower.eos_id is None):
        return None
    mask = tower.attn_mask
    if mask is None or mask.ndim != 2 or mask.shape[0] != tower.positional_embedding.shape[0]:
        return None
    import torch

    causal = torch.full_like(mask, float("-inf")).triu_(1)
    return tower if torch.equal(mask, causal) else None


def _pooled_positions(tower: _Tower, tokens: torch.Tensor) -> torch.Tensor:
    """Where each row is pooled, as ``open_clip.transformer.text_global_pool`` finds it."""
    if tower.pool_type == "argmax" or tower.eos_id is None:  # _tower() refuses eos pooling without an id
        return tokens.argmax(dim=-1)
    return tokens.eq(tower.eos_id).int().argmax(dim=-1)


def _forward(tower: _Tower, tokens: torch.Tensor) -> torch.Tensor:
    """``encode_text`` of ``tokens`` cut after the batch's last pooled position."""
    import torch

    pooled_at = _pooled_positions(tower, tokens)
    length = int(pooled_at.max()) + 1 if len(tokens) else 1
    tokens = tokens[:, :length]
    cast_dtype = tower.transformer.get_cast_dtype()
    x = tower.token_embedding(tokens).to(cast_dtype)
    x = x + tower.positional_embedding[:length].to(cast_dtype)
    x = tower.transformer(x, attn_mask=tower.attn_mask[:length, :length])
    x = tower.ln_final(x)
    x = x[torch.arange(x.shape[0], device=x.device), pooled_at]
    projection = tower.text_projection
    if projection is None:
        return x
    return projection(x) if isinstance(projection, torch.nn.Module) else x @ projection


def trimmed_text_encoder(model: Any, tokenizer: Any, device: torch.device
                         ) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """``tokens -> embeddings`` equal to ``model.encode_text(tokens)`` with each batch's padding trimmed, or
    ``None`` when the model's text tower is not one where that is exact (or the probe disagrees)."""
    import torch

    tower = _tower(model)
    if tower is None:
        return None
    with torch.inference_mode():
        tokens = tokenizer(list(PROBE)).to(device)
        full, trimmed = model.encode_text(tokens).float(), _forward(tower, tokens).float()
    if full.shape != trimmed.shape or not torch.isfinite(full).all():
        return None
    scale = float(full.abs().max()) or 1.0
    if float((full - trimmed).abs().max()) > TOLERANCE * scale:
        return None
    return lambda batch: _forward(tower, batch)
