"""Hand-written predictions files through the gate: numbers by hand and by the reference libraries,
refusals before scoring (fields, efficiency, coverage), identity of the file, and nothing written on an error."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from support.predictions import demo_suite, write_jsonl
from support.project import COLOURS, write_thresholds, write_tiny_suite

from qa_gate.errors import AdapterError
from qa_gate.pipeline import prepare, score

MODEL = {"adapter": "predictions", "checkpoint": "preds.jsonl", "options": {"model_id": "vlm@vllm-test"}}
IDS = [f"{c}-{i}" for c in COLOURS for i in range(2)]
IMAGE = {"red": [1.0, 0.2, 0.0], "green": [0.1, 1.0, 0.3], "blue": [0.0, -0.4, 1.0]}
TEXT = {"red": [0.9, 0.1, 0.1], "green": [0.2, 0.8, -0.1], "blue": [-0.3, 0.2, 0.7]}


def _rows(drop: str | None = None) -> list[dict]:
    rows: list[dict] = []
    for sample in IDS:
        colour, index = sample.split("-")
        image = [v + 0.05 * int(index) for v in IMAGE[colour]]
        rows.append({"id": sample, "image_embedding": image, "text_embedding": TEXT[colour]})
    for colour, vector in TEXT.items():
        if colour != drop:
            rows.append({"input_text": f"A photo depicts a {colour} square", "text_embedding": [-v for v in vector]})
    return rows


def _project(root: Path, metrics: dict, rows: list[dict] | None = None) -> Path:
    write_tiny_suite(root / "golden" / "tiny")
    write_jsonl(root / "preds.jsonl", _rows() if rows is None else rows)
    return write_thresholds(root, model=MODEL, suites={"tiny": {"path": "golden/tiny", "metrics": metrics}},
                            baseline={"path": "baseline.json"})


def _unit(v: list[float]) -> np.ndarray:
    a = np.asarray(v, dtype=np.float64)
    return a / np.linalg.norm(a)


def test_clipscore_and_cosine_equal_a_hand_computation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    thresholds = _project(tmp_path, {"clipscore": {"min": 0.0}, "cosine": {"min": -1.0}})
    run = score(prepare(thresholds))
    images = [_unit([v + 0.05 * int(s[-1]) for v in IMAGE[s.split("-")[0]]]) for s in IDS]
    cosine = [float(i @ _unit(TEXT[s.split("-")[0]])) for i, s in zip(images, IDS)]
    clip = [2.5 * max(float(i @ _unit([-v for v in TEXT[s.split("-")[0]]])), 0.0) for i, s in zip(images, IDS)]
    metrics = run.suites[0].metrics
    assert metrics["cosine"].per_sample == pytest.approx(cosine, abs=1e-6)
    assert metrics["clipscore"].per_sample == pytest.approx(clip, abs=1e-6)
    assert metrics["clipscore"].value == pytest.approx(np.mean(clip), abs=1e-6)
    assert run.checkpoint.adapter == "predictions" and run.checkpoint.model_name == "vlm@vllm-test"


def test_a_metric_the_file_cannot_serve_names_the_missing_fields(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    rows = [{"id": i, "caption": "a square", "answer": "red", "captoin": "x"} for i in IDS]
    thresholds = _project(tmp_path, {"clipscore": {"min": 0.0}}, rows)
    with pytest.raises(AdapterError, match=r"^clipscore needs fields image_embedding and text_embedding in "
                                           r"preds\.jsonl, which has caption, answer \(and keys it ignores: captoin "
                                           r"\(did you mean 'caption'\?\)\)$"):
        score(prepare(thresholds))


def test_efficiency_metrics_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    thresholds = _project(tmp_path, {"cosine": {"min": -1.0}, "latency_p50_ms": {"max": 100.0}})
    with pytest.raises(AdapterError, match=r"^latency_p50_ms time the model's calls, but preds\.jsonl holds outputs "
                                           r"made elsewhere \(nothing was timed here\)"):
        score(prepare(thresholds))


def test_model_id_is_required(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    thresholds = _project(tmp_path, {"cosine": {"min": -1.0}})
    write_thresholds(tmp_path, model={**MODEL, "options": {}}, suites={"tiny": {"metrics": {"cosine": {}}}})
    with pytest.raises(AdapterError, match=r"^model\.options\.model_id: adapter predictions needs the id of the "
                                           r"model that wrote .*preds\.jsonl"):
        score(prepare(thresholds))
    write_thresholds(tmp_path, model={**MODEL, "options": {"model": "x"}}, suites={"tiny": {"metrics": {"cosine": {}}}})
    with pytest.raises(AdapterError, match=r"^model\.options\.model: not an option of adapter predictions "
                                           r"\(did you mean 'model_id'\?\)"):
        score(prepare(thresholds))


def test_a_text_not_in_the_file_names_the_text_and_the_family(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    thresholds = _project(tmp_path, {"clipscore": {"min": 0.0}}, _rows(drop="blue"))
    with pytest.raises(AdapterError, match=r"^preds\.jsonl: no text_embedding for 1 text\(s\) the alignment metrics "
                                           r"of suite 'tiny' embed \('A photo depicts a blue square'\); expected a "
                                           r"text row for each, e\.g\. \{\"input_text\": \"A photo depicts a blue "
                                           r"square\""):
        score(prepare(thresholds))


@pytest.mark.parametrize(("change", "expected"), [
    (lambda rows: rows[1:], r"1 of the 6 samples of suite 'tiny' have no row \('red-0'\)"),
    (lambda rows: [*rows, {"id": "purple-0", "image_embedding": [1.0, 0, 0]}],
     r"1 row id\(s\) are no sample of suite 'tiny' \('purple-0', first on line 10\)"),
    (lambda rows: [*rows, rows[2]], r"1 id\(s\) appear more than once \('green-0' on line 3 and line 10\)"),
    (lambda rows: [{**rows[0], "id": "Red-0 "}, *rows[1:]],
     r"have no row \('red-0'\); 1 row id\(s\) are no sample .*\(did you mean 'red-0' for 'Red-0 '\? ids must match "
     r"the manifest's exactly"),
    (lambda rows: [{**r, "suite": "other"} if "id" in r else r for r in rows],
     r"6 row\(s\) name suite\(s\) 'other' \(first on line 1\), which the thresholds file does not gate"),
])
def test_coverage_errors_stop_the_run_before_scoring(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     change: object, expected: str) -> None:
    monkeypatch.chdir(tmp_path)
    thresholds = _project(tmp_path, {"cosine": {"min": -1.0}}, change(_rows()))  # type: ignore[operator]
    with pytest.raises(AdapterError, match=r"^preds\.jsonl: .*" + expected):
        score(prepare(thresholds))


def test_nothing_is_written_on_a_bad_file_through_the_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    from qa_gate.cli import main

    monkeypatch.chdir(tmp_path)
    _project(tmp_path, {"cosine": {"min": -1.0}}, _rows()[1:])
    assert main(["baseline", "update", "--report", "report.md"]) == 4
    assert "preds.jsonl: 1 of the 6 samples of suite 'tiny' have no row ('red-0')" in capsys.readouterr().err
    assert not (tmp_path / "baseline.json").exists()
    write_jsonl(tmp_path / "preds.jsonl", ["{broken"])
    assert main(["baseline", "update"]) == 4
    assert "preds.jsonl: line 1: not valid JSON" in capsys.readouterr().err
    assert not (tmp_path / "baseline.json").exists()
    write_jsonl(tmp_path / "preds.jsonl", _rows())
    assert main(["baseline", "update"]) == 0  # the same project with a good file does record one
    assert (tmp_path / "baseline.json").exists()


def test_two_files_are_two_checkpoints_and_never_cached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    from qa_gate.cli import main

    monkeypatch.chdir(tmp_path)
    _project(tmp_path, {"cosine": {"min": -1.0, "max_drop": 0.5}})
    assert main(["baseline", "update"]) == 0
    first = score(prepare(tmp_path / "thresholds.yaml")).checkpoint.sha256
    rows = _rows()
    rows[0]["image_embedding"] = [0.5, 0.5, 0.0]
    write_jsonl(tmp_path / "preds.jsonl", rows)
    assert main(["run", "--report", "report.md"]) == 0
    second = score(prepare(tmp_path / "thresholds.yaml")).checkpoint.sha256
    assert first != second
    report = (tmp_path / "report.md").read_text()
    assert f"sha256 `{second}`" in report and f"checkpoint sha256 `{first}`" in report  # the baseline's, apart
    outputs = Path(os.environ["XDG_CACHE_HOME"]) / "qa_gate" / "outputs"
    assert not outputs.exists() or not any(outputs.iterdir())  # the output cache never holds a file's outputs


def test_vqa_answers_score_as_the_official_formula(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from qa_gate.golden.suite import load_suite
    from qa_gate.metrics.vqa import vqa_accuracy

    monkeypatch.chdir(tmp_path)
    suite = load_suite(demo_suite(tmp_path, "vqa", keep=6))
    answers = ["Red", "blue", "circle.", "no", "red ", "square"]
    write_jsonl(tmp_path / "preds.jsonl", [{"id": s.id, "answer": a} for s, a in zip(suite.samples, answers)])
    thresholds = write_thresholds(tmp_path, model=MODEL, suites={"vqa": {"metrics": {"vqa_accuracy": {"min": 0.0}}}})
    result = score(prepare(thresholds)).suites[0]
    expected = [vqa_accuracy(a, s.answers) for a, s in zip(answers, suite.samples)]
    assert result.metrics["vqa_accuracy"].per_sample == pytest.approx(expected, abs=1e-12)
    assert 0 < np.mean(expected) < 1
    assert [s.output for s in result.samples] == answers


def test_predicted_labels_score_as_scikit_learn(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sklearn.metrics import f1_score

    from qa_gate.golden.suite import load_suite

    monkeypatch.chdir(tmp_path)
    suite = load_suite(demo_suite(tmp_path, "multilabel", keep=6))
    predicted = [list(s.labels or ())[:1] + (["purple"] if i % 2 else []) for i, s in enumerate(suite.samples)]
    write_jsonl(tmp_path / "preds.jsonl", [{"id": s.id, "labels": p} for s, p in zip(suite.samples, predicted)])
    metrics = {"f1_micro": {"min": 0.0}, "f1_macro": {"min": 0.0}}
    thresholds = write_thresholds(tmp_path, model=MODEL, suites={"multilabel": {"metrics": metrics}})
    result = score(prepare(thresholds)).suites[0]
    truth = np.array([[int(x in (s.labels or ())) for x in suite.labels] for s in suite.samples])
    guess = np.array([[int(x in p) for x in suite.labels] for p in predicted])
    for average in ("micro", "macro"):
        assert result.metrics[f"f1_{average}"].value == pytest.approx(
            f1_score(truth, guess, average=average, zero_division=0), abs=1e-12)
    write_jsonl(tmp_path / "preds.jsonl", [{"id": s.id, "labels": ["Red"]} for s in suite.samples])
    with pytest.raises(AdapterError, match=r"line 1 \(sample '.*'\): labels name 'Red', which is not in the label "
                                           r"set of suite 'multilabel' \(did you mean 'red'\?\)"):
        score(prepare(thresholds))


def test_ocr_text_from_csv_scores_as_jiwer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import jiwer

    from qa_gate.golden.suite import load_suite

    monkeypatch.chdir(tmp_path)
    suite = load_suite(demo_suite(tmp_path, "words", keep=5))
    guesses = [(s.text or "")[:-1] + "x" for s in suite.samples]
    (tmp_path / "preds.csv").write_text("id,text\n" + "".join(f'"{s.id}",{g}\n' for s, g in zip(suite.samples,
                                                                                               guesses)))
    thresholds = write_thresholds(tmp_path, model={**MODEL, "checkpoint": "preds.csv"},
                                  suites={"words": {"metrics": {"cer": {"max": 100.0}}}})
    result = score(prepare(thresholds)).suites[0]
    references = [s.text or "" for s in suite.samples]
    assert result.metrics["cer"].value == pytest.approx(jiwer.cer(references, guesses), abs=1e-12)


def test_predict_never_overwrites_an_input(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    from support.predictions import DEMO_GOOD

    from qa_gate.cli import main

    monkeypatch.chdir(tmp_path)
    write_tiny_suite(tmp_path / "golden" / "tiny")
    write_thresholds(tmp_path, model={"adapter": "open_clip", "checkpoint": str(DEMO_GOOD)},
                     suites={"tiny": {"metrics": {"cosine": {"min": -1.0}}}})
    for target, what in (("thresholds.yaml", "the thresholds file"), ("golden/tiny/p.jsonl", "golden suite 'tiny'")):
        assert main(["predict", "--out", target]) == 4
        error = capsys.readouterr().err
        assert "refused: the predictions file would overwrite an input of this run: it " in error and what in error
    assert main(["predict", "--out", "preds.txt"]) == 4
    assert "must end in .jsonl, .csv or .parquet" in capsys.readouterr().err


def test_a_file_without_suite_column_serves_every_suite_by_id(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    _project(tmp_path, {"cosine": {"min": -1.0}})
    suites = {name: {"path": "golden/tiny", "metrics": {"cosine": {"min": -1.0}}} for name in ("one", "two")}
    thresholds = write_thresholds(tmp_path, model=MODEL, suites=suites)
    run = score(prepare(thresholds))
    assert run.suites[0].metrics["cosine"].per_sample == run.suites[1].metrics["cosine"].per_sample
    write_jsonl(tmp_path / "preds.jsonl", [*_rows(), {"id": "stray", "image_embedding": [1.0, 0.0, 0.0]}])
    with pytest.raises(AdapterError, match=r"1 row id\(s\) are no sample of any gated suite \('stray', first on "
                                           r"line 10\)"):
        score(prepare(thresholds))


def test_perturbed_images_cannot_be_looked_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    write_tiny_suite(tmp_path / "golden" / "tiny")
    write_jsonl(tmp_path / "preds.jsonl", _rows())
    suites = {"tiny": {"metrics": {"cosine": {"min": -1.0}}, "perturbations": {"jpeg_q30": {"jpeg": 30}}}}
    thresholds = write_thresholds(tmp_path, model=MODEL, suites=suites)
    with pytest.raises(AdapterError, match=r"serves the outputs of the suite's own images; image encoding of "
                                           r"perturbed images of suite 'tiny' cannot be looked up"):
        score(prepare(thresholds))


def test_no_output_overwrites_a_sidecar_of_the_predictions_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    from qa_gate.cli import main

    monkeypatch.chdir(tmp_path)
    _project(tmp_path, {"cosine": {"min": -1.0}})
    for option, side in (("--report", "preds.jsonl.settings.json"), ("--verdict", "preds.jsonl.image_embedding.npy")):
        assert main(["run", option, side]) == 4
        error = capsys.readouterr().err
        assert f"would overwrite an input of this run: it is a sidecar of the predictions file ({tmp_path / side})" \
            in error
        assert not (tmp_path / side).exists()
