"""The data of ``bench_scale.py``: a golden suite of ``n`` small shape images and its thresholds file, and the
hand-written decode + preprocess + forward script the gate is compared with.

Every sample is one demo shape (``qa_gate.demo.shapes.draw_shape``) with a unique caption, two references and
five slice tags (colour, shape, size, background, group); the thresholds gate the demo's tiny CLIP on
CLIPScore, RefCLIPScore, cosine, zero-shot (shape and colour) and retrieval, with a slice rule, as the demo does.
"""

from __future__ import annotations

import hashlib
import json
import random
import shutil
from pathlib import Path

BUILT = ".bench-built"
GROUPS = 10


def _manifest_kind(wanted: str) -> str:
    """``jsonl`` when this qa_gate reads ``manifest.jsonl`` (or when asked), else ``yaml``."""
    if wanted != "auto":
        return wanted
    try:
        from qa_gate.golden.manifest import MANIFEST_JSONL  # noqa: F401
    except ImportError:
        return "yaml"
    return "jsonl"


def _entries(n: int, image_size: int, images: Path) -> list[dict[str, object]]:
    from qa_gate.demo.shapes import SHAPES, RenderSettings, draw_shape

    colours = ("red", "green", "blue", "yellow", "purple")
    settings = RenderSettings(size=image_size, supersample=2)
    out = []
    for i in range(n):
        rng = random.Random(f"bench_scale/{i}")
        colour, shape = colours[i % 5], SHAPES[(i // 5) % 4]
        image = draw_shape(colour, shape, rng, settings)
        grey = image.getpixel((0, 0))[0]
        size = "large" if rng.random() < 0.5 else "small"
        background = "dark" if grey < 128 else "light"
        sample_id = f"s{i:06d}"
        image.save(images / f"{sample_id}.png", optimize=False)
        out.append({"id": sample_id, "image": f"images/{sample_id}.png",
                    "caption": f"a {size} {colour} {shape} no {i}",
                    "references": [f"a {shape} that is {colour}", f"a {colour} {shape} on a {background} background"],
                    "tags": {"colour": colour, "shape": shape, "size": size, "background": background,
                             "group": f"g{i % GROUPS}"}})
    return out


def _yaml(entries: list[dict[str, object]]) -> str:
    lines = ["version: 1", "description: bench_scale suite", "samples:"]
    for e in entries:
        tags = ", ".join(f"{k}: {v}" for k, v in e["tags"].items())  # type: ignore[attr-defined]
        refs = ", ".join(e["references"])  # type: ignore[arg-type]
        lines += [f"  - id: {e['id']}", f"    image: {e['image']}", f"    caption: {e['caption']}",
                  f"    references: [{refs}]", f"    tags: {{{tags}}}"]
    return "\n".join(lines) + "\n"


def build_suite(folder: Path, n: int, image_size: int, manifest: str = "auto") -> tuple[Path, str]:
    """Render the suite into ``folder`` (reused when already built with the same settings); its folder and
    manifest kind."""
    kind = _manifest_kind(manifest)
    stamp = json.dumps({"n": n, "image_size": image_size, "manifest": kind, "version": 1})
    built = folder.parent / f"{folder.name}{BUILT}"  # beside the suite: every file inside must be listed
    if built.is_file() and built.read_text() == stamp and folder.is_dir():
        return folder, kind
    built.unlink(missing_ok=True)
    if folder.exists():
        shutil.rmtree(folder)
    (folder / "images").mkdir(parents=True)
    entries = _entries(n, image_size, folder / "images")
    if kind == "jsonl":
        text = json.dumps({"qa_gate_manifest": 1, "description": "bench_scale suite"}) + "\n"
        text += "".join(json.dumps(e) + "\n" for e in entries)
        (folder / "manifest.jsonl").write_text(text, encoding="utf-8")
    else:
        (folder / "manifest.yaml").write_text(_yaml(entries), encoding="utf-8")
    names = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    sums = "".join(f"{hashlib.sha256((folder / name).read_bytes()).hexdigest()}  {name}\n" for name in names)
    (folder / "SHA256SUMS").write_text(sums, encoding="utf-8")
    built.write_text(stamp)
    return folder, kind


def write_thresholds(project: Path, suite: Path, checkpoint: Path, batch_size: int, retrieval: bool = True) -> Path:
    """The gate's config for the suite: the demo's rules on one suite, 5 slice keys, a red slice rule
    (``retrieval=False``: without the retrieval rules, whose exact ranks are quadratic)."""
    ranks = ("      i2t_r1: {min: 0.0, max_drop: 0.05}\n      t2i_r1: {min: 0.0, max_drop: 0.05}\n"
             "      t2i_median_rank: {max: 1000000000}\n") if retrieval else ""
    text = f"""version: 1
model:
  adapter: open_clip
  checkpoint: {checkpoint}
  device: cpu
  batch_size: {batch_size}
baseline:
  path: baselines/baseline.json
report:
  path: report.md
suites:
  scale:
    path: {suite}
    metrics:
      clipscore: {{min: 0.0, max_drop: 0.02}}
      refclipscore: {{min: 0.0, max_drop: 0.02}}
      cosine: {{max_drop_pct: 2}}
      zeroshot_top1: {{label_tag: shape, min: 0.0, max_drop: 0.03}}
      zeroshot_mean_per_class_recall: {{label_tag: colour, min: 0.0, max_drop: 0.05}}
{ranks}    slices:
      colour=red:
        clipscore: {{min: 0.0, max_drop: 0.05}}
"""
    path = project / "thresholds.yaml"
    path.write_text(text, encoding="utf-8")
    return path


HANDWRITTEN = r'''
"""Hand-written model work on a suite: decode + preprocess every image, tokenise texts, and run the image and text
towers in batches. ``minimal``: each sample's caption (what any evaluation script has to do); ``same``: every
distinct text the gate's rules encode (captions, with CLIPScore's prefix too, references with and without it, the
zero-shot prompts). Prints its timings as JSON."""
import json, sys, time
from pathlib import Path

t_start = time.perf_counter()
import open_clip, torch
from PIL import Image

suite, checkpoint, batch, texts_kind = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
model, _, preprocess = open_clip.create_model_and_transforms(f"local-dir:{checkpoint}", device="cpu")
tokenizer = open_clip.get_tokenizer(f"local-dir:{checkpoint}")
model.eval()
manifest = suite / "manifest.jsonl"
if manifest.exists():
    rows = [json.loads(line) for line in manifest.read_text().splitlines()[1:] if line.strip()]
else:
    import yaml
    rows = yaml.load((suite / "manifest.yaml").read_text(), Loader=yaml.CSafeLoader)["samples"]
texts = [r["caption"] for r in rows]
if texts_kind == "same":
    prefix = "A photo depicts "
    own = [t for r in rows for t in (r["caption"], *r["references"])]
    classes = sorted({r["tags"]["shape"] for r in rows}) + sorted({r["tags"]["colour"] for r in rows})
    templates = ("a photo of a {}.", "a blurry photo of a {}.", "a photo of the large {}.", "a photo of the small {}.")
    texts = list(dict.fromkeys(own + [prefix + t for t in own] + [t.format(c) for c in classes for t in templates]))
t_ready = time.perf_counter()
decode = forward = 0.0
with torch.inference_mode():
    for start in range(0, len(rows), batch):
        t0 = time.perf_counter()
        chunk = rows[start:start + batch]
        images = torch.stack([preprocess(Image.open(suite / r["image"]).convert("RGB")) for r in chunk])
        t1 = time.perf_counter()
        model.encode_image(images)
        forward += time.perf_counter() - t1
        decode += t1 - t0
    for start in range(0, len(texts), batch):
        t0 = time.perf_counter()
        tokens = tokenizer(texts[start:start + batch])
        t1 = time.perf_counter()
        model.encode_text(tokens)
        forward += time.perf_counter() - t1
        decode += t1 - t0
end = time.perf_counter()
print(json.dumps({"load": t_ready - t_start, "decode_preprocess_tokenize": decode, "forward": forward,
                  "total": end - t_start, "samples": len(rows), "texts": len(texts)}))
'''
