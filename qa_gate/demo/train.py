"""Train the two demo checkpoints: a tiny open_clip CLIP that aligns, and a regressed fine-tune.

``good`` is trained from scratch on freshly rendered shapes (a different seed from the
golden suite) with a symmetric contrastive loss. ``regressed`` fine-tunes ``good`` on the
same images with a realistic data bug: the captions of two colours are swapped, so on
the golden suite those two colour slices degrade while the others barely move.

Both are saved as open_clip ``local-dir:`` folders (``open_clip_config.json`` +
``open_clip_model.safetensors``, float16 weights that open_clip upcasts on load).
Everything runs on CPU, seeded, with deterministic algorithms.
"""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import open_clip
import torch
import torch.nn.functional as F
from open_clip.transform import PreprocessCfg, image_transform_v2
from safetensors.torch import save

from qa_gate.demo.shapes import COLOURS, ShapeSample, caption, combos, generate_samples

MODEL_CONFIG = Path(__file__).with_name("tiny_clip.json")
CONFIG_FILE = "open_clip_config.json"
WEIGHTS_FILE = "open_clip_model.safetensors"

# Training captions: the suite caption, its references, and the CLIPScore prompt form.
TEMPLATES: tuple[str, ...] = (
    "a {colour} {shape}",
    "a photo of a {colour} {shape}",
    "A photo depicts a {colour} {shape}",
    "an image of a {colour} {shape}",
    "a {shape} that is {colour}",
    "a {colour} {shape} on a plain background",
)


@dataclass(frozen=True)
class Phase:
    """One optimisation run: steps, peak learning rate, warm-up and the seed of its batches."""

    steps: int
    lr: float
    warmup: int
    seed: int
    weight_decay: float = 0.05


@dataclass(frozen=True)
class TrainSettings:
    """Everything that decides the demo checkpoints' weights."""

    data_seed: int = 1001  # the golden suite uses another seed
    per_combo: int = 1000  # training images per (colour, shape)
    batch_size: int = 128
    threads: int = 2
    good: Phase = field(default_factory=lambda: Phase(steps=2500, lr=3e-3, warmup=100, seed=1))
    regressed: Phase = field(default_factory=lambda: Phase(steps=200, lr=3e-4, warmup=20, seed=2))
    swap: tuple[str, str] = ("red", "blue")  # the data bug: these colours' captions are exchanged


def load_model_config() -> dict[str, Any]:
    """The tiny model's open_clip config: ``{"model_cfg": ..., "preprocess_cfg": ...}``."""
    return json.loads(MODEL_CONFIG.read_text(encoding="utf-8"))


def image_preprocess(config: dict[str, Any]) -> Any:
    """The evaluation transform open_clip builds for this config (used for training too)."""
    return image_transform_v2(PreprocessCfg(**config["preprocess_cfg"]), is_train=False)


@contextmanager
def deterministic_cpu(threads: int) -> Iterator[None]:
    """Run the block with ``threads`` intra-op threads and deterministic algorithms, then restore."""
    old_threads, old_det = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.set_num_threads(old_threads)
        torch.use_deterministic_algorithms(old_det)


def swapped(colour: str, swap: tuple[str, str] | None) -> str:
    """The colour a (possibly buggy) caption names for an image of ``colour``."""
    if swap is None or colour not in swap:
        return colour
    return swap[1] if colour == swap[0] else swap[0]


