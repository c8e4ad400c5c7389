"""Golden suite load + verify at scale: manifest formats, the C YAML loader, parallel hashing, the hash cache.

    python benchmarks/bench_golden.py [--sizes 1000,10000,100000] [--old-up-to 10000] [--keep DIR]

Builds, per size, a suite of tiny distinct 8x8 PNGs (all in one ``images/`` folder, as a real
export is) with a YAML and a JSON Lines manifest (the same samples; images hard-linked), then times
``load_suite`` in a fresh child process per variant, alternating, and reports wall seconds, peak
RSS and the memory the loaded suite keeps per sample (tracemalloc, a separate child):

- ``old``: the committed ``HEAD`` version of ``golden/suite.py`` + ``manifest.py`` (pure-Python YAML
  loader, quadratic folder walk, one hashing thread), run only up to ``--old-up-to`` samples;
- ``yaml-pure``: today's code with the pure-Python YAML loader forced;
- ``yaml``: today's code (libyaml's C parser);
- ``jsonl``: the JSON Lines manifest;
- ``jsonl-warm``: the same with the local verified-hash cache, second run (no file hashed).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
COLOURS = ("red", "green", "blue", "yellow", "purple")
SHAPES = ("circle", "square", "triangle")

CHILD = textwrap.dedent("""
    import json, os, resource, sys, time
    variant, folder, old_dir, memory = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "1"
    if variant == "old":
        sys.path.insert(0, old_dir)
        from old_golden import load_suite
    else:
        if variant == "yaml-pure":
            import qa_gate.config.values as values
            values.YamlLoader = values.PureYamlLoader
        from qa_gate.golden.suite import load_suite
    cached = variant == "jsonl-warm"
    if cached:
        load_suite(folder, cached=True)  # the cold run that fills the cache
    if memory:
        import gc, tracemalloc
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
    start = time.perf_counter()
    suite = load_suite(folder, cached=cached) if variant != "old" else load_suite(folder)
    seconds = time.perf_counter() - start
    kept = None
    if memory:
        import gc
        gc.collect()
        kept = (tracemalloc.get_traced_memory()[0] - before) / len(suite.samples)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"seconds": seconds, "peak_rss": peak, "kept_per_sample": kept, "n": len(suite.samples)}))
""")


def _png(index: int) -> bytes:
    """A valid 8x8 RGB PNG whose colour encodes ``index`` (so every file has its own sha256)."""
    import struct
    import zlib

    rgb = bytes(((index >> 16) & 255, (index >> 8) & 255, index & 255))
    raw = b"".join(b"\x00" + rgb * 8 for _ in range(8))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 8, 8, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def _entries(n: int) -> list[dict[str, object]]:
    out = []
    for i in range(n):
        colour, shape = COLOURS[i % len(COLOURS)], SHAPES[i // len(COLOURS) % len(SHAPES)]
        out.append({"id": f"{colour}-{shape}-{i:06d}", "image": f"images/{i:06d}.png",
                    "caption": f"a {colour} {shape}", "references": [f"a {shape} that is {colour}",
                                                                     f"a {colour} {shape} on a plain background"],
                    "tags": {"colour": colour, "shape": shape, "size": "small" if i % 2 else "large"}})
    return out


def build(root: Path, n: int) -> dict[str, Path]:
    """The suite folders of ``n`` samples, one per manifest format (images hard-linked between them)."""
    from qa_gate.golden.manifest_files import write_manifest
    from qa_gate.golden.suite import write_hashes

    yaml_dir, jsonl_dir = root / f"yaml-{n}", root / f"jsonl-{n}"
    (yaml_dir / "images").mkdir(parents=True)
    (jsonl_dir / "images").mkdir(parents=True)
    for i in range(n):
        path = yaml_dir / "images" / f"{i:06d}.png"
        path.write_bytes(_png(i))
        os.link(path, jsonl_dir / "images" / f"{i:06d}.png")
    old = time.time() - 3600  # not "just modified": the hash cache records only settled files
    for folder in (yaml_dir, jsonl_dir):
        for path in (folder / "images").iterdir():
            os.utime(path, (old, old))
    entries = _entries(n)
    write_manifest(yaml_dir, entries, kind="yaml", description="bench suite")
    write_manifest(jsonl_dir, entries, kind="jsonl", description="bench suite")
    for folder in (yaml_dir, jsonl_dir):
        write_hashes(folder)
    return {"yaml": yaml_dir, "jsonl": jsonl_dir}


def old_package(root: Path) -> Path:
    """HEAD's golden/suite.py and manifest.py as the module ``old_golden`` (pure YAML loader, as HEAD had)."""
    folder = root / "old"
    folder.mkdir(parents=True, exist_ok=True)
    manifest = subprocess.run(["git", "show", "HEAD:qa_gate/golden/manifest.py"], cwd=REPO, check=True,
                              capture_output=True, text=True).stdout
    suite = subprocess.run(["git", "show", "HEAD:qa_gate/golden/suite.py"], cwd=REPO, check=True,
                           capture_output=True, text=True).stdout
    suite = suite.replace("from qa_gate.golden.manifest import", "from old_manifest import")
    suite = suite.replace("import YamlLoader", "import PureYamlLoader as YamlLoader")
    (folder / "old_manifest.py").write_text(manifest)
    (folder / "old_golden.py").write_text(suite)
    return folder


