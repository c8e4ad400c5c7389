"""The captioning family end to end: a tiny image-to-text model generates, pycocoevalcap scores.

The checkpoint (``captioner_dir``, built by ``support.tiny_models.build_tiny_vit_gpt2_captioner``)
is a randomly initialised ``VisionEncoderDecoderModel`` (ViT encoder, GPT-2 decoder) with a
WordLevel tokenizer, built from configs and saved offline; the special tokens' embedding rows
are zeroed (tied to the output layer) so greedy decoding emits words.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from support.project import write_thresholds, write_tiny_suite
from support.tiny_models import CAPTIONER_WORDS as WORDS

pytest.importorskip("pycocoevalcap")
JAVA = shutil.which("java") is not None
pytestmark = pytest.mark.skipif(not JAVA, reason="the PTB tokenizer of the captioning metrics needs Java")

MAX_NEW_TOKENS = 7
BASELINE = {"path": "baselines/baseline.json"}


def _model(adapter: str = "transformers", tokens: int = MAX_NEW_TOKENS) -> dict:
    """The ``model`` section: the tiny captioner copied to ``ckpt``, greedy with ``tokens`` new tokens."""
    return {"adapter": adapter, "checkpoint": "ckpt", "batch_size": 4, "options": {"max_new_tokens": tokens}}


def _tiny(metrics: dict, path: str = "golden/tiny") -> dict:
    """The ``suites`` section: suite ``tiny`` at ``path`` gated on ``metrics``."""
    return {"tiny": {"path": path, "metrics": metrics}}


def _project(root: Path, checkpoint: Path, meteor: bool = False, adapter: str = "transformers") -> Path:
    shutil.copytree(checkpoint, root / "ckpt")
    write_tiny_suite(root / "golden" / "tiny")
    metrics = {"bleu4": {"min": 0.0}, "cider": {"min": 0.0}, "rouge_l": {"min": 0.0}}
    if meteor:
        metrics["meteor"] = {"min": 0.0}
    return write_thresholds(root, model=_model(adapter), suites=_tiny(metrics), baseline=BASELINE)


@pytest.fixture(scope="module")
def scored(tmp_path_factory: pytest.TempPathFactory, captioner_dir: Path):
    from qa_gate.pipeline import prepare, score

    thresholds = _project(tmp_path_factory.mktemp("project"), captioner_dir, meteor=True)
    prepared = prepare(thresholds)
    return prepared, score(prepared), score(prepared)


def _direct_captions(folder: Path, prepared) -> list[str]:
    import torch
    from transformers import AutoTokenizer, VisionEncoderDecoderModel, ViTImageProcessor

    from qa_gate.golden.suite import open_image

    model = VisionEncoderDecoderModel.from_pretrained(folder).eval()
    processor, tokenizer = ViTImageProcessor.from_pretrained(folder), AutoTokenizer.from_pretrained(folder)
    images = [open_image(s) for s in prepared.suites[0].samples]
    with torch.inference_mode():
        ids = model.generate(pixel_values=processor(images=images, return_tensors="pt")["pixel_values"],
                             do_sample=False, num_beams=1, max_new_tokens=MAX_NEW_TOKENS)
    return [t.strip() for t in tokenizer.batch_decode(ids, skip_special_tokens=True)]


def test_generated_captions_are_what_generate_gives(scored, tmp_path_factory, captioner_dir: Path) -> None:
    prepared, run, again = scored
    outputs = [s.output for s in run.suite("tiny").samples]
    assert outputs == _direct_captions(captioner_dir, prepared)
    assert all(o and o.split()[0] in WORDS for o in outputs)
    assert run.checkpoint.model_name == "transformers:VisionEncoderDecoderModel"


def _coco_tokenized(prepared, suite) -> tuple[dict, dict]:
    """pycocoevalcap's own PTB tokenisation of the references (plus the golden caption) and the outputs."""
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    samples = prepared.suites[0].samples
    outputs = {s.id: s.output for s in suite.samples}
    gts = PTBTokenizer().tokenize({s.id: [{"caption": r} for r in (*s.references, s.caption)] for s in samples})
    res = PTBTokenizer().tokenize({s.id: [{"caption": outputs[s.id]}] for s in samples})
    return gts, res


def _assert_bleu_cider_rouge_equal_pycocoevalcap(suite, gts: dict, res: dict) -> None:
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.rouge.rouge import Rouge

    assert suite.metrics["bleu4"].value == pytest.approx(Bleu(4).compute_score(gts, res, verbose=0)[0][3], abs=1e-12)
    assert suite.metrics["cider"].value == pytest.approx(Cider().compute_score(gts, res)[0], abs=1e-12)
    assert suite.metrics["rouge_l"].value == pytest.approx(Rouge().compute_score(gts, res)[0], abs=1e-12)


