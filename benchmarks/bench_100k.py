"""Everything but the model at 100k samples: the gate with every model output served from the output cache.

    python benchmarks/bench_100k.py [--n 100000] [--image-size 32] [--dim 512] [--workdir /tmp/qa_gate_bench_100k]

Builds (once) the ``bench_scale`` suite of ``n`` shapes (``scale_suite.py``: unique captions, two references,
five slice keys) and gates it with the demo's rules **without retrieval**: exact retrieval ranks are quadratic
(100k images x 300k texts: ~15 min of float32 products on this CPU), so they are no part of this figure;
CLIPScore, RefCLIPScore, cosine and zero-shot (shape, colour) remain, with the red-slice rule.

1. ``--fill`` (a child process): one gate run whose dual encoder is a stand-in costing next to nothing
   (images: a fixed random projection of the prepared pixels; texts: a vector seeded by the text's sha256,
   ``--dim`` wide, 512 like ViT-B/32), so the output cache holds every output and the model card;
2. then, in this process (torch is never imported: nothing runs a model), the stages through the public
   pipeline functions, as ``bench_scale.py`` times them: ``prepare`` (config, JSONL manifest, verification),
   ``score`` (every output read from the cache), ``judge`` without a baseline, the baseline write and read,
   ``judge`` against it (the bootstrap of every rule and shown slice, the diffs),
   ``deliver`` (the reports and the verdict file, which pins the baseline by its digest);
   wall time and peak RSS per stage (``VmHWM`` reset before each, Linux), and the sum.

The target of issue 15: <= 60 s and <= 1.5 GB at 100k on the 2-core machine. The load moves the numbers:
the load average is printed before and after.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
REPO = Path(__file__).resolve().parents[1]

from bench_scale import CHECKPOINT, Stages, _mb  # noqa: E402
from scale_suite import build_suite  # noqa: E402
from scale_suite import write_thresholds as scale_thresholds  # noqa: E402


def write_thresholds(project: Path, suite: Path, batch_size: int) -> Path:
    """``bench_scale``'s rules without retrieval, on the suite."""
    return scale_thresholds(project, suite, CHECKPOINT, batch_size, retrieval=False)


def fill(thresholds: Path, dim: int) -> None:
    """One gate run with a stand-in encoder: the cache gets every output (and the card) at next to no model cost."""
    import numpy as np
    import torch

    from qa_gate.adapters.open_clip import OpenClipEncoder
    from qa_gate.pipeline import prepare, score

    projection: dict[int, torch.Tensor] = {}

    def encode_images(self: Any, images: Any) -> torch.Tensor:
        pixels = torch.stack([x if isinstance(x, torch.Tensor) else self.preprocess(x) for x in images]).flatten(1)
        if pixels.shape[1] not in projection:
            generator = torch.Generator().manual_seed(0)
            projection[pixels.shape[1]] = torch.randn(pixels.shape[1], dim, generator=generator)
        return pixels @ projection[pixels.shape[1]]

    def encode_texts(self: Any, texts: Any) -> torch.Tensor:
        rows = [np.random.default_rng(int.from_bytes(hashlib.sha256(t.encode()).digest()[:8], "little"))
                .normal(size=dim) for t in texts]
        return torch.from_numpy(np.stack(rows).astype(np.float32))

    OpenClipEncoder.encode_images = encode_images  # type: ignore[method-assign]
    OpenClipEncoder.encode_texts = encode_texts  # type: ignore[method-assign]
    score(prepare(thresholds))


def stages(project: Path, thresholds: Path) -> Stages:
    """Every stage of a gate run with a baseline, the outputs served from the cache."""
    from qa_gate.baseline.file import FileBaselineStore, samples_path
    from qa_gate.pipeline import deliver, judge, prepare, record_baseline, score

    out = Stages()
    baseline = project / "baselines" / "baseline.json"
    for path in (baseline, samples_path(baseline)):
        path.unlink(missing_ok=True)
    with out.stage("prepare (config + manifest + verify)"):
        prepared = prepare(thresholds)
    with out.stage("score (every output from the cache)"):
        run = score(prepared)
    with out.stage("judge (no baseline)"):
        first = judge(prepared, run, update_baseline=True)
    with out.stage("baseline write"):
        record_baseline(prepared.config, first)
    out.extra["baseline bytes"] = baseline.stat().st_size + samples_path(baseline).stat().st_size
    with out.stage("baseline read"):
        FileBaselineStore(baseline).read()
    with out.stage("judge (vs baseline: bootstrap, diffs)"):
        verdict = judge(prepared, run)
    with out.stage("report + verdict file (deliver)"):
        deliver(prepared, verdict, html=None, update_baseline=False, verdict_file=project / "mm-gate-verdict.json")
    out.extra["checks"] = len(verdict.checks)
    out.extra["failed"] = sum(c.status.failed for c in verdict.checks)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/qa_gate_bench_100k"))
    parser.add_argument("--fill", type=Path, help=argparse.SUPPRESS)  # the child: fill the cache for these thresholds
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    if args.fill is not None:
        fill(args.fill, args.dim)
        return
    project = args.workdir / f"n{args.n}"
    os.environ["XDG_CACHE_HOME"] = str(project / "cache")
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs", flush=True)
    began = time.perf_counter()
    suite, kind = build_suite(project / "golden" / "scale", args.n, args.image_size, "jsonl")
    print(f"suite of {args.n} ({kind}) ready in {time.perf_counter() - began:.0f} s: {suite}", flush=True)
    thresholds = write_thresholds(project, suite, args.batch_size)
    began = time.perf_counter()
    subprocess.run([sys.executable, __file__, "--fill", str(thresholds), "--dim", str(args.dim)], cwd=project,
                   check=True, stdout=subprocess.DEVNULL)
    print(f"cache filled in {time.perf_counter() - began:.0f} s (stand-in encoder, d={args.dim})", flush=True)
    os.chdir(project)
    found = stages(project, thresholds)
    print(f"\n== {args.n} samples, outputs from the cache, retrieval left out; torch imported: "
          f"{'torch' in sys.modules} ==")
    print(f"{'stage':42s} {'wall s':>8s} {'peak MB':>8s} {'start MB':>8s}")
    for name, wall, peak, start in found.rows:
        print(f"{name:42s} {wall:8.2f} {_mb(peak):>8s} {_mb(start):>8s}")
    total = sum(wall for _, wall, _, _ in found.rows)
    peak = max((p for _, _, p, _ in found.rows if p is not None), default=None)
    print(f"{'everything but the model':42s} {total:8.2f} {_mb(peak):>8s}   (target <= 60 s, <= 1536 MB)")
    print(f"baseline pair {found.extra['baseline bytes'] / 2**20:.1f} MB; {int(found.extra['checks'])} checks, "
          f"{int(found.extra['failed'])} failed; load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
