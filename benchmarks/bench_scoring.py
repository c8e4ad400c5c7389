"""The gate's scoring stage against a minimal hand-written decode + preprocess + forward loop, alternating.

    python benchmarks/bench_scoring.py [--sizes demo,10000] [--image-size 64] [--batch-size 64]
                                       [--repeat 3] [--workers 1,default] [--threads N] [--loaders]

For each data set (``demo``: the repository's ``thresholds.yaml``, four suites; ``N``: a suite of N small
shape images gated on the demo's rules with the demo's good CLIP, built by ``scale_suite.py``), the same
loaded model runs, in one process and alternating, (a) the gate's scoring stage (``scoring.runner.run``:
image decoding in the loader's workers, every text the metrics need, the per-sample statistics;
no output cache, no bootstrap) with each worker count, and (b) a hand-written loop: PIL decode +
the model's own preprocess, one thread, ``encode_image`` per batch, then ``encode_text`` on the same
distinct texts the gate encoded, in batches, padded as open_clip pads them. It prints the best of
``--repeat`` wall times, the time inside the model's ``encode_*`` calls, and the ratio gate / hand-written.
``--loaders`` also times decode + preprocess alone: the loader's threads against a ``DataLoader``
with the same number of worker processes.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
HERE = Path(__file__).resolve().parent
REPO = HERE.parent
GOOD = REPO / "qa_gate" / "demo" / "checkpoints" / "good"


class Timed:
    """Wraps the encoder's ``encode_images``/``encode_texts`` to add up the seconds spent in them."""

    def __init__(self, encoder: Any) -> None:
        self.encoder, self.seconds = encoder, 0.0
        self.texts: list[str] = []
        for name in ("encode_images", "encode_texts"):
            setattr(encoder, name, self._wrap(getattr(type(encoder), name).__get__(encoder), name))

    def _wrap(self, method: Callable[..., Any], name: str) -> Callable[..., Any]:
        def timed(items: Any) -> Any:
            if name == "encode_texts":
                self.texts.extend(items)
            began = time.perf_counter()
            try:
                return method(items)
            finally:
                self.seconds += time.perf_counter() - began
        timed.__self__ = self.encoder  # type: ignore[attr-defined]  # the runner finds prepare_image through it
        return timed


def _data(size: str, image_size: int, batch_size: int, work: Path) -> Path:
    if size == "demo":
        return REPO / "thresholds.yaml"
    sys.path.insert(0, str(HERE))
    from scale_suite import build_suite, write_thresholds

    suite, _ = build_suite(work / f"suite-{size}-{image_size}", int(size), image_size)
    project = work / f"project-{size}"
    project.mkdir(parents=True, exist_ok=True)
    return write_thresholds(project, suite, GOOD, batch_size)


def _handwritten(encoder: Any, samples: list[Any], texts: list[str], batch_size: int) -> float:
    """Decode + preprocess + forward every image, then forward the texts: the least any script does."""
    import torch
    from PIL import Image

    model, preprocess, tokenizer = encoder.model, encoder.preprocess, encoder.tokenizer
    began = time.perf_counter()
    with torch.inference_mode():
        for start in range(0, len(samples), batch_size):
            pixels = []
            for sample in samples[start:start + batch_size]:
                with Image.open(sample.image_path) as image:
                    pixels.append(preprocess(image.convert("RGB")))
            model.encode_image(torch.stack(pixels))
        for start in range(0, len(texts), batch_size):
            model.encode_text(tokenizer(texts[start:start + batch_size]))
    return time.perf_counter() - began


