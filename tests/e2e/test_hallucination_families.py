"""POPE and CHAIR through the real gate: the demo CLIP ranking objects, a tiny BLIP answering, a tiny captioner
and a user captioner describing images; bad golden data refused by sample.

Each value equals a computation written here on exactly what the model produced: the official POPE
parsing with scikit-learn's scores, and an independent CHAIR (``support.chair_reference``).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import yaml
from PIL import Image
from support.chair_reference import reference_values
from support.project import write_thresholds
from support.tiny_models import build_tiny_blip_vqa

from qa_gate.errors import GoldenError
from qa_gate.golden.suite import load_suite, open_image, write_hashes
from qa_gate.metrics.pope import queried_object
from qa_gate.pipeline import prepare, score
from qa_gate.report.hallucinations import hallucination_tables
from qa_gate.report.html import _environment as html_environment
from qa_gate.report.markdown import markdown_environment

REPO = Path(__file__).resolve().parents[2]
GOOD = REPO / "qa_gate" / "demo" / "checkpoints" / "good"
POPE = ("pope_accuracy", "pope_precision", "pope_recall", "pope_f1", "pope_yes_ratio")
CHAIR = ("chair_i", "chair_s", "object_recall")


def official(text: str) -> str:
    """AoiDragon/POPE evaluate.py lines 13-21."""
    words = text.split(".")[0].replace(",", "").split(" ")
    return "no" if "No" in words or "not" in words or "no" in words else "yes"


def _sklearn(truth: list[str], said: list[str]) -> list[float]:
    from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score

    return [accuracy_score(truth, said), precision_score(truth, said, pos_label="yes", zero_division=0),
            recall_score(truth, said, pos_label="yes", zero_division=0),
            f1_score(truth, said, pos_label="yes", zero_division=0), said.count("yes") / len(said)]


def _pope_copy(root: Path, keep: int | None = None, edit: object = None) -> Path:
    target = root / "golden" / "pope"
    shutil.copytree(REPO / "golden" / "pope", target)
    data = yaml.safe_load((target / "manifest.yaml").read_text(encoding="utf-8"))
    data["samples"] = data["samples"][:keep]
    if edit is not None:
        edit(data["samples"])  # type: ignore[operator]
    (target / "manifest.yaml").write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    for image in (target / "images").iterdir():
        if f"images/{image.name}" not in {s["image"] for s in data["samples"]}:
            image.unlink()
    write_hashes(target)
    return target


def _gate(root: Path, model: dict, suite: str, metrics: dict) -> Path:
    return write_thresholds(root, model=model, suites={suite: {"metrics": metrics}}, baseline={"path": "b.json"})


def test_dual_encoder_ranking_equals_brute_force_and_scikit_learn(tmp_path: Path) -> None:
    import torch

    from qa_gate.demo.train import load_checkpoint

    suite_path = _pope_copy(tmp_path, keep=24)
    prompt = "a photo of a {object}"
    path = _gate(tmp_path, {"adapter": "open_clip", "checkpoint": GOOD, "device": "cpu", "batch_size": 32}, "pope",
                 {name: {"prompt": prompt, "min": 0.0} for name in POPE})
    result = score(prepare(path)).suites[0]
    suite = load_suite(suite_path)
    model, preprocess, tokenizer = load_checkpoint(GOOD)
    objects = sorted({str(queried_object(s.question, s.tags)) for s in suite.samples})
    with torch.no_grad():
        images = model.encode_image(torch.stack([preprocess(open_image(s)) for s in suite.samples])).double()
        texts = model.encode_text(tokenizer([prompt.format(object=o) for o in objects])).double()
    cosines = ((images / images.norm(dim=-1, keepdim=True)) @ (texts / texts.norm(dim=-1, keepdim=True)).T).numpy()
    expected = ["yes" if objects[int(np.argmax(row))] == queried_object(s.question, s.tags) else "no"
                for row, s in zip(cosines, suite.samples)]
    assert [s.output for s in result.samples] == expected
    truth = [str(s.answer) for s in suite.samples]
    assert [result.metrics[m].value for m in POPE] == pytest.approx(_sklearn(truth, expected), abs=1e-12)
    assert len(objects) > 2 and 0 < expected.count("no")
    definition = result.metrics["pope_f1"].definition
    assert definition["method"].startswith("rank objects") and definition["top_k"] == 1
    assert definition["prompt"] == prompt and "evaluate.py" in definition["reference"]


def test_generative_answers_are_parsed_officially(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    from qa_gate.adapters.hf.answerer import load_transformers_answerer
    from qa_gate.config.load import load_config

    monkeypatch.chdir(tmp_path)
    suite_path = _pope_copy(tmp_path, keep=12)
    build_tiny_blip_vqa(tmp_path / "ckpt")
    model = {"adapter": "transformers", "checkpoint": "ckpt", "device": "cpu", "batch_size": 4,
             "options": {"max_new_tokens": 6}}
    path = _gate(tmp_path, model, "pope", {name: {"min": 0.0} for name in POPE})
    result = score(prepare(path)).suites[0]
    suite = load_suite(suite_path)
    answerer, _ = load_transformers_answerer(load_config(path).model, torch.device("cpu"))
    direct = answerer.answer([open_image(s) for s in suite.samples], [str(s.question) for s in suite.samples])
    assert [s.output for s in result.samples] == direct
    expected = _sklearn([str(s.answer) for s in suite.samples], [official(a) for a in direct])
    assert [result.metrics[m].value for m in POPE] == pytest.approx(expected, abs=1e-12)
    assert result.metrics["pope_accuracy"].definition["method"] == "generate"


CAPTIONER = '''
class Describer:
    """Red images: two dogs and a bench; any other: a cat on a couch with a person."""

    settings = {"rule": "red or not"}

    def generate(self, images):
        return ["Two dogs and a bench." if img.convert("RGB").getpixel((0, 0))[0] > 128
                else "A cat on a couch with a person." for img in images]


def make(model_config, device):
    return Describer()
'''
OBJECTS = {"red1": ((255, 0, 0), ["dog", "bench"]), "red2": ((250, 10, 0), ["dogs", "tv"]),
           "blue": ((0, 0, 255), ["cat", "sofa", "person"]), "green": ((0, 200, 0), [])}


def _chair_suite(root: Path, objects: dict = OBJECTS) -> Path:
    target = root / "golden" / "chair"
    (target / "images").mkdir(parents=True)
    samples = []
    for name, (colour, names) in objects.items():
        Image.new("RGB", (16, 16), colour).save(target / "images" / f"{name}.png")
        samples.append({"id": name, "image": f"images/{name}.png", **({} if names is None else {"objects": names})})
    (target / "manifest.yaml").write_text(yaml.safe_dump({"version": 1, "samples": samples}), encoding="utf-8")
    write_hashes(target)
    return target


def test_chair_on_a_user_captioner_equals_the_hand_count(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "describer.py").write_text(CAPTIONER, encoding="utf-8")
    _chair_suite(tmp_path)
    path = _gate(tmp_path, {"adapter": "describer:make", "checkpoint": "describer", "device": "cpu"}, "chair",
                 {"chair_i": {"max": 1.0}, "chair_s": {"max": 1.0}, "object_recall": {"min": 0.0}})
    result = score(prepare(path)).suites[0]
    # red1: dog, bench, none hallucinated; red2: bench hallucinated, tv missed; blue: all three there;
    # green: cat, couch, person all hallucinated. Mentions 10, hallucinated 4; captions 2 of 4; recall 6 of 7.
    assert [result.metrics[m].value for m in CHAIR] == pytest.approx([4 / 10, 2 / 4, 6 / 7])
    assert [s.output for s in result.samples][:2] == ["Two dogs and a bench."] * 2
    assert result.metrics["chair_i"].definition["generation"] == {"rule": "red or not"}
    assert result.metrics["chair_s"].higher_is_better is False
    # the report's CHAIR section: the hallucinating captions, most invented objects first
    (table,) = hallucination_tables(result, ["chair_i"])
    assert [(r.sample_id, r.hallucinated, r.objects) for r in table.rows] == [
        ("green", "cat, couch, person", ""), ("red2", "bench", "dog, tv")]
    assert (table.captions, table.hidden) == (4, 0)
    assert dict(table.invented) == {"bench": 1, "cat": 1, "couch": 1, "person": 1}
    text = markdown_environment().get_template("hallucinations.md.j2").render(
        suite=SimpleNamespace(hallucinations=(table,)))
    assert "2 of 4 captions name at least one object the image does not hold" in text
    assert "| green | A cat on a couch with a person. | cat, couch, person |  |" in text
    page = html_environment().get_template("hallucinations.html.j2").render(
        suite=SimpleNamespace(hallucinations=(table,)))
    assert page.count("<tr><td>") == 2 and "<td>cat, couch, person</td>" in page


def test_chair_on_a_tiny_captioner_equals_the_reference(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         captioner_dir: Path) -> None:
    monkeypatch.chdir(tmp_path)
    shutil.copytree(captioner_dir, tmp_path / "ckpt")
    _chair_suite(tmp_path)
    model = {"adapter": "transformers", "checkpoint": "ckpt", "device": "cpu", "options": {"max_new_tokens": 8}}
    path = _gate(tmp_path, model, "chair", {name: {"min": 0.0} for name in CHAIR})
    result = score(prepare(path)).suites[0]
    captions = [str(s.output) for s in result.samples]
    assert all(captions)
    pairs = [(c, tuple(OBJECTS[s.id][1])) for c, s in zip(captions, result.samples)]
    assert [result.metrics[m].value for m in CHAIR] == pytest.approx(reference_values(pairs))
    assert result.metrics["chair_i"].definition["generation"]["max_new_tokens"] == 8


def _refused(path: Path, *parts: str) -> None:
    with pytest.raises(GoldenError) as caught:
        prepare(path)
    assert all(part in str(caught.value) for part in parts), str(caught.value)


def test_bad_golden_data_is_refused_by_sample(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    clip = {"adapter": "open_clip", "checkpoint": GOOD, "device": "cpu"}

    def maybe(samples: list) -> None:
        samples[1]["answer"] = "maybe"

    _pope_copy(tmp_path / "a", keep=4, edit=maybe)
    _refused(_gate(tmp_path / "a", clip, "pope", {"pope_f1": {"min": 0.0}}),
             "sample 'red-circle-random-00-no'", "'maybe'", "expected yes or no", "pope_f1")

    def odd(samples: list) -> None:
        samples[0]["question"] = "Do you see a red circle?"

    _pope_copy(tmp_path / "b", keep=4, edit=odd)
    _refused(_gate(tmp_path / "b", clip, "pope", {"pope_accuracy": {"min": 0.0}}),
             "sample 'red-circle-random-00-yes'", "'Do you see a red circle?'", "pope_object")

    _chair_suite(tmp_path / "c", {"red1": ((255, 0, 0), ["dog"]), "bare": ((0, 0, 255), None)})
    describer = {"adapter": "open_clip", "checkpoint": GOOD, "device": "cpu"}
    _refused(_gate(tmp_path / "c", describer, "chair", {"chair_s": {"max": 1.0}}),
             "sample 'bare'", "has no objects", "chair_s")
