"""Tiny, randomly initialised checkpoints for the adapter tests, built once per session.

Each fixture saves a checkpoint the way a user would (open_clip ``local-dir`` folder,
plain state_dict, transformers ``save_pretrained``) and keeps the in-memory model and
its own preprocessing beside it, so tests compare the adapter with the library itself.
Nothing here reaches the network.
"""

from __future__ import annotations

import itertools
import json
import sys
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image
from support.project import TINY_CLIP

_module_names = itertools.count()


@dataclass(frozen=True)
class OpenClipFiles:
    """One tiny open_clip model saved three ways, and the model itself."""

    folder: Path  # local-dir checkpoint: open_clip_config.json + open_clip_model.safetensors
    weights: Path  # the same weights as a plain state_dict .pt (loads with weights_only=True)
    config_json: Path  # a copy of tiny_clip.json ({"model_cfg": ..., "preprocess_cfg": ...})
    plain_config_json: Path  # only its "model_cfg" (the form open_clip.add_model_config reads)
    config: dict[str, Any]
    model: Any  # open_clip.CLIP in eval mode


@dataclass(frozen=True)
class TransformersFiles:
    """One tiny transformers CLIPModel saved with safetensors and as pickle only, with its processor."""

    folder: Path  # config.json, model.safetensors, processor and tokenizer files
    pickle_folder: Path  # the same, but weights only as pytorch_model.bin
    model: Any  # transformers.CLIPModel in eval mode
    processor: Any  # the CLIPProcessor the folders were saved with


@pytest.fixture(autouse=True)
def _one_torch_thread() -> Iterator[None]:
    """Tiny models run fastest on one thread; two threads on a busy 2-core machine spin for ~0.5 s a pass."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def images() -> list[Image.Image]:
    """Three different RGB images of different sizes and aspect ratios."""
    rng = np.random.default_rng(0)
    sizes = [(40, 32), (32, 56), (64, 64)]
    return [Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), "RGB") for w, h in sizes]


@pytest.fixture(scope="session")
def texts() -> list[str]:
    """Texts of different lengths (so a batch needs padding), one with words outside the tiny vocab."""
    return ["a red circle", "A photo depicts a blue square!", "green"]


@pytest.fixture(scope="session")
def open_clip_files(tmp_path_factory: pytest.TempPathFactory) -> OpenClipFiles:
    """A tiny open_clip CLIP (``qa_gate/demo/tiny_clip.json``, seed 0) as folder, .pt and config .json."""
    import open_clip
    from safetensors.torch import save_file

    root = tmp_path_factory.mktemp("open_clip")
    config = json.loads(TINY_CLIP.read_text(encoding="utf-8"))
    torch.manual_seed(0)
    model = open_clip.CLIP(**config["model_cfg"]).eval()
    state = {name: tensor.detach().contiguous() for name, tensor in model.state_dict().items()}

    folder = root / "tiny_clip_dir"
    folder.mkdir()
    (folder / "open_clip_config.json").write_text(json.dumps(config), encoding="utf-8")
    save_file(state, str(folder / "open_clip_model.safetensors"))

    weights = root / "tiny_clip_weights.pt"
    torch.save(state, weights)
    config_json = root / "tiny_clip_wrapped.json"
    config_json.write_text(json.dumps(config), encoding="utf-8")
    plain_config_json = root / "tiny_clip_plain.json"
    plain_config_json.write_text(json.dumps(config["model_cfg"]), encoding="utf-8")
    return OpenClipFiles(folder, weights, config_json, plain_config_json, config, model)


def _tiny_clip_tokenizer(folder: Path) -> Any:
    """A CLIP BPE tokenizer from a hand-written vocab.json + merges.txt (byte-level, ``</w>`` word ends)."""
    from transformers import CLIPTokenizer

    printable = [chr(code) for code in range(33, 127)]  # bytes that CLIP's byte-to-unicode map keeps as is
    merges = ["r e", "re d</w>", "c i", "ci r", "cir c", "circ l", "circl e</w>", "b l", "bl u", "blu e</w>"]
    tokens = [*printable, *(c + "</w>" for c in printable), *(m.replace(" ", "") for m in merges),
              "<|startoftext|>", "<|endoftext|>"]
    folder.mkdir()
    (folder / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(tokens)}), encoding="utf-8")
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n", encoding="utf-8")
    return CLIPTokenizer.from_pretrained(folder)


@pytest.fixture(scope="session")
def transformers_files(tmp_path_factory: pytest.TempPathFactory) -> TransformersFiles:
    """A tiny transformers CLIPModel and CLIPProcessor saved for offline ``from_pretrained``."""
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor

    root = tmp_path_factory.mktemp("transformers")
    tokenizer = _tiny_clip_tokenizer(root / "vocab")
    assert tokenizer.convert_ids_to_tokens(tokenizer("a red circle")["input_ids"]) == [
        "<|startoftext|>", "a</w>", "red</w>", "circle</w>", "<|endoftext|>"]
    special = {"bos_token_id": tokenizer.bos_token_id, "eos_token_id": tokenizer.eos_token_id,
               "pad_token_id": tokenizer.pad_token_id}
    config = CLIPConfig(
        text_config=dict(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=37, num_hidden_layers=2,
                         num_attention_heads=2, max_position_embeddings=32, **special),
        vision_config={"image_size": 32, "patch_size": 8, "hidden_size": 32, "intermediate_size": 37,
                       "num_hidden_layers": 2, "num_attention_heads": 2},
        projection_dim=16,
    )
    torch.manual_seed(0)
    model = CLIPModel(config).eval()
    image_processor = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    processor = CLIPProcessor(image_processor=image_processor, tokenizer=tokenizer)

    folder = root / "tiny_clip_hf"
    model.save_pretrained(folder)
    processor.save_pretrained(folder)

    # transformers 5 always writes safetensors; a pickle-only checkpoint is an older save
    pickle_folder = root / "tiny_clip_hf_bin"
    config.save_pretrained(pickle_folder)
    processor.save_pretrained(pickle_folder)
    torch.save(model.state_dict(), pickle_folder / "pytorch_model.bin")
    return TransformersFiles(folder, pickle_folder, model, processor)


@pytest.fixture
def user_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], str]]:
    """Write a uniquely named module into tmp_path (put on sys.path) and return its name."""
    monkeypatch.syspath_prepend(str(tmp_path))
    written: list[str] = []

    def write(source: str) -> str:
        name = f"qa_gate_user_adapter_{next(_module_names)}"
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(source), encoding="utf-8")
        written.append(name)
        return name

    yield write
    for name in written:
        sys.modules.pop(name, None)
