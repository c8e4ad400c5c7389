"""VQA, multilabel and OCR through the real gate: a dual encoder ranks answers and scores labels,
each result equal to a brute force on the same model; bad golden data is refused by suite and sample.

The model is the demo's trained tiny CLIP (``qa_gate/demo/checkpoints/good``), loaded through the
open_clip adapter by the gate and through the demo's own loader for the brute force.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from support.project import write_thresholds

from qa_gate.errors import AdapterError, ConfigError, GoldenError
from qa_gate.golden.suite import load_suite, open_image, write_hashes
from qa_gate.metrics.vqa import vqa_accuracy
from qa_gate.pipeline import prepare, score

REPO = Path(__file__).resolve().parents[2]
GOOD = REPO / "qa_gate" / "demo" / "checkpoints" / "good"
MODEL = {"adapter": "open_clip", "checkpoint": GOOD, "device": "cpu", "batch_size": 32}


def _thresholds(folder: Path, suites: dict) -> Path:
    """``folder/thresholds.yaml`` gating the demo's good checkpoint on ``suites``."""
    return write_thresholds(folder, model=MODEL, suites=suites, baseline={"path": "baseline.json"})


def _suite(name: str, metrics: dict, path: Path | str | None = None) -> dict:
    """The ``suites`` section of one suite gated on ``metrics`` (at ``path``, else ``golden/<name>``)."""
    return {name: {"metrics": metrics} if path is None else {"path": path, "metrics": metrics}}


def _copy_suite(name: str, folder: Path, edit: object = None) -> Path:
    """A copy of a demo suite; ``edit(manifest_dict)`` changes it before it is re-hashed."""
    target = folder / "golden" / name
    shutil.copytree(REPO / "golden" / name, target)
    if edit is not None:
        data = yaml.safe_load((target / "manifest.yaml").read_text(encoding="utf-8"))
        edit(data)  # type: ignore[operator]
        (target / "manifest.yaml").write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        write_hashes(target)
    return target


@pytest.fixture(scope="module")
def clip() -> tuple[object, object, object]:
    from qa_gate.demo.train import load_checkpoint

    return load_checkpoint(GOOD)


