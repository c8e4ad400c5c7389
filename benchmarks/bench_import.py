"""``mm-gate golden import jsonl`` on a large synthetic table: wall time and peak memory.

    python benchmarks/bench_import.py [--format jsonl|vqa-v2|webdataset] [--samples 100000] [--images 1000]
                                      [--limit N] [--keep DIR]

Writes ``--samples`` samples over ``--images`` distinct small PNGs (samples share them, as VQA questions
share COCO images): a JSON Lines table (id, image, caption, two references, a tag), a VQA v2 questions +
annotations pair (ten answers each), or ten WebDataset shards. Then imports them in a fresh process
(``python -m qa_gate.cli golden import ...``: the real command, manifest, SHA256SUMS, provenance, each
distinct image decoded) and prints its wall time, its peak RSS (the child's ``VmHWM``) and the
sizes of the source and the manifest. With ``--limit N`` the import takes a seeded sample (two passes).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = """
import sys
from qa_gate.cli import main
code = main(sys.argv[1:])
status = open("/proc/self/status").read()
print("peak_kib", status.split("VmHWM:")[1].split()[0], file=sys.stderr)
sys.exit(code)
"""
"""The import, then its own peak RSS (``VmHWM``: this process image's, not the forked parent's)."""


def build(folder: Path, samples: int, images: int) -> Path:
    """The table and its images under ``folder``."""
    from PIL import Image

    (folder / "pics").mkdir(parents=True)
    colours = ["red", "green", "blue", "yellow"]
    for i in range(images):
        Image.new("RGB", (16, 16), (i % 256, (i // 256) % 256, 90)).save(folder / "pics" / f"{i:06d}.png")
    table = folder / "table.jsonl"
    with table.open("w", encoding="utf-8") as handle:
        for i in range(samples):
            colour = colours[i % len(colours)]
            handle.write(json.dumps({"id": f"s{i:07d}", "image": f"pics/{i % images:06d}.png",
                                     "caption": f"a {colour} square number {i}",
                                     "references": [f"{colour} square", f"square {i}"],
                                     "tags": {"colour": colour}}) + "\n")
    return table


def build_vqa(folder: Path, samples: int, images: int) -> list[Path]:
    """A VQA v2 questions file and annotations file over ``images`` COCO-named images under ``folder/pics``."""
    from PIL import Image

    (folder / "pics").mkdir(parents=True)
    for i in range(images):
        Image.new("RGB", (16, 16), (i % 256, 40, 90)).save(folder / "pics" / f"COCO_val2014_{i:012d}.jpg", "PNG")
    questions = [{"image_id": i % images, "question": f"what is shape {i}?", "question_id": i} for i in range(samples)]
    (q := folder / "questions.json").write_text(json.dumps({"data_subtype": "val2014", "questions": questions}))
    del questions
    answers = [{"answer": word, "answer_confidence": "yes", "answer_id": j + 1}
               for j, word in enumerate(["red"] * 8 + ["blue", "pink"])]
    annotations = [{"question_type": "what is", "answer_type": "other", "answers": answers, "image_id": i % images,
                    "question_id": i, "multiple_choice_answer": "red"} for i in range(samples)]
    (a := folder / "annotations.json").write_text(json.dumps({"data_subtype": "val2014", "annotations": annotations}))
    return [q, a]


def build_shards(folder: Path, samples: int, images: int) -> list[Path]:
    """Ten WebDataset shards ``data-000000.tar`` ... holding ``samples`` png + txt pairs."""
    import io
    import tarfile

    from PIL import Image

    pictures = []
    for i in range(images):
        buffer = io.BytesIO()
        Image.new("RGB", (16, 16), (i % 256, 40, 90)).save(buffer, "PNG")
        pictures.append(buffer.getvalue())
    folder.mkdir(parents=True, exist_ok=True)
    per_shard = -(-samples // 10)
    for shard in range(10):
        with tarfile.open(folder / f"data-{shard:06d}.tar", "w") as tar:
            for i in range(shard * per_shard, min(samples, (shard + 1) * per_shard)):
                for ext, data in (("png", pictures[i % images]), ("txt", f"square {i}".encode())):
                    info = tarfile.TarInfo(f"{i:08d}.{ext}")
                    info.size = len(data)
                    tar.addfile(info, io.BytesIO(data))
    return [folder / "data-{000000..000009}.tar"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--format", choices=("jsonl", "vqa-v2", "webdataset"), default="jsonl")
    parser.add_argument("--samples", type=int, default=100_000)
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--limit", type=int)
    parser.add_argument("--keep", type=Path, help="build in this (new) folder and keep it")
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="qa-gate-bench-import-"))
    started = time.perf_counter()
    extra: list[str] = []
    if args.format == "jsonl":
        sources = [build(folder, args.samples, args.images)]
    elif args.format == "vqa-v2":
        sources, extra = build_vqa(folder, args.samples, args.images), ["--images", str(folder / "pics")]
    else:
        sources = build_shards(folder, args.samples, args.images)
    size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and p.suffix in (".json", ".jsonl",
                                                                                            ".tar"))
    print(f"built {args.samples} {args.format} samples over {args.images} images in "
          f"{time.perf_counter() - started:.1f} s; source {size / 2**20:.1f} MiB")
    command = [sys.executable, "-c", CHILD, "golden", "import", args.format, *map(str, sources), *extra,
               "--out", str(folder / "suite")]
    if args.limit:
        command += ["--limit", str(args.limit), "--seed", "1"]
        command += ["--stratify", "colour"] if args.format == "jsonl" else []
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    print(done.stdout.strip() or done.stderr.strip())
    if done.returncode:
        sys.exit(done.returncode)
    peak = int(done.stderr.rsplit("peak_kib ", 1)[1].split()[0]) / 1024
    manifest = folder / "suite" / "manifest.jsonl"
    print(f"import: {wall:.1f} s wall, peak RSS {peak:.0f} MiB, {args.samples / wall:.0f} samples/s; "
          f"manifest {manifest.stat().st_size / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