def test_metrics_equal_pycocoevalcap(scored) -> None:
    from pycocoevalcap.meteor.meteor import Meteor

    prepared, run, _ = scored
    suite = run.suite("tiny")
    gts, res = _coco_tokenized(prepared, suite)
    _assert_bleu_cider_rouge_equal_pycocoevalcap(suite, gts, res)
    coco = Meteor()
    try:
        assert suite.metrics["meteor"].value == pytest.approx(coco.compute_score(gts, res)[0], abs=1e-6)
    finally:
        coco.close() if hasattr(coco, "close") else None
    assert suite.metrics["cider"].value > 0


def test_definition_records_decoding_and_runs_repeat(scored) -> None:
    _, run, again = scored
    for name, metric in run.suite("tiny").metrics.items():
        generation = dict(metric.definition["generation"])
        effective = generation.pop("generation_config")
        assert generation == {"do_sample": False, "num_beams": 1, "max_new_tokens": MAX_NEW_TOKENS}, name
        assert effective["max_new_tokens"] == MAX_NEW_TOKENS and effective.get("do_sample", False) is False, name
        twin = again.suite("tiny").metrics[name]
        assert (metric.value, metric.fingerprint, metric.per_sample) == (twin.value, twin.fingerprint, twin.per_sample)
    assert [s.output for s in run.suite("tiny").samples] == [s.output for s in again.suite("tiny").samples]


def test_the_generated_caption_survives_the_baseline_json(scored) -> None:
    from qa_gate.baseline.run_json import run_from_json, run_to_json

    _, run, _ = scored
    back = run_from_json(json.loads(json.dumps(run_to_json(run))), "test")
    assert [s.output for s in back.suite("tiny").samples] == [s.output for s in run.suite("tiny").samples]


def test_the_plugin_gates_a_captioner(pytester: pytest.Pytester, captioner_dir: Path) -> None:
    _project(pytester.path, captioner_dir)
    result = pytester.runpytest_subprocess("--mm-gate", "-p", "no:cacheprovider", "-v")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["*tiny*bleu4*PASSED*"])


def test_caption_metrics_on_a_dual_encoder_adapter_are_refused(tmp_path: Path, captioner_dir: Path) -> None:
    from qa_gate.errors import AdapterError
    from qa_gate.pipeline import prepare, score

    thresholds = _project(tmp_path, captioner_dir, adapter="open_clip")
    with pytest.raises(AdapterError, match="cannot serve bleu4, cider, rouge_l: bleu4, cider, rouge_l need an "
                                           "image-to-text model"):
        score(prepare(thresholds))


def test_a_sample_row_shows_caption_and_output() -> None:
    from qa_gate.results import SampleInfo
    from qa_gate.verdict.diffs import shown_text

    assert shown_text(SampleInfo("a", "a red square", {}, "red red")) == "a red square → red red"
    assert shown_text(SampleInfo("a", "a red square")) == "a red square"


GENERATED = {"clipscore": {"caption": "generated", "min": 0.0}, "refclipscore": {"caption": "generated", "min": 0.0},
             "cosine": {"caption": "generated", "min": -1.0}, "bleu1": {"min": 0.0}}


def _scored(root: Path, scorer: dict | None, tokens: int = MAX_NEW_TOKENS) -> Path:
    """``root/thresholds.yaml`` gating the captions the model writes, scored by ``scorer`` (``None``: no section)."""
    return write_thresholds(root, model=_model(tokens=tokens), suites=_tiny(GENERATED), scorer=scorer)


