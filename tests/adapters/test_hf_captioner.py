"""The OCR path: the captioner adapter loads a TrOCR-style checkpoint and reads characters."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from support.tiny_models import CHARACTERS, build_tiny_blip_captioner, build_tiny_trocr

from qa_gate.adapters.hf.captioner import load_transformers_captioner
from qa_gate.config.model import ModelConfig

CPU = torch.device("cpu")
MAX_NEW_TOKENS = 8


@pytest.fixture(scope="module")
def trocr(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_trocr(tmp_path_factory.mktemp("trocr") / "ckpt")


def _direct(folder: Path, images) -> list[str]:
    from transformers import AutoTokenizer, VisionEncoderDecoderModel, ViTImageProcessor

    model = VisionEncoderDecoderModel.from_pretrained(folder).eval()
    pixels = ViTImageProcessor.from_pretrained(folder)(images=images, return_tensors="pt")["pixel_values"]
    with torch.inference_mode():
        ids = model.generate(pixel_values=pixels, do_sample=False, num_beams=1, max_new_tokens=MAX_NEW_TOKENS)
    return [t.strip() for t in AutoTokenizer.from_pretrained(folder).batch_decode(ids, skip_special_tokens=True)]


def test_the_checkpoint_is_a_safetensors_trocr(trocr: Path) -> None:
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(trocr)
    assert (config.encoder.model_type, config.decoder.model_type) == ("vit", "trocr")
    assert (trocr / "model.safetensors").is_file() and not list(trocr.glob("*.bin"))


def test_the_captioner_reads_what_generate_gives(trocr: Path, images) -> None:
    model = ModelConfig(adapter="transformers", checkpoint=str(trocr), device="cpu",
                        options={"max_new_tokens": MAX_NEW_TOKENS})
    reader, name = load_transformers_captioner(model, CPU)
    with torch.inference_mode():
        texts = reader.generate(images)
    assert texts == _direct(trocr, images)
    assert name == "transformers:VisionEncoderDecoderModel"
    assert type(reader.model.decoder).__name__ == "TrOCRForCausalLM"
    assert reader.settings == {"do_sample": False, "num_beams": 1, "max_new_tokens": MAX_NEW_TOKENS,
                               "generation_config": reader.settings["generation_config"]}
    assert all(0 < len(text) <= MAX_NEW_TOKENS and set(text) <= set(CHARACTERS + " ") for text in texts)
    assert len(set(texts)) > 1  # the image steers the characters


def test_the_character_tokenizer_round_trips(trocr: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(trocr)
    ids = tokenizer("ab 12 c")["input_ids"]
    assert len(ids) == 7
    assert tokenizer.decode(ids, skip_special_tokens=True) == "ab 12 c"


def test_a_blip_captioner_loads_and_captions_as_generate_does(tmp_path: Path) -> None:
    """BLIP captioning (``BlipForConditionalGeneration``) through the same adapter: unconditional captions."""
    from PIL import Image
    from transformers import BlipForConditionalGeneration, BlipProcessor

    folder = build_tiny_blip_captioner(tmp_path / "blip")
    captioner, name = load_transformers_captioner(
        ModelConfig("transformers", str(folder), options={"max_new_tokens": MAX_NEW_TOKENS}), CPU)
    assert name == "transformers:BlipForConditionalGeneration"
    images = [Image.new("RGB", (40, 40), colour) for colour in ((250, 10, 10), (10, 10, 250), (240, 240, 240))]
    model = BlipForConditionalGeneration.from_pretrained(folder).eval()
    processor = BlipProcessor.from_pretrained(folder)
    with torch.inference_mode():
        ids = model.generate(pixel_values=processor(images=images, return_tensors="pt")["pixel_values"],
                             do_sample=False, num_beams=1, max_new_tokens=MAX_NEW_TOKENS)
    expected = [t.strip() for t in processor.tokenizer.batch_decode(ids, skip_special_tokens=True)]
    assert captioner.generate(images) == expected
    assert all(expected)


def test_a_captioner_missing_weights_is_refused(tmp_path: Path) -> None:
    """A checkpoint whose weights do not cover its architecture would caption with random layers."""
    from safetensors.torch import load_file, save_file

    from qa_gate.errors import AdapterError

    folder = build_tiny_blip_captioner(tmp_path / "blip")
    weights = load_file(str(folder / "model.safetensors"))
    save_file({k: v for k, v in weights.items() if not k.startswith("text_decoder.")},
              str(folder / "model.safetensors"), metadata={"format": "pt"})
    with pytest.raises(AdapterError, match=r"^model\.checkpoint: "):
        load_transformers_captioner(ModelConfig("transformers", str(folder)), CPU)