def caption_bank(tokenizer: Any, swap: tuple[str, str] | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Tokenised training captions per combo ``[combos, templates, ctx]`` and the combo each names."""
    pairs = combos()
    named = [(swapped(colour, swap), shape) for colour, shape in pairs]
    texts = [t.format(colour=c, shape=s) for c, s in named for t in TEMPLATES]
    tokens = tokenizer(texts).view(len(pairs), len(TEMPLATES), -1)
    return tokens, torch.tensor([pairs.index(pair) for pair in named])


def to_tensors(samples: Iterable[ShapeSample], preprocess: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack preprocessed images and their combo indices."""
    index = {pair: i for i, pair in enumerate(combos())}
    images, labels = [], []
    for sample in samples:
        images.append(preprocess(sample.image))
        labels.append(index[(sample.colour, sample.shape)])
    return torch.stack(images), torch.tensor(labels)


def dihedral(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Randomly flip and transpose each image: the 8 symmetries of the square keep colour and shape."""
    flips = torch.rand(3, len(images), 1, 1, 1, generator=generator) < 0.5
    images = torch.where(flips[0], images.flip(-1), images)
    images = torch.where(flips[1], images.flip(-2), images)
    return torch.where(flips[2], images.transpose(-1, -2), images)


def contrastive_loss(model: Any, images: torch.Tensor, tokens: torch.Tensor,
                     named: torch.Tensor) -> torch.Tensor:
    """Symmetric CLIP loss; pairs whose captions name the same combo all count as positives."""
    image_features = model.encode_image(images, normalize=True)
    text_features = model.encode_text(tokens, normalize=True)
    logits = model.logit_scale.exp() * image_features @ text_features.T
    positives = (named[:, None] == named[None, :]).float()
    targets = positives / positives.sum(dim=1, keepdim=True)
    return (F.cross_entropy(logits, targets) + F.cross_entropy(logits.T, targets)) / 2


def optimise(model: Any, images: torch.Tensor, labels: torch.Tensor,
             bank: tuple[torch.Tensor, torch.Tensor], phase: Phase, batch_size: int) -> list[float]:
    """Train ``model`` in place for one phase (AdamW, warm-up then cosine decay); return the losses."""
    tokens, names = bank
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and "embedding" not in n]
    rest = [p for n, p in model.named_parameters() if not (p.ndim >= 2 and "embedding" not in n)]
    optimiser = torch.optim.AdamW([{"params": decay, "weight_decay": phase.weight_decay},
                                   {"params": rest, "weight_decay": 0.0}], lr=phase.lr, fused=True)

    def schedule(step: int) -> float:
        if step < phase.warmup:
            return (step + 1) / phase.warmup
        return 0.5 * (1 + math.cos(math.pi * (step - phase.warmup) / max(1, phase.steps - phase.warmup)))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimiser, schedule)
    generator = torch.Generator().manual_seed(phase.seed)
    losses: list[float] = []
    model.train()
    for _ in range(phase.steps):
        pick = torch.randint(len(images), (batch_size,), generator=generator)
        template = torch.randint(tokens.shape[1], (batch_size,), generator=generator)
        combo = labels[pick]
        batch = dihedral(images[pick], generator)
        loss = contrastive_loss(model, batch, tokens[combo, template], names[combo])
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        scheduler.step()
        with torch.no_grad():
            model.logit_scale.clamp_(0, math.log(100))
        losses.append(loss.item())
    model.eval()
    return losses


def save_checkpoint(model: torch.nn.Module, config: dict[str, Any], folder: Path,
                    provenance: dict[str, Any]) -> Path:
    """Write ``folder`` (deleted first) as an open_clip ``local-dir:`` checkpoint with float16 weights."""
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    state = {k: (v.to(torch.float16) if v.is_floating_point() else v).contiguous()
             for k, v in model.state_dict().items()}
    (folder / WEIGHTS_FILE).write_bytes(save(state, metadata={"format": "pt"}))
    body = {**config, "qa_gate_demo": provenance}
    (folder / CONFIG_FILE).write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")
    return folder


def load_checkpoint(folder: Path) -> tuple[Any, Any, Any]:
    """Load a demo checkpoint through open_clip's own ``local-dir:`` path: model, preprocess, tokenizer."""
    name = f"local-dir:{folder}"
    model, _, preprocess = open_clip.create_model_and_transforms(name, device="cpu")
    return model.eval(), preprocess, open_clip.get_tokenizer(name)


def checkpoint_dirs(root: Path) -> tuple[Path, Path]:
    """Where the ``good`` and ``regressed`` checkpoints live under the repository ``root``."""
    base = root / "qa_gate" / "demo" / "checkpoints"
    return base / "good", base / "regressed"


def train_checkpoints(root: Path, settings: TrainSettings = TrainSettings()) -> tuple[Path, Path]:
    """Train and save the ``good`` and ``regressed`` checkpoints under ``root``; return their folders."""
    good_dir, regressed_dir = checkpoint_dirs(root)
    config = load_model_config()
    tokenizer = open_clip.SimpleTokenizer(context_length=config["model_cfg"]["text_cfg"]["context_length"])
    with deterministic_cpu(settings.threads):
        images, labels = to_tensors(generate_samples(settings.data_seed, settings.per_combo),
                                    image_preprocess(config))
        torch.manual_seed(settings.good.seed)
        model = open_clip.CLIP(**config["model_cfg"])
        losses = optimise(model, images, labels, caption_bank(tokenizer, None), settings.good, settings.batch_size)
        print(f"good: {settings.good.steps} steps, loss {losses[0]:.3f} -> {sum(losses[-50:]) / 50:.3f}")
        provenance = {"variant": "good", "settings": asdict(settings)}
        save_checkpoint(model, config, good_dir, provenance)

        # Fine-tune from the saved (float16-rounded) weights, exactly as a user would.
        model = load_checkpoint(good_dir)[0]
        bank = caption_bank(tokenizer, settings.swap)
        losses = optimise(model, images, labels, bank, settings.regressed, settings.batch_size)
        print(f"regressed: {settings.regressed.steps} steps with {settings.swap[0]}<->{settings.swap[1]} "
              f"captions, loss {losses[0]:.3f} -> {sum(losses[-20:]) / 20:.3f}")
        save_checkpoint(model, config, regressed_dir, {**provenance, "variant": "regressed"})
    return good_dir, regressed_dir


@torch.inference_mode()
def summarise(folder: Path, samples: Sequence[ShapeSample], prefix: str = "A photo depicts ") -> dict[str, float]:
    """Sanity numbers for a checkpoint: zero-shot top-1 over the suite captions, CLIPScore per colour."""
    model, preprocess, tokenizer = load_checkpoint(folder)
    pairs = combos()
    images = F.normalize(model.encode_image(torch.stack([preprocess(s.image) for s in samples])), dim=-1)
    classes = F.normalize(model.encode_text(tokenizer([caption(c, s) for c, s in pairs])), dim=-1)
    truth = torch.tensor([pairs.index((s.colour, s.shape)) for s in samples])
    scores = {"top1": (images @ classes.T).argmax(dim=1).eq(truth).float().mean().item()}
    prompts = F.normalize(model.encode_text(tokenizer([prefix + caption(c, s) for c, s in pairs])), dim=-1)
    clipscore = 2.5 * (images * prompts[truth]).sum(dim=1).clamp(min=0)
    for colour in COLOURS:
        mask = torch.tensor([s.colour == colour for s in samples])
        scores[f"clipscore/{colour}"] = clipscore[mask].mean().item()
    return scores