def _loaders(samples: list[Any], preprocess: Any, workers: int, batch_size: int) -> dict[str, float]:
    """Images per second of decode + preprocess: the gate's loader threads vs a ``DataLoader``."""
    import torch
    from PIL import Image

    from qa_gate.scoring.loader import load_batches

    def load(sample: Any) -> tuple[Any, float]:
        with Image.open(sample.image_path) as image:
            return preprocess(image.convert("RGB")), 0.0

    class Images(torch.utils.data.Dataset):  # type: ignore[type-arg]
        def __len__(self) -> int:
            return len(samples)

        def __getitem__(self, index: int) -> Any:
            return load(samples[index])[0]

    out = {}
    began = time.perf_counter()
    for _ in load_batches(samples, batch_size, load, workers=workers):
        pass
    out[f"threads x{workers}"] = len(samples) / (time.perf_counter() - began)
    began = time.perf_counter()
    for _ in torch.utils.data.DataLoader(Images(), batch_size=batch_size, num_workers=workers):
        pass
    out[f"DataLoader x{workers}"] = len(samples) / (time.perf_counter() - began)
    return out


def bench(size: str, args: argparse.Namespace, work: Path) -> None:
    """Time the gate and the hand-written loop, alternating, on one data set; print the results."""
    import torch

    from qa_gate.adapters.load import load_model
    from qa_gate.pipeline import prepare
    from qa_gate.scoring.device import autocast_dtype, resolve_device
    from qa_gate.scoring.families import demands
    from qa_gate.scoring.loader import default_workers
    from qa_gate.scoring.runner import run

    prepared = prepare(_data(size, args.image_size, args.batch_size, work))
    model_cfg = replace(prepared.config.model, batch_size=args.batch_size)
    device = resolve_device(model_cfg.device)
    dtype = autocast_dtype(model_cfg.dtype, device)
    loaded = load_model(model_cfg, device, demands(prepared.config))
    encoder = loaded.encoder
    timer = Timed(encoder)
    samples = [s for suite in prepared.suites for s in suite.samples]
    workers = [default_workers(device.type) if w == "default" else int(w) for w in args.workers.split(",")]
    configs = {w: replace(prepared.config, model=replace(model_cfg, workers=w)) for w in dict.fromkeys(workers)}

    run(configs[workers[0]], prepared.suites, loaded, device, dtype)  # warm-up; records the texts the gate encodes
    texts = list(dict.fromkeys(timer.texts))
    gate: dict[int, list[tuple[float, float]]] = {w: [] for w in configs}
    hand: list[float] = []
    for _ in range(args.repeat):
        for w, config in configs.items():
            timer.seconds = 0.0
            began = time.perf_counter()
            run(config, prepared.suites, loaded, device, dtype)
            gate[w].append((time.perf_counter() - began, timer.seconds))
        hand.append(_handwritten(encoder, samples, texts, args.batch_size))
    best_hand = min(hand)
    print(f"\n{size}: {len(samples)} samples, {len(texts)} distinct texts | device {device} | torch threads "
          f"{torch.get_num_threads()} | batch {args.batch_size} | trims padding: {encoder.trims_padding}")
    print(f"  hand-written decode + preprocess + forward: best {best_hand:7.2f} s  (runs: "
          f"{', '.join(f'{t:.2f}' for t in hand)})")
    for w, times in gate.items():
        wall, model = min(times)
        print(f"  gate scoring, {w} worker(s):              best {wall:7.2f} s  (in encode_*: {model:.2f} s; runs: "
              f"{', '.join(f'{t:.2f}' for t, _ in times)})  ratio gate / hand-written: {wall / best_hand:.2f}x")
    if args.loaders:
        for w in configs:
            rates = _loaders(samples, encoder.preprocess, w, args.batch_size)
            print("  decode + preprocess, images/s: " + ", ".join(f"{k} {v:.0f}" for k, v in rates.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="demo,10000", help="comma-separated: demo and/or sample counts")
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workers", default="1,default", help="comma-separated worker counts ('default')")
    parser.add_argument("--loaders", action="store_true", help="also time the loader threads vs a DataLoader")
    parser.add_argument("--work", type=Path, default=Path("/tmp/qa_gate_bench_scoring"), help="where suites are built")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = parser.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    for size in args.sizes.split(","):
        bench(size.strip(), args, args.work)


if __name__ == "__main__":
    main()
