"""Padding trimmed after a batch's longest text leaves every embedding unchanged (1e-6 absolute and
relative), and is only done where that holds: open_clip CLIP and CustomTextCLIP text towers (causal,
pooled at the end-of-text token) and transformers CLIP; not for towers pooled elsewhere or bidirectional
(open_clip), nor for SigLIP (transformers), whose embeddings do depend on the padding."""

from __future__ import annotations

import json
from typing import Any

import pytest
import torch
from support.project import TINY_CLIP

from qa_gate.adapters.hf.dual_encoder import TransformersEncoder, text_padding
from qa_gate.adapters.open_clip import OpenClipEncoder

CPU = torch.device("cpu")
CONTEXT = 16
TEXTS = ["a red circle", "x", "", "A photo depicts two red squares", "green green green circle",
         "a very long caption about many shapes that runs well past the sixteen tokens of the tiny context"]


def _open_clip(custom: bool = False, **text_cfg: Any) -> Any:
    import open_clip

    config = json.loads(TINY_CLIP.read_text(encoding="utf-8"))["model_cfg"]
    config["text_cfg"].update(text_cfg)
    torch.manual_seed(0)
    return (open_clip.CustomTextCLIP if custom else open_clip.CLIP)(**config).eval()


def _tokenizer() -> Any:
    from open_clip.tokenizer import SimpleTokenizer

    return SimpleTokenizer(context_length=CONTEXT)


def _lengths_seen(model: Any) -> list[int]:
    transformer = model.text.transformer if hasattr(model, "text") else model.transformer
    seen: list[int] = []
    transformer.register_forward_pre_hook(lambda _, args: seen.append(args[0].shape[1]))
    return seen


@pytest.mark.parametrize("custom", [False, True], ids=["CLIP", "CustomTextCLIP"])
def test_open_clip_trimmed_embeddings_equal_untrimmed(custom: bool) -> None:
    model, tokenizer = _open_clip(custom), _tokenizer()
    encoder = OpenClipEncoder(model, None, tokenizer, CPU)
    assert encoder.trims_padding
    seen = _lengths_seen(model)
    with torch.inference_mode():
        for batch in (TEXTS[:3], TEXTS[:5], TEXTS, [TEXTS[1]]):
            got = encoder.encode_texts(batch)
            want = model.encode_text(tokenizer(batch))
            torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-6)
            assert not torch.allclose(want[0], want[-1], atol=1e-3) or len(batch) == 1
    # the short batches ran on fewer positions than the context ("a red circle" is SOT + 3 words + EOT);
    # open_clip's own encode_text (every second call) on all of them
    assert seen[::2] == [5, 8, CONTEXT, 3] and set(seen[1::2]) == {CONTEXT}


