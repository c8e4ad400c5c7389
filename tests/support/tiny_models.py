"""Tiny, randomly initialised transformers checkpoints, built from configs and saved offline.

Each builder writes a folder the way a user's checkpoint looks (``save_pretrained`` of the
model, its processor and tokenizer, weights as safetensors) and returns it. Weights are
seeded, so a folder built twice holds the same model. The generators' special tokens
are made unlikely (their output rows zeroed) and their cross-attention strengthened, so
greedy decoding emits words that depend on the image, rather than stopping at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

WORDS: tuple[str, ...] = (
    "a", "an", "the", "is", "are", "what", "colour", "color", "shape", "of", "square", "circle", "red",
    "green", "blue", "yes", "no", "one", "two", "three", "how", "many", "there", "in", "image", "picture",
    "photo", "small", "big", "white", "black",
)
"""The words of the tiny BLIP vocabulary."""

CAPTIONER_WORDS: tuple[str, ...] = tuple(
    "a an the square that is red green blue colour of photo small big on white black shape".split())
"""The words of the tiny ViT + GPT-2 captioner's vocabulary."""

CHARACTERS: str = "abcdefghijklmnopqrstuvwxyz0123456789"
"""The characters of the tiny TrOCR vocabulary (its tokenizer splits text into characters)."""

_BERT_SPECIAL = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[DEC]")
_VISION: dict[str, Any] = {"image_size": 32, "patch_size": 8, "hidden_size": 32, "intermediate_size": 37,
                           "num_hidden_layers": 1, "num_attention_heads": 2}


def build_tiny_blip_vqa(folder: Path) -> Path:
    """A ``BlipForQuestionAnswering`` with a ``BlipProcessor`` (``BlipImageProcessor`` at 32 px and
    a ``BertTokenizer`` from a hand-written ``vocab.txt``) saved in ``folder``."""
    return _build_tiny_blip(folder, "BlipForQuestionAnswering")


def build_tiny_blip_captioner(folder: Path) -> Path:
    """A ``BlipForConditionalGeneration`` (BLIP captioning) with the same processor, saved in ``folder``."""
    return _build_tiny_blip(folder, "BlipForConditionalGeneration")


def _build_tiny_blip(folder: Path, architecture: str) -> Path:
    import torch
    import transformers
    from transformers import (
        BertTokenizer,
        BlipConfig,
        BlipImageProcessor,
        BlipProcessor,
    )

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tokens = [*_BERT_SPECIAL, *WORDS]
    vocab_file = folder / "vocab.txt"
    vocab_file.write_text("\n".join(tokens) + "\n", encoding="utf-8")
    tokenizer = BertTokenizer(vocab=str(vocab_file), bos_token="[DEC]")
    ids = {t: i for i, t in enumerate(tokens)}
    text = {"vocab_size": len(tokens), "hidden_size": 32, "intermediate_size": 37, "num_hidden_layers": 1,
            "num_attention_heads": 2, "max_position_embeddings": 64, "pad_token_id": ids["[PAD]"],
            "bos_token_id": ids["[DEC]"], "sep_token_id": ids["[SEP]"], "eos_token_id": ids["[SEP]"]}
    # BLIP's default vision initializer_range, 1e-10, makes every image look alike
    vision = {**_VISION, "initializer_range": 0.02}
    config = BlipConfig(text_config=text, vision_config=vision, projection_dim=16, architectures=[architecture])
    torch.manual_seed(0)
    model = getattr(transformers, architecture)(config).eval()
    with torch.no_grad():
        embeddings = model.text_decoder.get_input_embeddings().weight  # tied to the output layer
        embeddings[: len(_BERT_SPECIAL)] = 0.0  # words, not [SEP], win greedily
        embeddings[len(_BERT_SPECIAL):] *= 5.0
        for name, weight in model.named_parameters():  # let the image and the question steer the answer
            if name.endswith(("crossattention.self.value.weight", "crossattention.output.dense.weight")):
                weight.mul_(10.0)
    model.save_pretrained(folder)
    image_processor = BlipImageProcessor(size={"height": 32, "width": 32})
    BlipProcessor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(folder)
    return folder


def build_tiny_multilabel_classifier(folder: Path, labels: Sequence[str],
                                     problem_type: str = "multi_label_classification") -> Path:
    """A ``ViTForImageClassification`` with one output per label (``id2label`` in ``labels`` order)
    and a ``ViTImageProcessor`` at 32 px, saved in ``folder``."""
    import torch
    from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessor

    folder = Path(folder)
    head: dict[str, Any] = {"num_labels": len(labels), "problem_type": problem_type}  # loosely typed in the stubs
    config = ViTConfig(**_VISION, **head,
                       id2label=dict(enumerate(labels)), label2id={label: i for i, label in enumerate(labels)},
                       architectures=["ViTForImageClassification"])
    torch.manual_seed(0)
    model = ViTForImageClassification(config).eval()
    with torch.no_grad():  # a spread of logits, so sigmoid scores are not all near 0.5
        model.classifier.weight.mul_(50.0)
    model.save_pretrained(folder)
    ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(folder)
    return folder


def _character_tokenizer() -> Any:
    """A fast tokenizer with one token per character of :data:`CHARACTERS` and ``▁`` for a space."""
    from tokenizers import (
        Regex,
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
    )
    from transformers import PreTrainedTokenizerFast

    tokens = ["<pad>", "<s>", "</s>", "<unk>", "▁", *CHARACTERS]
    backend = Tokenizer(models.WordLevel({t: i for i, t in enumerate(tokens)}, unk_token="<unk>"))
    backend.normalizer = normalizers.Sequence([normalizers.Lowercase(), normalizers.Replace(" ", "▁")])
    backend.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    backend.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.Fuse()])
    return PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="<pad>", bos_token="<s>",
                                   eos_token="</s>", unk_token="<unk>")


