"""The gate at the size of real golden sets: wall time and peak RSS per stage at 1k, 10k, 100k samples, and the
ratio of ``mm-gate run`` to a hand-written decode + preprocess + forward script on the same data and model.

    python benchmarks/bench_scale.py [--sizes 1000,10000] [--repeat 2] [--image-size 32] [--batch-size 64]
        [--workdir /tmp/qa_gate_bench_scale] [--manifest auto|yaml|jsonl] [--no-ratio | --ratio-only]

For each size it builds (once; reused by later runs) a suite of small PNG shapes with unique captions, two
references and five slice tags (``scale_suite.py``), gated like the demo on the demo's tiny CLIP (CLIPScore,
RefCLIPScore, cosine, zero-shot on two tags, retrieval, a slice rule). Then, in this process, through the public
pipeline functions (``prepare``, ``score``, ``judge``, ``record_baseline``, ``deliver``), one line per stage:

- ``config``: ``load_config`` alone; ``prepare``: config, manifest and verification (SHA256SUMS) together;
- ``score``: the whole scoring stage, split into ``model forward`` (every call into a torch module but
  torchvision's transforms, timed by global module hooks) and the rest (model load, decode, preprocess,
  tokenise, metrics, ranks); ``model load`` when ``qa_gate.adapters.load.load_model`` is there to time;
- ``judge (no baseline)``, ``baseline write`` (and the pair's size), ``baseline read``, ``judge`` against that
  baseline, split into resolving the baseline, the diffs (slice points, regressed and flipped samples: the
  functions in ``DIFFS`` when they exist) and the rest (every rule's and shown slice's bootstrap), ``report``
  (``deliver``: Markdown and verdict);

with the peak RSS inside the stage (``VmHWM`` reset before it, Linux) and the RSS when it started. ``gate
without the model`` sums every stage but the model's forward and load: the issue's target is <= 60 s and
<= 1.5 GB at 100k. Then ``--repeat`` times, alternating, ``mm-gate run`` (a fresh process, an empty
``XDG_CACHE_HOME``, ``--no-cache`` when the CLI has it) and ``HANDWRITTEN`` (``scale_suite.py``) twice: with
each sample's caption only (``minimal``), and with every distinct text the gate's rules encode (``same``:
prefixed captions, references, zero-shot prompts), each with its own peak RSS; the ratios of the medians,
and the median of each round's own ratio (the runs of a round are seconds apart, so that one is robust to a
machine whose speed drifts; target <= 1.3 at 10k on CPU). ``--ratio-only`` skips the in-process stages.
100k is optional: pass it in ``--sizes``. The machine's load moves absolute numbers; read the ratios.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))
REPO = Path(__file__).resolve().parents[1]
CHECKPOINT = REPO / "qa_gate" / "demo" / "checkpoints" / "good"

from scale_suite import HANDWRITTEN, build_suite, write_thresholds  # noqa: E402

RESOLVE = "qa_gate.pipeline:resolve_baseline"
DIFFS = ("qa_gate.verdict.gate:slice_points", "qa_gate.verdict.gate:changed_samples",
         "qa_gate.verdict.gate:flipped_samples")
"""Internals timed when they exist under these names (a refactor turns their lines into zeros, nothing breaks)."""


def _status(key: str) -> int | None:
    """A ``/proc/self/status`` value in bytes (``VmHWM``, ``VmRSS``), or None off Linux."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _reset_peak() -> bool:
    """Reset the process's peak RSS (Linux ``clear_refs`` 5); False when it cannot be."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _mb(n: float | None) -> str:
    return "   n/a" if n is None else f"{n / 2**20:6.0f}"


@dataclass
class Stages:
    """Wall time and memory per stage, in order."""

    rows: list[tuple[str, float, int | None, int | None]] = field(default_factory=list)
    extra: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        reset = _reset_peak()
        start_rss = _status("VmRSS")
        t0 = time.perf_counter()
        yield
        wall = time.perf_counter() - t0
        peak = _status("VmHWM") if reset else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        self.rows.append((name, wall, peak, start_rss))

    def seconds(self, name: str) -> float:
        return next(wall for stage, wall, _, _ in self.rows if stage == name)


class ForwardTimer:
    """Seconds spent inside top-level calls of torch modules (not torchvision transforms), on any thread."""

    def __init__(self) -> None:
        self.total = 0.0
        self.local = threading.local()
        self.lock = threading.Lock()
        self.handles: list[Any] = []

    def _counted(self, module: Any) -> bool:
        return not type(module).__module__.startswith("torchvision")

    def _pre(self, module: Any, args: Any) -> None:
        if self._counted(module):
            depth = getattr(self.local, "depth", 0)
            if depth == 0:
                self.local.start = time.perf_counter()
            self.local.depth = depth + 1

    def _post(self, module: Any, args: Any, output: Any) -> None:
        if self._counted(module):
            self.local.depth -= 1
            if self.local.depth == 0:
                with self.lock:
                    self.total += time.perf_counter() - self.local.start

    def __enter__(self) -> ForwardTimer:
        from torch.nn.modules import module

        self.handles = [module.register_module_forward_pre_hook(self._pre),
                        module.register_module_forward_hook(self._post)]
        return self

    def __exit__(self, *exc: object) -> None:
        for handle in self.handles:
            handle.remove()


@contextmanager
def timed_function(target: str, into: dict[str, float]) -> Iterator[None]:
    """Time every call of ``module:attr`` (when it exists) into ``into[target]``; a no-op otherwise."""
    module_name, attr = target.split(":")
    try:
        module = importlib.import_module(module_name)
        original = getattr(module, attr)
    except (ImportError, AttributeError):
        yield
        return

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            into[target] = into.get(target, 0.0) + time.perf_counter() - t0

    setattr(module, attr, wrapper)
    try:
        yield
    finally:
        setattr(module, attr, original)


def in_process(project: Path, thresholds: Path) -> Stages:
    """Every stage of one gate run with a baseline, timed through the public pipeline functions."""
    from qa_gate.baseline.file import FileBaselineStore, samples_path
    from qa_gate.config.load import load_config
    from qa_gate.pipeline import deliver, judge, prepare, record_baseline, score

    stages = Stages()
    baseline = project / "baselines" / "baseline.json"
    for path in (baseline, samples_path(baseline)):
        path.unlink(missing_ok=True)
    with stages.stage("config"):
        load_config(thresholds)
    with stages.stage("prepare (config + manifest + verify)"):
        prepared = prepare(thresholds)
    calls: dict[str, float] = {}
    with timed_function("qa_gate.adapters.load:load_model", calls), ForwardTimer() as forward:
        with stages.stage("score"):
            run = score(prepared)
    stages.extra["model forward"] = forward.total
    stages.extra["model load"] = calls.get("qa_gate.adapters.load:load_model", 0.0)
    with stages.stage("judge (no baseline)"):
        first = judge(prepared, run, update_baseline=True)
    with stages.stage("baseline write"):
        record_baseline(prepared.config, first)
    stages.extra["baseline bytes"] = baseline.stat().st_size + samples_path(baseline).stat().st_size
    with stages.stage("baseline read"):
        FileBaselineStore(baseline).read()
    judged: dict[str, float] = {}
    with contextlib.ExitStack() as stack:
        for target in (*DIFFS, RESOLVE):
            stack.enter_context(timed_function(target, judged))
        with stages.stage("judge (vs baseline)"):
            verdict = judge(prepared, run)
    stages.extra["resolve"] = judged.get(RESOLVE, 0.0)
    stages.extra["diffs"] = sum(judged.get(target, 0.0) for target in DIFFS)
    with stages.stage("report + verdict file (deliver)"):
        deliver(prepared, verdict, html=None, update_baseline=False, verdict_file=project / "mm-gate-verdict.json")
    stages.extra["checks"] = len(verdict.checks)
    return stages


def _child(command: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, int, str]:
    """Wall seconds, peak RSS (bytes) and stdout of one child process."""
    t0 = time.perf_counter()
    child = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = child.stdout.read() if child.stdout else ""
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t0
    if child.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(command)} failed ({child.returncode}):\n{out[-3000:]}")
    return wall, usage.ru_maxrss * 1024, out


def ratio(project: Path, thresholds: Path, suite: Path, batch_size: int, repeat: int) -> dict[str, Any]:
    """``mm-gate run`` against the hand-written script (captions only, and the gate's texts), alternating."""
    gate = Path(sys.executable).with_name("mm-gate")
    helped = subprocess.run([str(gate), "run", "--help"], capture_output=True, text=True).stdout
    no_cache = ["--no-cache"] if "--no-cache" in helped else []
    script = project / "handwritten.py"
    script.write_text(HANDWRITTEN, encoding="utf-8")
    runs: dict[str, list[tuple[float, int]]] = {"gate": [], "minimal": [], "same": []}
    splits: dict[str, list[dict[str, float]]] = {"minimal": [], "same": []}
    for _ in range(repeat):
        for side in runs:
            with tempfile.TemporaryDirectory() as cache:
                env = {**os.environ, "XDG_CACHE_HOME": cache}
                if side == "gate":
                    command = [str(gate), "run", "--thresholds", str(thresholds), *no_cache]
                else:
                    command = [sys.executable, str(script), str(suite), str(CHECKPOINT), str(batch_size), side]
                wall, peak, out = _child(command, project, env)
            runs[side].append((wall, peak))
            if side != "gate":
                splits[side].append(json.loads(out.strip().splitlines()[-1]))
    medians = {side: statistics.median(w for w, _ in found) for side, found in runs.items()}
    paired = {side: statistics.median(g / h for (g, _), (h, _) in zip(runs["gate"], runs[side]))
              for side in ("minimal", "same")}  # each round's own ratio: robust to the machine's drift
    peaks = {side: max(p for _, p in found) for side, found in runs.items()}
    return {"medians": medians, "paired": paired, "peaks": peaks, "runs": runs, "no_cache_flag": bool(no_cache),
            "splits": {side: {key: statistics.median(s[key] for s in found) for key in found[0]}
                       for side, found in splits.items()}}


def report(n: int, kind: str, stages: Stages, emit: Callable[[str], None]) -> None:
    import torch

    emit(f"\n== {n} samples ({kind} manifest), torch threads {torch.get_num_threads()}, {os.cpu_count()} CPUs ==")
    emit(f"{'stage':40s} {'wall s':>9s} {'peak MB':>8s} {'start MB':>8s}")
    for name, wall, peak, start in stages.rows:
        emit(f"{name:40s} {wall:9.2f} {_mb(peak):>8s} {_mb(start):>8s}")
        if name == "score":
            forward, load = stages.extra["model forward"], stages.extra["model load"]
            emit(f"{'  model forward (torch modules)':40s} {forward:9.2f}")
            emit(f"{'  model load':40s} {load:9.2f}")
            emit(f"{'  rest (decode, preprocess, metrics, ...)':40s} {wall - forward - load:9.2f}")
        if name == "judge (vs baseline)":
            resolve, diffs = stages.extra["resolve"], stages.extra["diffs"]
            emit(f"{'  resolve baseline (read, changes)':40s} {resolve:9.2f}")
            emit(f"{'  diffs (slice points, samples, flips)':40s} {diffs:9.2f}")
            emit(f"{'  rest (bootstrap of rules and slices)':40s} {wall - resolve - diffs:9.2f}")
    model = stages.extra["model forward"] + stages.extra["model load"]
    total = sum(wall for name, wall, _, _ in stages.rows if name != "config")  # config is inside prepare too
    peak = max((p for _, _, p, _ in stages.rows if p is not None), default=None)
    emit(f"{'gate without the model':40s} {total - model:9.2f} {_mb(peak):>8s}  (all stages but forward and load)")
    emit(f"baseline pair: {stages.extra['baseline bytes'] / 2**20:.2f} MB ({stages.extra['baseline bytes'] / n:.0f} "
         f"B/sample); {int(stages.extra['checks'])} checks")


def report_ratio(r: dict[str, Any], emit: Callable[[str], None]) -> None:
    m, p, split = r["medians"], r["peaks"], r["splits"]
    emit(f"mm-gate run: {m['gate']:.2f} s, peak {_mb(p['gate']).strip()} MB (medians of {len(r['runs']['gate'])}, "
         f"alternating{', --no-cache' if r['no_cache_flag'] else ''}, a fresh XDG_CACHE_HOME each)")
    for side, what in (("minimal", "captions only"), ("same", "the gate's texts")):
        s = split[side]
        emit(f"hand-written ({what}, {s['texts']:.0f} texts): {m[side]:.2f} s, peak {_mb(p[side]).strip()} MB "
             f"(load {s['load']:.2f} s, decode+preprocess+tokenise {s['decode_preprocess_tokenize']:.2f} s, forward "
             f"{s['forward']:.2f} s): gate / hand-written {m['gate'] / m[side]:.2f}x (median of the rounds' own "
             f"ratios {r['paired'][side]:.2f}x)")
    emit("  runs (wall s, peak bytes): " + json.dumps(r["runs"]))


def emit(line: str) -> None:
    print(line, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,10000", help="comma-separated sample counts (100000 is optional)")
    parser.add_argument("--repeat", type=int, default=2, help="alternating runs of each side for the ratio")
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "qa_gate_bench_scale")
    parser.add_argument("--manifest", choices=("auto", "yaml", "jsonl"), default="auto")
    parser.add_argument("--no-ratio", action="store_true", help="skip the mm-gate run / hand-written comparison")
    parser.add_argument("--ratio-only", action="store_true", help="skip the in-process stages (uses the baseline "
                        "an earlier run recorded in the work folder, if any)")
    args = parser.parse_args()
    os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="bench_scale_cache_")  # never a warm output cache
    for n in (int(s) for s in args.sizes.split(",")):
        project = args.workdir / f"n{n}"
        t0 = time.perf_counter()
        suite, kind = build_suite(project / "golden" / "scale", n, args.image_size, args.manifest)
        print(f"suite of {n} ready in {time.perf_counter() - t0:.1f} s: {suite}", flush=True)
        thresholds = write_thresholds(project, suite, CHECKPOINT, args.batch_size)
        if not args.ratio_only:
            report(n, kind, in_process(project, thresholds), emit)
        if not args.no_ratio:
            report_ratio(ratio(project, thresholds, suite, args.batch_size, args.repeat), emit)


if __name__ == "__main__":
    main()