def _embed(clip: tuple[object, object, object], suite_path: Path, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Normalised image embeddings of a suite and of ``texts``, straight from the open_clip model."""
    import torch

    model, preprocess, _ = clip
    suite = load_suite(suite_path)
    with torch.no_grad():
        images = model.encode_image(torch.stack([preprocess(open_image(s)) for s in suite.samples])).double()
    return (images / images.norm(dim=-1, keepdim=True)).numpy(), _embed_texts(clip, texts)


def test_answer_ranking_equals_brute_force(tmp_path: Path, clip: tuple[object, object, object]) -> None:
    prompt = "a photo of a {answer}"
    path = _thresholds(tmp_path, _suite("vqa", {"vqa_accuracy": {"prompt": prompt, "min": 0.0}},
                                        REPO / "golden" / "vqa"))
    run = score(prepare(path))
    result = run.suites[0]
    suite = load_suite(REPO / "golden" / "vqa")
    images, _ = _embed(clip, REPO / "golden" / "vqa", ["unused"])
    expected = []
    for i, sample in enumerate(suite.samples):
        texts = _embed_texts(clip, [prompt.format(answer=a) for a in sample.choices])
        expected.append(sample.choices[int(np.argmax(images[i] @ texts.T))])
    assert [s.output for s in result.samples] == expected
    accuracy = np.mean([vqa_accuracy(p, s.answers) for p, s in zip(expected, suite.samples)])
    assert result.metrics["vqa_accuracy"].value == pytest.approx(accuracy, abs=1e-12)
    definition = result.metrics["vqa_accuracy"].definition
    assert definition["prompt"] == prompt and definition["method"].startswith("rank candidate answers")
    assert [s.text for s in result.samples] == [s.question for s in suite.samples]
    assert result.samples[0].tags["question_type"] == suite.samples[0].tags["question_type"]


def _embed_texts(clip: tuple[object, object, object], texts: list[str]) -> np.ndarray:
    import torch

    model, _, tokenizer = clip
    with torch.no_grad():
        text = model.encode_text(tokenizer(texts)).double()
    return (text / text.norm(dim=-1, keepdim=True)).numpy()


def test_without_choices_every_human_answer_of_the_suite_is_a_candidate(tmp_path: Path,
                                                                     clip: tuple[object, object, object]) -> None:
    def drop_choices(data: dict) -> None:
        data["samples"] = data["samples"][:12]
        for sample in data["samples"]:
            sample.pop("choices")

    suite_path = _copy_suite("vqa", tmp_path, drop_choices)
    path = _thresholds(tmp_path, _suite("vqa", {"vqa_accuracy": {"min": 0.0}}, "golden/vqa"))
    result = score(prepare(path)).suites[0]
    suite = load_suite(suite_path)
    vocabulary = sorted({a for s in suite.samples for a in s.answers})
    images, texts = _embed(clip, suite_path, vocabulary)
    expected = [vocabulary[int(np.argmax(row))] for row in images @ texts.T]
    assert [s.output for s in result.samples] == expected


def test_prompt_scoring_f1_equals_sklearn(tmp_path: Path, clip: tuple[object, object, object]) -> None:
    from sklearn.metrics import f1_score

    prompt, threshold = "a photo of a {label}", 0.3
    metrics = {f"f1_{a}": {"prompt": prompt, "threshold": threshold, "min": 0.0}
               for a in ("micro", "macro", "samples", "weighted")}
    path = _thresholds(tmp_path, _suite("multilabel", metrics, REPO / "golden" / "multilabel"))
    result = score(prepare(path)).suites[0]
    suite = load_suite(REPO / "golden" / "multilabel")
    images, texts = _embed(clip, REPO / "golden" / "multilabel", [prompt.format(label=x) for x in suite.labels])
    predicted = (images @ texts.T >= threshold).astype(int)
    truth = np.array([[int(x in s.labels) for x in suite.labels] for s in suite.samples])
    for average in ("micro", "macro", "samples", "weighted"):
        reference = f1_score(truth, predicted, average=average, zero_division=0)
        assert result.metrics[f"f1_{average}"].value == pytest.approx(reference, abs=1e-9), average
    definition = result.metrics["f1_micro"].definition
    assert definition["labels"] == list(suite.labels) and definition["method"] == "prompt scoring"
    assert result.samples[0].output == ", ".join(x for x, on in zip(suite.labels, predicted[0]) if on)


def test_a_different_prompt_is_a_different_definition(tmp_path: Path) -> None:
    def run_with(prompt: str) -> str:
        path = _thresholds(tmp_path, _suite("multilabel", {"f1_micro": {"prompt": prompt, "min": 0.0}},
                                            REPO / "golden" / "multilabel"))
        return score(prepare(path)).suites[0].metrics["f1_micro"].fingerprint

    assert run_with("a photo of a {label}") != run_with("a {label}")


# --- bad golden data and config: a clear error naming the suite and sample


def _vqa_with(tmp_path: Path, index: int, **fields: object) -> Path:
    def edit(data: dict) -> None:
        data["samples"][index].update(fields)

    _copy_suite("vqa", tmp_path, edit)
    return _vqa_thresholds(tmp_path)


def _vqa_thresholds(folder: Path, **params: object) -> Path:
    """The copied vqa suite gated on ``vqa_accuracy`` with ``params`` and a 0.5 floor."""
    return _thresholds(folder, _suite("vqa", {"vqa_accuracy": {**params, "min": 0.5}}, "golden/vqa"))


def test_wrong_number_of_answers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    path = _vqa_with(tmp_path, 3, answers=["red"] * 9)
    with pytest.raises(GoldenError) as info:
        prepare(path)
    assert str(info.value) == (
        "golden/vqa: sample 'red-circle-003': has 9 human answers; expected exactly 10 (official VQA accuracy "
        "leaves each of the 10 out in turn), which metric 'vqa_accuracy' (suites.vqa.metrics) needs")


def test_missing_question(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    path = _vqa_with(tmp_path, 0, question=None)
    with pytest.raises(GoldenError, match=r"^golden/vqa: sample 'red-circle-000': has no question, which metric "
                                          r"'vqa_accuracy' \(suites.vqa.metrics\) needs$"):
        prepare(path)


def test_empty_ocr_reference(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)

    def edit(data: dict) -> None:
        data["samples"][2]["text"] = "  "

    _copy_suite("words", tmp_path, edit)
    sample = load_suite(tmp_path / "golden" / "words").samples[2].id
    path = _thresholds(tmp_path, _suite("words", {"cer": {"max": 0.5}}))
    with pytest.raises(GoldenError) as info:
        prepare(path)
    assert str(info.value) == (f"golden/words: sample '{sample}': has an empty text (the reference transcription "
                               "must not be empty), which metric 'cer' (suites.words.metrics) needs")


def test_multilabel_metric_on_a_suite_without_a_label_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    _copy_suite("retrieval", tmp_path)
    path = _thresholds(tmp_path, _suite("retrieval", {"f1_macro": {"min": 0.5}}))
    with pytest.raises(GoldenError, match=r"^golden/retrieval: the manifest declares no label set \(top-level "
                                          r"'labels'\), which metric 'f1_macro' \(suites.retrieval.metrics\) needs"):
        prepare(path)


@pytest.mark.parametrize(("entry", "expected"), [
    ({"vqa_accuracy": {"prompt": "a photo"}},
     "suites.vqa.metrics.vqa_accuracy.prompt: expected a template with {answer} (it may use {answer} and "
     "{question}), got 'a photo'"),
    ({"vqa_accuracy": {"prompt": "a {colour} {answer}"}}, "expected a template with {answer}"),
    ({"vqa_accuracy": {"normalisation": "strict"}},
     "suites.vqa.metrics.vqa_accuracy.normalisation: expected official or official-2016, got 'strict'"),
    ({"f1_micro": {"zero_division": 0.5}}, "suites.vqa.metrics.f1_micro.zero_division: expected 0.0 or 1.0, got 0.5"),
    ({"f1_micro": {"prompt": "a photo of a {}"}},
     "suites.vqa.metrics.f1_micro.prompt: expected a template with {label}"),
    ({"f1_micro": {"prompt": "a photo of a {label!x}"}},
     "suites.vqa.metrics.f1_micro.prompt: 'a photo of a {label!x}' cannot be filled in with text (Unknown "
     "conversion specifier x); expected {label} written plainly, or with a conversion (!s, !r, !a) or a format "
     "spec for text such as {label:>12}"),
    ({"f1_micro": {"prompt": "a photo of a {label:d}"}},
     "'a photo of a {label:d}' cannot be filled in with text (Unknown format code 'd' for object of type 'str')"),
    ({"vqa_accuracy": {"prompt": "a {answer:>{w}}"}},
     "suites.vqa.metrics.vqa_accuracy.prompt: 'a {answer:>{w}}' cannot be filled in with text (a format spec "
     "uses the unknown field {w}); expected {answer} and {question} written plainly"),
    ({"vqa_accuracy": {"prompt": "{question} {answer:{}}"}}, "(a format spec uses a positional field {})"),
])
def test_bad_task_parameters(tmp_path: Path, entry: dict, expected: str) -> None:
    path = _thresholds(tmp_path, _suite("vqa", entry, REPO / "golden" / "vqa"))
    with pytest.raises(ConfigError) as info:
        prepare(path)
    assert expected in str(info.value)


def test_a_dual_encoder_cannot_serve_ocr(tmp_path: Path) -> None:
    path = _thresholds(tmp_path, _suite("words", {"cer": {"max": 0.5}, "wer": {"max": 0.5}}, REPO / "golden" / "words"))
    with pytest.raises(AdapterError) as info:
        score(prepare(path))
    assert str(info.value) == (
        f"model.checkpoint: '{GOOD}' (adapter open_clip) loads as an image-text dual encoder, which cannot serve "
        "cer, wer: cer, wer need an image-to-text model. Gate such metrics in a thresholds file whose model can "
        "do them")


def test_cli_refuses_a_prompt_that_cannot_be_filled_in(tmp_path: Path) -> None:
    path = _thresholds(tmp_path, _suite("vqa", {"vqa_accuracy": {"prompt": "a {answer!x}", "min": 0.0}},
                                        REPO / "golden" / "vqa"))
    done = subprocess.run([sys.executable, "-m", "qa_gate.cli", "run", "--thresholds", str(path)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 4, done.stderr
    assert "suites.vqa.metrics.vqa_accuracy.prompt: 'a {answer!x}' cannot be filled in with text" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout


def test_choices_that_no_human_answer_matches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    path = _vqa_with(tmp_path, 3, choices=["square", "magenta"])
    answers = load_suite(tmp_path / "golden" / "vqa").samples[3].answers
    assert answers is not None and not {"square", "magenta"} & set(answers)
    with pytest.raises(GoldenError) as info:
        prepare(path)
    assert str(info.value) == (
        f"golden/vqa: sample 'red-circle-003': has choices ['square', 'magenta'] but no choice matches any human "
        f"answer {list(dict.fromkeys(answers))} (normalisation 'official'), so every choice scores 0; expected at "
        "least one choice that matches a human answer, which metric 'vqa_accuracy' (suites.vqa.metrics) needs")


def test_choices_are_matched_with_the_configured_normalisation(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    answers = ["two", "two", "two", "two", "two", "two", "two", "two", "two", "three"]
    prepare(_vqa_with(tmp_path, 0, answers=answers, choices=["2", "Four"]))  # official: "two" and "2" match
    with pytest.raises(GoldenError, match=r"sample 'red-circle-000': has choices \['2', 'Four'\] but no choice"):
        prepare(_vqa_thresholds(tmp_path, normalisation="official-2016"))  # the human "two" stays "two"


def test_cli_reports_bad_golden_data_without_a_traceback(tmp_path: Path) -> None:
    path = _vqa_with(tmp_path, 5, answers=["red"] * 11)
    done = subprocess.run([sys.executable, "-m", "qa_gate.cli", "run", "--thresholds", str(path)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 4, done.stderr
    assert "has 11 human answers; expected exactly 10" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert not (tmp_path / "baseline.json").exists()