def build_tiny_trocr(folder: Path) -> Path:
    """A TrOCR-style ``VisionEncoderDecoderModel`` (ViT encoder, ``TrOCRForCausalLM`` decoder) with a
    character tokenizer and a ``ViTImageProcessor`` at 32 px, saved in ``folder`` as safetensors."""
    import torch
    from transformers import (
        TrOCRConfig,
        VisionEncoderDecoderConfig,
        VisionEncoderDecoderModel,
        ViTConfig,
        ViTImageProcessor,
    )

    folder = Path(folder)
    tokenizer = _character_tokenizer()
    special: dict[str, Any] = {"pad_token_id": 0, "bos_token_id": 1, "eos_token_id": 2, "decoder_start_token_id": 1}
    encoder = ViTConfig(**_VISION)
    decoder = TrOCRConfig(vocab_size=len(tokenizer), d_model=32, decoder_layers=1, decoder_attention_heads=2,
                          decoder_ffn_dim=37, max_position_embeddings=64, cross_attention_hidden_size=32,
                          **special)
    config = VisionEncoderDecoderConfig.from_encoder_decoder_configs(encoder, decoder)
    for key, value in special.items():
        setattr(config, key, value)
    torch.manual_seed(0)
    model = VisionEncoderDecoderModel(config=config).eval()
    for key, value in special.items():
        setattr(model.generation_config, key, value)
    with torch.no_grad():
        model.decoder.get_input_embeddings().weight[:4] = 0.0  # tied to the output: characters win, not </s>
        for name, weight in model.decoder.named_parameters():  # let the image steer the characters
            if name.endswith(("encoder_attn.v_proj.weight", "encoder_attn.out_proj.weight")):
                weight.mul_(10.0)
    model.save_pretrained(folder)
    ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def build_tiny_git(folder: Path) -> Path:
    """A decoder-only ``GitForCausalLM`` (its ``generate`` returns the prompt, then the answer) with a
    ``GitProcessor`` (``CLIPImageProcessor`` at 32 px and the tiny ``BertTokenizer``), saved in ``folder``."""
    import torch
    from transformers import (
        BertTokenizer,
        CLIPImageProcessor,
        GitConfig,
        GitForCausalLM,
        GitProcessor,
    )

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tokens = [*_BERT_SPECIAL, *WORDS]
    vocab_file = folder / "vocab.txt"
    vocab_file.write_text("\n".join(tokens) + "\n", encoding="utf-8")
    tokenizer = BertTokenizer(vocab=str(vocab_file))
    config = GitConfig(vision_config=dict(_VISION), vocab_size=len(tokens), hidden_size=32, num_hidden_layers=1,
                       num_attention_heads=2, intermediate_size=37, max_position_embeddings=64,
                       pad_token_id=0, bos_token_id=2, eos_token_id=3, architectures=["GitForCausalLM"])
    torch.manual_seed(0)
    model = GitForCausalLM(config).eval()
    with torch.no_grad():  # words, not [SEP], win greedily
        model.output.weight[: len(_BERT_SPECIAL)] = 0.0
        model.output.bias[: len(_BERT_SPECIAL)] = -10.0
    model.save_pretrained(folder)
    image_processor = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    GitProcessor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(folder)
    return folder


def build_tiny_vit_gpt2_captioner(folder: Path) -> Path:
    """A ``VisionEncoderDecoderModel`` (ViT encoder, GPT-2 decoder) with a WordLevel tokenizer over
    :data:`CAPTIONER_WORDS` and a ``ViTImageProcessor`` at 32 px, saved in ``folder``; the special
    tokens' embedding rows are zeroed (tied to the output layer) so greedy decoding emits words."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import (
        GPT2Config,
        PreTrainedTokenizerFast,
        VisionEncoderDecoderConfig,
        VisionEncoderDecoderModel,
        ViTConfig,
        ViTImageProcessor,
    )

    vocab = {t: i for i, t in enumerate(["[PAD]", "[BOS]", "[EOS]", "[UNK]", *CAPTIONER_WORDS])}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, bos_token="[BOS]", eos_token="[EOS]",
                                        pad_token="[PAD]", unk_token="[UNK]")
    decoder_options: dict[str, Any] = {"bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 0,
                                       "is_decoder": True, "add_cross_attention": True}
    encoder = ViTConfig(image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=1,
                        num_attention_heads=2, intermediate_size=37)
    decoder = GPT2Config(vocab_size=len(vocab), n_positions=64, n_embd=32, n_layer=1, n_head=2,
                         **decoder_options)
    config = VisionEncoderDecoderConfig.from_encoder_decoder_configs(encoder, decoder)
    config.decoder_start_token_id, config.pad_token_id, config.eos_token_id = 1, 0, 2
    torch.manual_seed(0)
    model = VisionEncoderDecoderModel(config=config).eval()
    for key, value in (("decoder_start_token_id", 1), ("pad_token_id", 0), ("eos_token_id", 2)):
        setattr(model.generation_config, key, value)
    with torch.no_grad():  # tied to the output layer: words, not special tokens, win greedily
        model.decoder.transformer.wte.weight[:4] = 0.0
        model.decoder.transformer.wte.weight[4:] *= 5.0
    folder = Path(folder)
    model.save_pretrained(folder)
    ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
