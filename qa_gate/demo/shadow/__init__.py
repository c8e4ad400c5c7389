"""The demo's shadow example: the regressed checkpoint as the candidate, the good one's outputs as "production".

``python -m qa_gate.demo.shadow`` writes, under ``qa_gate/demo/shadow/``:

- ``traffic/``: a traffic suite (``kind: traffic``): the images and questions of ``golden/vqa`` with
  their answer choices, no human answers and no labels, the demo's label set, and tags a
  production log would carry (``locale``, ``device``, ``category``);
- ``production.jsonl``: the good checkpoint's predictions on it in the predictions format
  (``adapter: predictions``): its answers, predicted labels and image embeddings, computed through
  the gate's own VQA and multilabel views (a serving stack writes the same fields from its logs).

``thresholds.yaml`` gates the regressed checkpoint on agreement with that file; with
``--mm-checkpoint qa_gate/demo/checkpoints/good`` every agreement is 1.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[2]
TRAFFIC = HERE / "traffic"
PRODUCTION = HERE / "production.jsonl"
THRESHOLDS = HERE / "thresholds.yaml"
GOOD = HERE.parent / "checkpoints" / "good"
LOCALES = ("en-US", "de-DE", "ja-JP")
DEVICES = ("ios", "android", "web", "ios")
ANSWER_PROMPT = "a photo of a {answer}"
LABEL_PROMPT = "a photo of a {label}"
THRESHOLD = 0.3
"""What ``thresholds.yaml`` configures: the candidate's answers and labels are computed the same way."""
DESCRIPTION = ("Production traffic without ground truth: the demo's VQA images and questions (qa_gate demo). "
               "Rebuild with python -m qa_gate.demo.shadow.")


def build_traffic(out: Path = TRAFFIC, source: Path = REPO_ROOT / "golden" / "vqa",
                  labels_from: Path = REPO_ROOT / "golden" / "multilabel") -> Path:
    """The traffic suite: ``source``'s images and questions (choices kept, answers dropped), hashed."""
    from qa_gate.golden.manifest import Head, sample_entry
    from qa_gate.golden.suite import load_suite, write_hashes
    from qa_gate.golden.yaml_manifest import render_yaml

    suite, labels = load_suite(source), load_suite(labels_from).labels
    if out.exists():
        shutil.rmtree(out)
    (out / "images").mkdir(parents=True)
    entries = []
    for i, sample in enumerate(suite.samples):
        shutil.copyfile(sample.image_path, out / "images" / Path(sample.image).name)
        entry = sample_entry(sample)
        entries.append({"id": entry["id"], "image": f"images/{Path(sample.image).name}",
                        "tags": {"locale": LOCALES[i % len(LOCALES)], "device": DEVICES[i % len(DEVICES)],
                                 "category": sample.tags["shape"]},
                        "question": entry["question"], "choices": entry["choices"]})
    head = Head(DESCRIPTION, labels, "traffic")
    (out / "manifest.yaml").write_text(render_yaml(head, entries), encoding="utf-8")
    write_hashes(out)
    return out


def production_rows(checkpoint: Path = GOOD, suite_path: Path = TRAFFIC, *, answer_prompt: str = ANSWER_PROMPT,
                    label_prompt: str = LABEL_PROMPT, threshold: float = THRESHOLD) -> list[dict[str, Any]]:
    """One predictions row per sample of the suite at ``suite_path``: ``checkpoint``'s answer (ranking the
    sample's choices with ``answer_prompt``, as the VQA family does), its predicted labels (``label_prompt``
    scored against ``threshold``, as the multilabel family does) and its image embedding, all computed
    through the gate's own views."""
    from qa_gate.adapters.load import load_model
    from qa_gate.adapters.protocols import ENCODER, Demand
    from qa_gate.config.model import ModelConfig
    from qa_gate.golden.suite import load_suite
    from qa_gate.scoring.device import resolve_device
    from qa_gate.scoring.inputs import SuiteInputs
    from qa_gate.scoring.task_views import MultilabelView, VQAView

    device = resolve_device("cpu")
    model = load_model(ModelConfig("open_clip", str(checkpoint), device="cpu"), device,
                       (Demand(("answer_agreement",), (ENCODER,), "a dual encoder"),))
    suite = load_suite(suite_path)
    inputs = SuiteInputs(suite, model, 64, device, None, {})
    answers = VQAView(inputs, answer_prompt).predictions()
    labels = MultilabelView(inputs, label_prompt)
    hits = labels.scores() >= threshold
    return [{"id": s.id, "answer": answer, "labels": [x for x, on in zip(labels.labels, row) if on],
             "image_embedding": [round(float(v), 7) for v in embedding]}
            for s, answer, row, embedding in zip(suite.samples, answers, hits, inputs.image_embeddings())]


def write_production(out: Path = PRODUCTION, checkpoint: Path = GOOD, suite_path: Path = TRAFFIC) -> Path:
    """``checkpoint``'s predictions on the traffic suite as a JSON Lines predictions file at ``out``."""
    rows = production_rows(checkpoint, suite_path)
    out.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return out