def measure(variant: str, folder: Path, old_dir: Path, memory: bool = False) -> dict[str, float]:
    """One child process loading ``folder`` as ``variant``."""
    done = subprocess.run([sys.executable, "-c", CHILD, variant, str(folder), str(old_dir), "1" if memory else "0"],
                          check=True, capture_output=True, text=True, env={**os.environ, "XDG_CACHE_HOME": str(
                              folder.parent / "cache")})
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    """Build the suites and print one table row per (size, variant)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--old-up-to", type=int, default=10000)
    parser.add_argument("--keep", type=Path, help="build the suites here and keep them")
    parser.add_argument("--variants", default="old,yaml-pure,yaml,jsonl,jsonl-warm",
                        help="which variants to run (comma-separated)")
    parser.add_argument("--memory-up-to", type=int, default=100000,
                        help="measure kept bytes/sample (tracemalloc, slow) only up to this many samples")
    args = parser.parse_args()
    base = args.keep or Path(tempfile.mkdtemp(prefix="bench-golden-"))
    old_dir = old_package(base)
    print(f"{'samples':>8} {'variant':<11} {'load+verify s':>14} {'peak RSS MB':>12} {'kept B/sample':>14} "
          f"{'vs old':>7} {'vs yaml-pure':>12}")
    for n in (int(x) for x in args.sizes.split(",")):
        start = time.perf_counter()
        built = base / str(n)
        folders = {"yaml": built / f"yaml-{n}", "jsonl": built / f"jsonl-{n}"} if built.is_dir() else build(built, n)
        print(f"# {n} samples ready in {time.perf_counter() - start:.1f} s", flush=True)
        chosen = args.variants.split(",")
        variants = [(v, "jsonl" if v.startswith("jsonl") else "yaml") for v in chosen
                    if v != "old" or n <= args.old_up_to]
        results = {}
        for variant, kind in variants:
            timing = measure(variant, folders[kind], old_dir)
            timing["kept_per_sample"] = (measure(variant, folders[kind], old_dir, memory=True)["kept_per_sample"]
                                         if n <= args.memory_up_to else float("nan"))
            results[variant] = timing
        for variant, row in results.items():
            old = results.get("old", {}).get("seconds")
            pure = results.get("yaml-pure", {}).get("seconds", float("nan"))
            print(f"{n:>8} {variant:<11} {row['seconds']:>14.2f} {row['peak_rss'] / 1e6:>12.0f} "
                  f"{row['kept_per_sample']:>14.0f} {old / row['seconds'] if old else float('nan'):>7.1f} "
                  f"{pure / row['seconds']:>12.1f}", flush=True)


if __name__ == "__main__":
    main()