@pytest.mark.parametrize("custom", [False, True], ids=["CLIP", "CustomTextCLIP"])
def test_eos_pooling_is_trimmed_too(custom: bool) -> None:
    tokenizer = _tokenizer()
    model = _open_clip(custom, pool_type="eos", eos_id=tokenizer.eot_token_id)
    encoder = OpenClipEncoder(model, None, tokenizer, CPU)
    assert encoder.trims_padding
    with torch.inference_mode():
        want = model.encode_text(tokenizer(TEXTS))
        torch.testing.assert_close(encoder.encode_texts(TEXTS), want, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize(("custom", "text_cfg"), [
    (False, {"pool_type": "last"}),       # the last position: a pad token, that sees every position before it
    (False, {"pool_type": "first"}),
    (False, {"no_causal_mask": True}),    # bidirectional: padding reaches every token
    (True, {"pool_type": "last"}),
    (True, {"no_causal_mask": True}),
    (True, {"embed_cls": True}),          # CoCa's appended class token, pooled last
])
def test_towers_where_trimming_is_not_exact_are_not_trimmed(custom: bool, text_cfg: dict[str, Any]) -> None:
    model, tokenizer = _open_clip(custom, **text_cfg), _tokenizer()
    encoder = OpenClipEncoder(model, None, tokenizer, CPU)
    assert not encoder.trims_padding
    seen = _lengths_seen(model)
    with torch.inference_mode():
        assert torch.equal(encoder.encode_texts(TEXTS[:3]), model.encode_text(tokenizer(TEXTS[:3])))
    assert set(seen) == {CONTEXT + int("embed_cls" in text_cfg)}


def test_a_subclass_with_its_own_encode_text_is_not_trimmed() -> None:
    import open_clip

    class Scaled(open_clip.CLIP):
        def encode_text(self, text: torch.Tensor, normalize: bool = False) -> torch.Tensor:
            return 2 * super().encode_text(text, normalize)

    config = json.loads(TINY_CLIP.read_text(encoding="utf-8"))["model_cfg"]
    model, tokenizer = Scaled(**config).eval(), _tokenizer()
    encoder = OpenClipEncoder(model, None, tokenizer, CPU)
    assert not encoder.trims_padding
    with torch.inference_mode():
        assert torch.equal(encoder.encode_texts(TEXTS), model.encode_text(tokenizer(TEXTS)))


def _hf_rows(model: Any, tokenizer: Any, texts: list[str], **padding: Any) -> torch.Tensor:
    inputs = tokenizer(texts, truncation=True, return_tensors="pt", **padding)
    with torch.inference_mode():
        out = model.get_text_features(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"])
    return out if isinstance(out, torch.Tensor) else out.pooler_output


def test_transformers_clip_padded_to_the_batch_equals_padded_to_the_maximum(transformers_files) -> None:
    model, processor = transformers_files.model, transformers_files.processor
    encoder = TransformersEncoder(model, processor, CPU)
    assert encoder.padding == {"padding": True, "max_length": 32}  # the model's positions
    texts = [t for t in TEXTS if t]
    full = _hf_rows(model, processor.tokenizer, texts, padding="max_length", max_length=32)
    with torch.inference_mode():
        torch.testing.assert_close(encoder.encode_texts(texts), full, rtol=1e-6, atol=1e-6)
        torch.testing.assert_close(encoder.encode_texts(texts[:2]), full[:2], rtol=1e-6, atol=1e-6)
    assert _hf_rows(model, processor.tokenizer, texts[:2], padding=True).shape == full[:2].shape


def _tiny_siglip(tokenizer: Any) -> Any:
    from transformers import SiglipConfig, SiglipModel

    layers = {"hidden_size": 32, "intermediate_size": 37, "num_hidden_layers": 2, "num_attention_heads": 2}
    config = SiglipConfig(text_config={"vocab_size": len(tokenizer), "max_position_embeddings": CONTEXT,
                                       "pad_token_id": tokenizer.pad_token_id, **layers},
                          vision_config={"image_size": 32, "patch_size": 8, **layers})
    torch.manual_seed(0)
    return SiglipModel(config).eval()


def test_siglip_is_padded_to_its_text_length(transformers_files) -> None:
    """SigLIP pools the last position: padded to the batch, a text's embedding would depend on its batch."""
    tokenizer = transformers_files.processor.tokenizer
    model = _tiny_siglip(tokenizer)
    assert text_padding(model, transformers_files.processor) == {"padding": "max_length", "max_length": CONTEXT}
    short, long = "a red circle", "a red circle and a blue square"
    alone = _hf_rows(model, tokenizer, [short], padding=True)[0]
    beside_long = _hf_rows(model, tokenizer, [short, long], padding=True)[0]
    assert not torch.allclose(alone, beside_long, atol=1e-3)
    fixed = {"padding": "max_length", "max_length": CONTEXT}
    torch.testing.assert_close(_hf_rows(model, tokenizer, [short], **fixed)[0],
                               _hf_rows(model, tokenizer, [short, long], **fixed)[0], rtol=1e-6, atol=1e-6)
