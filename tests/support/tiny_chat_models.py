"""Tiny, randomly initialised chat vision-language models (LLaVA, Qwen2-VL, Idefics3), built offline.

Each builder writes a folder the way a hub checkpoint looks: ``save_pretrained`` of the model
(safetensors), of its processor (image processor at 28-56 px, tokenizer, ``chat_template.jinja``).
The tokenizer is a ``tokenizers`` WordLevel over :data:`CHAT_WORDS` plus the architecture's special
and image tokens; it keeps ``"\\n"`` as a token, so a generation can hold several lines. Weights are
seeded and every matrix is scaled up, so greedy decoding depends on the image and the prompt; the
special tokens' output rows are zeroed, so words (not the end of turn) win and outputs are not empty.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

CHAT_WORDS: tuple[str, ...] = tuple(
    "a an the is are what colour color shape of square circle red green blue yes no one two three how many "
    "there in image picture photo small big white black describe sentence answer question using single word "
    "or phrase user assistant system you helpful look".split())
"""The words of the tiny chat tokenizers (lower-cased on the way in)."""

PUNCTUATION: tuple[str, ...] = (".", ",", ":", "?", "!", "\n")
_SPECIAL = ("<pad>", "<s>", "</s>", "<unk>")

LLAVA_TEMPLATE = (
    "{% for m in messages %}{% if m['role'] == 'system' %}{{ m['content'][0]['text'] }} {% else %}"
    "{{ m['role'] | upper }}: {% for c in m['content'] %}{% if c['type'] == 'image' %}<image>\n"
    "{% else %}{{ c['text'] }}{% endif %}{% endfor %} {% endif %}{% endfor %}"
    "{% if add_generation_prompt %}ASSISTANT:{% endif %}")
"""A LLaVA-1.5 style template (``USER: <image>\\n... ASSISTANT:``)."""

QWEN2_VL_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{% for c in m['content'] %}"
    "{% if c['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>{% else %}{{ c['text'] }}{% endif %}"
    "{% endfor %}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
"""A Qwen2-VL style ChatML template."""

IDEFICS3_TEMPLATE = (
    "<|im_start|>{% for m in messages %}{{ m['role'] | capitalize }}:{% for c in m['content'] %}"
    "{% if c['type'] == 'image' %}<image>{% else %} {{ c['text'] }}{% endif %}{% endfor %}<end_of_utterance>\n"
    "{% endfor %}{% if add_generation_prompt %}Assistant:{% endif %}")
"""An Idefics3 / SmolVLM style template."""


def chat_tokenizer(extra: Sequence[str], **special: Any) -> Any:
    """A fast WordLevel tokenizer: the special tokens, ``extra`` (added as special), punctuation and
    :data:`CHAT_WORDS`; spaces separate words, punctuation and ``"\\n"`` are tokens of their own."""
    from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {t: i for i, t in enumerate([*_SPECIAL, *extra, *PUNCTUATION, *CHAT_WORDS])}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.normalizer = normalizers.Lowercase()
    backend.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(r"[^\S\n]+"), behavior="removed"),
        pre_tokenizers.Split(Regex(r"\n|[.,:?!]"), behavior="isolated")])
    backend.add_special_tokens(list(extra))
    return PreTrainedTokenizerFast(tokenizer_object=backend, bos_token="<s>", eos_token="</s>", pad_token="<pad>",
                                   unk_token="<unk>", **special)


def _liven(model: Any, special: int, scale: float = 3.0) -> None:
    """Scale every weight matrix (outputs then depend on the image and prompt) and zero the output rows of
    the first ``special`` tokens (words win greedily)."""
    import torch

    with torch.no_grad():
        for weight in model.parameters():
            if weight.dim() == 2:
                weight.mul_(scale)
        model.get_output_embeddings().weight[:special] = 0.0


def _save(folder: Path, model: Any, special: int, processor: Any) -> Path:
    _liven(model, special)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


def _text(tokenizer: Any, eos: str, **extra: Any) -> dict[str, Any]:
    """A one-layer, 32-wide decoder config for ``tokenizer``."""
    return {"vocab_size": len(tokenizer), "hidden_size": 32, "intermediate_size": 37, "num_hidden_layers": 1,
            "num_attention_heads": 2, "num_key_value_heads": 1, "max_position_embeddings": 256,
            "pad_token_id": tokenizer.pad_token_id, "bos_token_id": tokenizer.bos_token_id,
            "eos_token_id": tokenizer.convert_tokens_to_ids(eos), **extra}


def build_tiny_llava(folder: Path, template: str | None = LLAVA_TEMPLATE) -> Path:
    """A ``LlavaForConditionalGeneration`` (CLIP vision tower at 28 px, Llama decoder) with a ``LlavaProcessor``
    whose chat template is ``template`` (``None``: no template), saved in ``folder``."""
    import torch
    from transformers import CLIPImageProcessor, LlavaConfig, LlavaForConditionalGeneration, LlavaProcessor

    extra = ("<image>",)
    tokenizer = chat_tokenizer(extra, extra_special_tokens={"image_token": "<image>"})
    vision = {"model_type": "clip_vision_model", "image_size": 28, "patch_size": 14, "hidden_size": 32,
              "intermediate_size": 37, "num_hidden_layers": 1, "num_attention_heads": 2}
    config = LlavaConfig(vision_config=vision, text_config=_text(tokenizer, "</s>", model_type="llama"),
                         image_token_index=tokenizer.convert_tokens_to_ids("<image>"), vision_feature_layer=-1,
                         image_seq_length=4, architectures=["LlavaForConditionalGeneration"])
    torch.manual_seed(0)
    model = LlavaForConditionalGeneration(config).eval()
    image_processor = CLIPImageProcessor(size={"shortest_edge": 28}, crop_size={"height": 28, "width": 28})
    processor = LlavaProcessor(image_processor=image_processor, tokenizer=tokenizer, patch_size=14,
                               vision_feature_select_strategy="default", num_additional_image_tokens=1,
                               chat_template=template)
    return _save(Path(folder), model, len(_SPECIAL) + len(extra), processor)


def build_tiny_qwen2_vl(folder: Path, template: str | None = QWEN2_VL_TEMPLATE) -> Path:
    """A ``Qwen2VLForConditionalGeneration`` (M-RoPE decoder, dynamic resolution: 4 to 6 image tokens for
    images of different shapes) with a ``Qwen2VLProcessor`` and ``template``, saved in ``folder``."""
    import torch
    from transformers import (
        Qwen2VLConfig,
        Qwen2VLForConditionalGeneration,
        Qwen2VLImageProcessor,
        Qwen2VLProcessor,
        Qwen2VLVideoProcessor,
    )

    extra = ("<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>")
    tokenizer = chat_tokenizer(extra)
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in extra}
    rope = {"rope_type": "default", "mrope_section": [2, 3, 3], "rope_theta": 10000.0}  # head_dim 16: 2+3+3 = 8
    vision = {"depth": 1, "embed_dim": 32, "hidden_size": 32, "num_heads": 2, "patch_size": 14,
              "spatial_merge_size": 2, "temporal_patch_size": 2}
    config = Qwen2VLConfig(text_config=_text(tokenizer, "<|im_end|>", rope_parameters=rope), vision_config=vision,
                           image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
                           vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"],
                           architectures=["Qwen2VLForConditionalGeneration"])
    torch.manual_seed(0)
    model = Qwen2VLForConditionalGeneration(config).eval()
    pixels = {"min_pixels": 28 * 28 * 4, "max_pixels": 28 * 28 * 6}
    processor = Qwen2VLProcessor(image_processor=Qwen2VLImageProcessor(**pixels, patch_size=14, merge_size=2),
                                 tokenizer=tokenizer, video_processor=Qwen2VLVideoProcessor(**pixels),
                                 chat_template=template)
    return _save(Path(folder), model, len(_SPECIAL) + len(extra), processor)


def build_tiny_idefics3(folder: Path, template: str | None = IDEFICS3_TEMPLATE) -> Path:
    """An ``Idefics3ForConditionalGeneration`` (SigLIP tower at 28 px, pixel shuffle to one image token, Llama
    decoder) with an ``Idefics3Processor`` (no image splitting) and ``template``, saved in ``folder``."""
    import torch
    from transformers import (
        Idefics3Config,
        Idefics3ForConditionalGeneration,
        Idefics3ImageProcessor,
        Idefics3Processor,
    )

    extra = ("<|im_start|>", "<fake_token_around_image>", "<image>", "<end_of_utterance>", "<global-img>")
    tokenizer = chat_tokenizer(extra)
    vision = {"hidden_size": 32, "intermediate_size": 37, "num_hidden_layers": 1, "num_attention_heads": 2,
              "image_size": 28, "patch_size": 14}
    config = Idefics3Config(text_config=_text(tokenizer, "<end_of_utterance>", model_type="llama"),
                            vision_config=vision, image_token_id=tokenizer.convert_tokens_to_ids("<image>"),
                            scale_factor=2, pad_token_id=tokenizer.pad_token_id,
                            architectures=["Idefics3ForConditionalGeneration"])
    torch.manual_seed(0)
    model = Idefics3ForConditionalGeneration(config).eval()
    image_processor = Idefics3ImageProcessor(do_image_splitting=False, size={"longest_edge": 28},
                                             max_image_size={"longest_edge": 28})
    # image_seq_len = (image_size // patch_size) ** 2 / scale_factor ** 2 = 1
    processor = Idefics3Processor(image_processor=image_processor, tokenizer=tokenizer, image_seq_len=1,
                                  chat_template=template)
    return _save(Path(folder), model, len(_SPECIAL) + len(extra), processor)


BUILDERS: dict[str, Callable[..., Path]] = {"llava": build_tiny_llava, "qwen2_vl": build_tiny_qwen2_vl,
                                             "idefics3": build_tiny_idefics3}
"""Each tiny chat VLM builder by architecture."""


def generate_alone(folder: Path, image: Any, text: str, max_new_tokens: int, system: str | None = None) -> str:
    """What the checkpoint in ``folder`` says to one (image, text) alone, from the library itself: the
    messages through ``apply_chat_template``, unpadded, greedy ``generate``, the new tokens decoded,
    stripped and cut at the first newline."""
    import torch

    model, processor = _library(str(folder))
    user = {"role": "user", "content": [{"type": "image", "image": image}, {"type": "text", "text": text}]}
    turns = [user] if system is None else [{"role": "system", "content": [{"type": "text", "text": system}]}, user]
    inputs = processor.apply_chat_template([turns], add_generation_prompt=True, tokenize=True, return_dict=True,
                                           return_tensors="pt")
    with torch.inference_mode():
        ids = model.generate(**inputs, do_sample=False, num_beams=1, max_new_tokens=max_new_tokens)
    new = ids[0, inputs["input_ids"].shape[1]:]
    return str(processor.decode(new, skip_special_tokens=True)).strip().split("\n")[0].strip()


@functools.lru_cache(maxsize=8)
def _library(folder: str) -> tuple[Any, Any]:
    """The model (eval mode) and processor in ``folder``, loaded by transformers' auto classes, once."""
    from transformers import AutoModelForImageTextToText, AutoProcessor

    return AutoModelForImageTextToText.from_pretrained(folder).eval(), AutoProcessor.from_pretrained(folder)