def test_generated_captions_scored_by_a_fixed_clip_equal_scoring_them_as_golden(
        tmp_path: Path, captioner_dir: Path, tiny_open_clip: Path) -> None:
    """``caption: generated`` with a scorer gives what the scorer gives on a suite whose golden
    captions are the generated ones (the old golden caption joining the references)."""
    import yaml

    from qa_gate.files import checkpoint_sha256
    from qa_gate.golden.suite import write_hashes
    from qa_gate.pipeline import prepare, score

    thresholds = _project(tmp_path, captioner_dir)
    _scored(tmp_path, {"adapter": "open_clip", "checkpoint": tiny_open_clip})
    run = score(prepare(thresholds))
    generated = {s.id: s.output for s in run.suite("tiny").samples}

    written = tmp_path / "golden" / "written"
    shutil.copytree(tmp_path / "golden" / "tiny", written)
    data = yaml.safe_load((written / "manifest.yaml").read_text())
    for sample in data["samples"]:
        sample["references"] = [*sample["references"], sample["caption"]]
        sample["caption"] = generated[sample["id"]]
    (written / "manifest.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    write_hashes(written)
    golden_thresholds = write_thresholds(
        tmp_path, model={"adapter": "open_clip", "checkpoint": tiny_open_clip, "batch_size": 4},
        suites=_tiny({"clipscore": {"min": 0.0}, "refclipscore": {"min": 0.0}, "cosine": {"min": -1.0}},
                     "golden/written"), name="golden.yaml")
    golden = score(prepare(golden_thresholds))

    for name in ("clipscore", "refclipscore", "cosine"):
        ours, theirs = run.suite("tiny").metrics[name], golden.suite("tiny").metrics[name]
        assert ours.per_sample == pytest.approx(theirs.per_sample, abs=1e-12), name
        assert ours.definition["caption"] == "generated" and "generation" in ours.definition
        assert ours.definition["scorer"] == f"open_clip:local-dir:{tiny_open_clip.name}@sha256:" \
                                            f"{checkpoint_sha256(str(tiny_open_clip))[:16]}"
    assert len(set(generated.values())) > 1


def test_generated_captions_without_a_scorer_are_refused(tmp_path: Path, captioner_dir: Path) -> None:
    from qa_gate.config.load import load_config
    from qa_gate.errors import ConfigError

    _project(tmp_path, captioner_dir)
    thresholds = _scored(tmp_path, None)
    with pytest.raises(ConfigError, match=r"suites\.tiny\.metrics\.clipscore\.caption: 'generated' scores the "
                                          r"captions the model writes with a fixed dual encoder, but the file has no "
                                          r"'scorer' section"):
        load_config(thresholds)


def test_references_are_ptb_tokenised_like_pycocoevalcap(tmp_path: Path, captioner_dir: Path) -> None:
    """Capitals and punctuation in the references: our scores still equal pycocoevalcap's on the
    PTB-tokenised text (a gate that skipped tokenisation would score 'RED!' as a different word)."""
    import yaml

    from qa_gate.golden.suite import write_hashes
    from qa_gate.pipeline import prepare, score

    thresholds = _project(tmp_path, captioner_dir)
    suite_dir = tmp_path / "golden" / "tiny"
    data = yaml.safe_load((suite_dir / "manifest.yaml").read_text())
    for sample in data["samples"]:
        colour = sample["tags"]["colour"]
        sample["references"] = [f"A {colour.upper()} square, that is {colour}!", f"The square: {colour.title()}."]
    (suite_dir / "manifest.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    write_hashes(suite_dir)
    prepared = prepare(thresholds)
    suite = score(prepared).suite("tiny")
    _assert_bleu_cider_rouge_equal_pycocoevalcap(suite, *_coco_tokenized(prepared, suite))
    assert suite.metrics["rouge_l"].value > 0


@pytest.mark.parametrize(("section", "expected"), [
    ({"adapter": "open_clip", "checkpoint": "x", "device": "cuda"},
     "scorer.device: the scorer runs with the model's device; set it in the 'model' section"),
    ({"adapter": "open_clip", "checkpont": "x"},
     "scorer.checkpont: unknown key 'checkpont' (did you mean 'checkpoint'?)"),
])
def test_a_bad_scorer_section_names_its_key(tmp_path: Path, section: dict, expected: str) -> None:
    from qa_gate.config.load import load_config
    from qa_gate.errors import ConfigError

    path = _scored(tmp_path, section, tokens=3)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert expected in str(info.value)


def test_a_scorer_that_is_not_a_dual_encoder_is_refused(tmp_path: Path, captioner_dir: Path) -> None:
    """A generator as the scorer would load as a bare encoder with random projections: refused by kind."""
    from qa_gate.errors import AdapterError
    from qa_gate.pipeline import prepare, score

    thresholds = _project(tmp_path, captioner_dir)
    _scored(tmp_path, {"adapter": "transformers", "checkpoint": "ckpt"})
    with pytest.raises(AdapterError, match=r"^scorer\.checkpoint: '[^']*ckpt' is an image-to-text \(generative\) "
                                           r"model; a scorer must be an image-text dual encoder"):
        score(prepare(thresholds))


def test_scorer_ids_keep_whole_names_for_checkpoints_off_disk() -> None:
    from qa_gate.adapters.load import scorer_id
    from qa_gate.results import CheckpointInfo

    one = scorer_id(CheckpointInfo("transformers", "openai/clip-vit-base-patch32",
                                   "unhashed:openai/clip-vit-base-patch32", "transformers:CLIPModel"))
    two = scorer_id(CheckpointInfo("transformers", "openai/clip-vit-large-patch14",
                                   "unhashed:openai/clip-vit-large-patch14", "transformers:CLIPModel"))
    assert one != two and one.endswith("unhashed:openai/clip-vit-base-patch32")
    assert scorer_id(CheckpointInfo("open_clip", "d", "ab" * 32, "open_clip:x")) == "open_clip:x@sha256:" + "ab" * 8
