"""Shadow mode through the real gate: a traffic suite, a production predictions file, agreement metrics equal to a
brute force on the same outputs; what is refused before scoring; and per-sample output diffs against a baseline.

The candidate is the demo's tiny CLIP (regressed or good), production is the good checkpoint's predictions.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from support.project import write_thresholds
from support.shadow import write_rows

from qa_gate.demo.shadow import GOOD, PRODUCTION, TRAFFIC
from qa_gate.errors import AdapterError, ConfigError, GateError, GoldenError
from qa_gate.golden.suite import load_suite, write_hashes
from qa_gate.metrics.agreement import same_answer
from qa_gate.pipeline import judge, prepare, record_baseline, score
from qa_gate.report import render_markdown

REPO = Path(__file__).resolve().parents[2]
REGRESSED = GOOD.parent / "regressed"
N = 12
METRICS = {"answer_agreement": {"prompt": "a photo of a {answer}", "min": 0.97},
           "label_agreement": {"prompt": "a photo of a {label}", "threshold": 0.3, "min": 0.9},
           "label_agreement_micro": {"prompt": "a photo of a {label}", "threshold": 0.3},
           "embedding_agreement": {"min": 0.99}}


def _traffic(folder: Path, n: int = N) -> Path:
    """The first ``n`` samples of the demo's traffic suite, hashed."""
    target = folder / "traffic"
    shutil.copytree(TRAFFIC, target)
    data = yaml.safe_load((target / "manifest.yaml").read_text(encoding="utf-8"))
    kept = data["samples"][:n]
    for sample in data["samples"][n:]:
        (target / sample["image"]).unlink()
    data["samples"] = kept
    (target / "manifest.yaml").write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    write_hashes(target)
    return target


def _production(folder: Path, n: int = N, edit: object = None) -> Path:
    rows = [json.loads(line) for line in PRODUCTION.read_text().splitlines()][:n]
    if edit is not None:
        edit(rows)  # type: ignore[operator]
    return write_rows(folder / "production.jsonl", rows)


def _project(folder: Path, checkpoint: Path = REGRESSED, metrics: dict | None = None,
             shadow: dict | None = None) -> Path:
    _traffic(folder)
    if not (folder / "production.jsonl").exists():
        _production(folder)
    suite = {"path": "traffic", "shadow": shadow or {"reference": "production.jsonl"},
             "metrics": metrics or METRICS}
    return write_thresholds(folder, {"adapter": "open_clip", "checkpoint": checkpoint, "device": "cpu"},
                            {"traffic": suite}, baseline={"path": "baseline.json"})


def test_agreement_equals_a_brute_force_on_the_two_models_outputs(tmp_path: Path) -> None:
    from qa_gate.demo.shadow import production_rows

    result = score(prepare(_project(tmp_path))).suites[0]
    candidate = production_rows(REGRESSED, tmp_path / "traffic")
    production = [json.loads(line) for line in (tmp_path / "production.jsonl").read_text().splitlines()]
    answers = [float(same_answer(c["answer"], p["answer"])) for c, p in zip(candidate, production)]
    assert result.metrics["answer_agreement"].per_sample == pytest.approx(answers)
    sets = [(set(c["labels"]), set(p["labels"])) for c, p in zip(candidate, production)]
    jaccard = [len(a & b) / len(a | b) if a | b else 1.0 for a, b in sets]
    assert result.metrics["label_agreement"].value == pytest.approx(np.mean(jaccard))
    micro = sum(len(a & b) for a, b in sets) / sum(len(a | b) for a, b in sets)
    assert result.metrics["label_agreement_micro"].value == pytest.approx(micro)
    a = np.array([c["image_embedding"] for c in candidate])
    b = np.array([p["image_embedding"] for p in production])
    cosines = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    assert result.metrics["embedding_agreement"].per_sample == pytest.approx(cosines, abs=1e-6)
    assert result.compared["answer_agreement"] == tuple((c["answer"], p["answer"])
                                                        for c, p in zip(candidate, production))
    definition = result.metrics["answer_agreement"].definition
    assert definition["production_sha256"] == load_table_sha(tmp_path / "production.jsonl")
    assert definition["method"].startswith("rank candidate answers")
    assert [s.output for s in result.samples] == [c["answer"] for c in candidate]


def load_table_sha(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_changed_production_file_is_another_metric_definition(tmp_path: Path) -> None:
    metrics = {"answer_agreement": METRICS["answer_agreement"]}
    before = score(prepare(_project(tmp_path, GOOD, metrics))).suites[0].metrics["answer_agreement"]
    assert before.value == 1.0
    _production(tmp_path, edit=lambda rows: rows[0].update(answer="purple"))
    after = score(prepare(_project(tmp_path / "again", GOOD, metrics, {"reference": "../production.jsonl"})))
    moved = after.suites[0].metrics["answer_agreement"]
    assert moved.fingerprint != before.fingerprint and moved.value == pytest.approx((N - 1) / N)


@pytest.mark.parametrize(("edit", "error", "words"), [
    (lambda rows: rows.pop(3), AdapterError, "1"),
    (lambda rows: rows.append({**rows[0], "id": "not-a-sample"}), AdapterError, "not-a-sample"),
    (lambda rows: rows.append(dict(rows[0])), AdapterError, "more than once"),
    (lambda rows: [r.update(suite="vqa") for r in rows], AdapterError, "another suite"),
    (lambda rows: [r.pop("answer") for r in rows], ConfigError, "no answer field"),
])
def test_a_reference_that_does_not_cover_the_suite_stops_the_run_before_scoring(
        tmp_path: Path, edit: object, error: type[GateError], words: str) -> None:
    _production(tmp_path, edit=edit)
    with pytest.raises(error, match=words):
        prepare(_project(tmp_path))


def test_no_output_overwrites_the_production_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from qa_gate.cli import main

    thresholds = str(_project(tmp_path))
    before = (tmp_path / "production.jsonl").read_bytes()
    for command in (["run", "--verdict"], ["run", "--report"], ["predict", "--out"]):
        assert main([*command[:1], "--thresholds", thresholds, *command[1:], str(tmp_path / "production.jsonl")]) == 4
        error = capsys.readouterr().err
        assert "would overwrite an input of this run: it is the shadow reference of suite 'traffic'" in error, command
    assert (tmp_path / "production.jsonl").read_bytes() == before


def test_shadow_config_mistakes_are_one_clear_line(tmp_path: Path) -> None:
    path = _project(tmp_path, shadow={"reference": "missing.jsonl"})
    with pytest.raises(ConfigError, match=r"suites\.traffic\.shadow\.reference: missing\.jsonl does not exist"):
        prepare(path)
    with pytest.raises(ConfigError, match=r"unknown key 'referenc'|referenc"):
        prepare(_project(tmp_path / "typo", shadow={"referenc": "production.jsonl"}))
    data = yaml.safe_load(path.read_text())
    del data["suites"]["traffic"]["shadow"]
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(ConfigError, match=r"metrics\.answer_agreement: 'answer_agreement' compares .* no 'shadow'"):
        prepare(path)


def test_a_ground_truth_metric_on_traffic_is_refused_naming_the_traffic_kind(tmp_path: Path) -> None:
    path = _project(tmp_path, metrics={"vqa_accuracy": {"prompt": "a photo of a {answer}", "min": 0.5}})
    with pytest.raises(GoldenError, match=r"has no answers, which metric 'vqa_accuracy'.*kind: traffic"):
        prepare(path)
    assert load_suite(tmp_path / "traffic").kind == "traffic"


def test_changed_outputs_since_the_baseline_are_listed_through_one_gated_suite(tmp_path: Path) -> None:
    suite = {"path": str(REPO / "golden" / "vqa"), "metrics": {"vqa_accuracy": {"prompt": "a photo of a {answer}",
                                                                               "min": 0.0}}}
    model = {"adapter": "open_clip", "checkpoint": GOOD, "device": "cpu"}
    path = write_thresholds(tmp_path, model, {"vqa": suite}, baseline={"path": "baseline.json"})
    prepared = prepare(path)
    good = score(prepared)
    record_baseline(prepared.config, judge(prepared, good, update_baseline=True))
    candidate = write_thresholds(tmp_path, {**model, "checkpoint": REGRESSED}, {"vqa": suite},
                                 baseline={"path": "baseline.json"})
    prepared = prepare(candidate)
    regressed = score(prepared)
    verdict = judge(prepared, regressed)
    markdown = render_markdown(verdict)
    assert "#### Outputs that changed since the baseline, most moved first" in markdown
    before = {s.id: s.output for s in good.suites[0].samples}
    changed = [s for s in regressed.suites[0].samples if s.output != before[s.id]]
    assert changed
    section = markdown[markdown.index("Outputs that changed since the baseline"):]
    first = section.splitlines()[4]
    shown_id = first.split("`")[1]
    sample = next(s for s in changed if s.id == shown_id)
    assert f"| {before[shown_id]} | {sample.output} |" in first


CANDIDATE = [("a red circle", "STOP"), ("a blue square", "EXIT 12"), ("two cats", "OPEN"),
             ("a green cross on white", "CLOSED")]
PRODUCTION_TEXTS = [("a red circle", "STOP"), ("a blue box", "EXIT 13"), ("a dog on grass", "OPEN"),
                    ("a green cross", "CLOSE")]


def _files_project(folder: Path, metrics: dict, field: str = "caption") -> Path:
    """A traffic suite of four blank images gated with a predictions file as the candidate (no model at all);
    both files give ``field`` (``caption`` or ``text``: an image-to-text model generates one text per image)."""
    from PIL import Image

    from qa_gate.golden.manifest import Head
    from qa_gate.golden.yaml_manifest import render_yaml

    suite = folder / "traffic"
    (suite / "images").mkdir(parents=True)
    entries = []
    for i in range(len(CANDIDATE)):
        Image.new("RGB", (8, 8), (60 * i, 10, 10)).save(suite / "images" / f"t{i}.png")
        entries.append({"id": f"t{i}", "image": f"images/t{i}.png", "tags": {"device": ("ios", "web")[i % 2]}})
    (suite / "manifest.yaml").write_text(render_yaml(Head(None, None, "traffic"), entries), encoding="utf-8")
    write_hashes(suite)
    for name, rows in (("candidate.jsonl", CANDIDATE), ("production.jsonl", PRODUCTION_TEXTS)):
        write_rows(folder / name, [{"id": f"t{i}", field: c if field == "caption" else t}
                                   for i, (c, t) in enumerate(rows)])
    return write_thresholds(folder, {"adapter": "predictions", "checkpoint": "candidate.jsonl",
                                     "options": {"model_id": "candidate@test"}},
                            {"traffic": {"path": "traffic", "shadow": {"reference": "production.jsonl"},
                                         "metrics": metrics}}, baseline={"path": "baseline.json"})


def test_text_agreement_of_two_prediction_files_is_jiwer_cer(tmp_path: Path) -> None:
    import jiwer

    result = score(prepare(_files_project(tmp_path, {"text_agreement": {"max": 0.2}}, "text"))).suites[0]
    expected = jiwer.cer([t for _, t in PRODUCTION_TEXTS], [t for _, t in CANDIDATE])
    assert result.metrics["text_agreement"].value == pytest.approx(expected)
    assert result.compared["text_agreement"] == tuple((c, p) for (_, c), (_, p) in zip(CANDIDATE, PRODUCTION_TEXTS))


@pytest.mark.skipif(shutil.which("java") is None, reason="the PTB tokenizer needs Java")
def test_caption_agreement_of_two_prediction_files_is_pycocoevalcap(tmp_path: Path) -> None:
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    metrics = {"caption_agreement": {"min": 0.1}, "caption_agreement_bleu4": {}}
    result = score(prepare(_files_project(tmp_path, metrics))).suites[0]
    tokenizer = PTBTokenizer()
    gts = tokenizer.tokenize({f"t{i}": [{"caption": p}] for i, (p, _) in enumerate(PRODUCTION_TEXTS)})
    res = tokenizer.tokenize({f"t{i}": [{"caption": c}] for i, (c, _) in enumerate(CANDIDATE)})
    cider, _ = Cider().compute_score(gts, res)
    (_, _, _, bleu4), _ = Bleu(4).compute_score(gts, res, verbose=0)
    assert result.metrics["caption_agreement"].value == pytest.approx(cider)
    assert result.metrics["caption_agreement_bleu4"].value == pytest.approx(bleu4)


def test_text_embedding_agreement_of_two_prediction_files_is_the_mean_cosine(tmp_path: Path) -> None:
    path = _files_project(tmp_path, {"embedding_agreement": {"embedding": "text", "min": 0.5}})
    data = yaml.safe_load((tmp_path / "traffic" / "manifest.yaml").read_text())
    for i, sample in enumerate(data["samples"]):
        sample["caption"] = f"caption {i}"
    (tmp_path / "traffic" / "manifest.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    write_hashes(tmp_path / "traffic")
    rng = np.random.default_rng(3)
    candidate, production = rng.normal(size=(4, 6)), rng.normal(size=(4, 6))
    for name, vectors in (("candidate.jsonl", candidate), ("production.jsonl", production)):
        write_rows(tmp_path / name, [{"id": f"t{i}", "text_embedding": v.tolist(), "image_embedding": [1.0] * 6}
                                     for i, v in enumerate(vectors)])  # a dual encoder's file has both
    result = score(prepare(path)).suites[0].metrics["embedding_agreement"]
    cosines = (candidate * production).sum(1) / np.linalg.norm(candidate, axis=1) / np.linalg.norm(production, axis=1)
    assert result.per_sample == pytest.approx(cosines, abs=1e-6)
    assert result.definition["embedding"] == "text"


@pytest.mark.parametrize(("edit", "words"), [
    (lambda rows: rows[2].update(labels=["red", "circel"]), r"sample 'red-circle-002': the production labels name "
                                                           r"'circel'.*did you mean 'circle'"),
    (lambda rows: [r.update(image_embedding=r["image_embedding"][:8]) for r in rows],
     r"production\.jsonl: the production image_embedding has dimension 8, the candidate's 32"),
])
def test_hostile_production_outputs_are_refused_naming_the_sample(tmp_path: Path, edit: object, words: str) -> None:
    _production(tmp_path, edit=edit)
    with pytest.raises(GateError, match=words):
        score(prepare(_project(tmp_path)))


def test_a_production_transcription_written_as_caption_is_read_as_its_one_generated_text(tmp_path: Path) -> None:
    import jiwer

    path = _files_project(tmp_path, {"text_agreement": {"max": 0.2}}, "text")
    write_rows(tmp_path / "production.jsonl", [{"id": f"t{i}", "caption": t} for i, (_, t) in
                                               enumerate(PRODUCTION_TEXTS)])
    result = score(prepare(path)).suites[0]
    expected = jiwer.cer([t for _, t in PRODUCTION_TEXTS], [t for _, t in CANDIDATE])
    assert result.metrics["text_agreement"].value == pytest.approx(expected)


def test_caption_clipscore_difference_is_scored_by_the_fixed_scorer(tmp_path: Path) -> None:
    import torch

    from qa_gate.demo.train import load_checkpoint

    path = _files_project(tmp_path, {"caption_agreement_clipscore": {"min": -1.0}})
    data = yaml.safe_load(path.read_text())
    with pytest.raises(ConfigError, match=r"caption_agreement_clipscore: scores .* no 'scorer' section"):
        prepare(path)
    data = {**data, "scorer": {"adapter": "open_clip", "checkpoint": str(GOOD)}}
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    result = score(prepare(path)).suites[0].metrics["caption_agreement_clipscore"]
    model, preprocess, tokenizer = load_checkpoint(GOOD)
    suite = load_suite(tmp_path / "traffic")
    from qa_gate.golden.suite import open_image

    with torch.no_grad():
        images = model.encode_image(torch.stack([preprocess(open_image(s)) for s in suite.samples])).double()
        prefix = "A photo depicts "
        ours = model.encode_text(tokenizer([prefix + c for c, _ in CANDIDATE])).double()
        theirs = model.encode_text(tokenizer([prefix + c for c, _ in PRODUCTION_TEXTS])).double()
    unit = [(x / x.norm(dim=-1, keepdim=True)).numpy() for x in (images, ours, theirs)]
    expected = 2.5 * np.clip((unit[0] * unit[1]).sum(1), 0, None) - 2.5 * np.clip((unit[0] * unit[2]).sum(1), 0, None)
    assert result.per_sample == pytest.approx(expected, abs=1e-5)
    assert result.definition["scorer"] != "candidate"
