"""The captioning family end to end: a tiny image-to-text model generates, pycocoevalcap scores.

The checkpoint is a randomly initialised ``VisionEncoderDecoderModel`` (ViT encoder, GPT-2
decoder) with a WordLevel tokenizer, built from configs and saved offline; the special
tokens' embedding rows are zeroed (tied to the output layer) so greedy decoding emits words.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from gate_project import write_tiny_suite

pytest.importorskip("pycocoevalcap")
JAVA = shutil.which("java") is not None
pytestmark = pytest.mark.skipif(not JAVA, reason="the PTB tokenizer of the captioning metrics needs Java")

WORDS = "a an the square that is red green blue colour of photo small big on white black shape".split()
MAX_NEW_TOKENS = 7
THRESHOLDS = """\
version: 1
model:
  adapter: transformers
  checkpoint: ckpt
  batch_size: 4
  options: {{max_new_tokens: {tokens}}}
baseline:
  path: baselines/baseline.json
suites:
  tiny:
    path: golden/tiny
    metrics:
      bleu4: {{min: 0.0}}
      cider: {{min: 0.0}}
      rouge_l: {{min: 0.0}}
"""
METEOR = "      meteor: {min: 0.0}\n"


@pytest.fixture(scope="module")
def captioner_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny ViT + GPT-2 ``VisionEncoderDecoderModel``, ``ViTImageProcessor`` and tokenizer folder."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import (
        GPT2Config,
        PreTrainedTokenizerFast,
        VisionEncoderDecoderConfig,
        VisionEncoderDecoderModel,
        ViTConfig,
        ViTImageProcessor,
    )

    vocab = {t: i for i, t in enumerate(["[PAD]", "[BOS]", "[EOS]", "[UNK]", *WORDS])}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, bos_token="[BOS]", eos_token="[EOS]",
                                        pad_token="[PAD]", unk_token="[UNK]")
    special = {"bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 0}
    encoder = ViTConfig(image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=1,
                        num_attention_heads=2, intermediate_size=37)
    decoder = GPT2Config(vocab_size=len(vocab), n_positions=64, n_embd=32, n_layer=1, n_head=2,
                         is_decoder=True, add_cross_attention=True, **special)
    config = VisionEncoderDecoderConfig.from_encoder_decoder_configs(encoder, decoder)
    config.decoder_start_token_id, config.pad_token_id, config.eos_token_id = 1, 0, 2
    torch.manual_seed(0)
    model = VisionEncoderDecoderModel(config=config).eval()
    for key, value in (("decoder_start_token_id", 1), ("pad_token_id", 0), ("eos_token_id", 2)):
        setattr(model.generation_config, key, value)
    with torch.no_grad():  # tied to the output layer: words, not special tokens, win greedily
        model.decoder.transformer.wte.weight[:4] = 0.0
        model.decoder.transformer.wte.weight[4:] *= 5.0
    folder = tmp_path_factory.mktemp("captioner") / "ckpt"
    model.save_pretrained(folder)
    ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def _project(root: Path, checkpoint: Path, meteor: bool = False) -> Path:
    shutil.copytree(checkpoint, root / "ckpt")
    write_tiny_suite(root / "golden" / "tiny")
    text = THRESHOLDS.format(tokens=MAX_NEW_TOKENS) + (METEOR if meteor else "")
    (root / "thresholds.yaml").write_text(text)
    return root / "thresholds.yaml"


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
        assert metric.definition["generation"] == {"do_sample": False, "num_beams": 1,
                                                   "max_new_tokens": MAX_NEW_TOKENS}, name
        twin = again.suite("tiny").metrics[name]
        assert (metric.value, metric.fingerprint, metric.per_sample) == (twin.value, twin.fingerprint, twin.per_sample)
    assert [s.output for s in run.suite("tiny").samples] == [s.output for s in again.suite("tiny").samples]


def test_the_generated_caption_survives_the_baseline_json(scored) -> None:
    from qa_gate.baseline.store import run_from_json, run_to_json

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

    thresholds = _project(tmp_path, captioner_dir)
    thresholds.write_text(thresholds.read_text().replace("adapter: transformers", "adapter: open_clip"))
    with pytest.raises(AdapterError, match="cannot serve bleu4, cider, rouge_l: bleu4, cider, rouge_l need an "
                                           "image-to-text model"):
        score(prepare(thresholds))


def test_a_sample_row_shows_caption_and_output() -> None:
    from qa_gate.results import SampleInfo
    from qa_gate.verdict.diffs import shown_text

    assert shown_text(SampleInfo("a", "a red square", {}, "red red")) == "a red square → red red"
    assert shown_text(SampleInfo("a", "a red square")) == "a red square"


SCORED = """\
version: 1
model:
  adapter: transformers
  checkpoint: ckpt
  batch_size: 4
  options: {{max_new_tokens: {tokens}}}
scorer:
  adapter: open_clip
  checkpoint: {scorer}
suites:
  tiny:
    path: golden/tiny
    metrics:
      clipscore: {{caption: generated, min: 0.0}}
      refclipscore: {{caption: generated, min: 0.0}}
      cosine: {{caption: generated, min: -1.0}}
      bleu1: {{min: 0.0}}
"""
GOLDEN = """\
version: 1
model:
  adapter: open_clip
  checkpoint: {scorer}
  batch_size: 4
suites:
  tiny:
    path: golden/written
    metrics:
      clipscore: {{min: 0.0}}
      refclipscore: {{min: 0.0}}
      cosine: {{min: -1.0}}
"""


def test_generated_captions_scored_by_a_fixed_clip_equal_scoring_them_as_golden(
        tmp_path: Path, captioner_dir: Path, tiny_open_clip: Path) -> None:
    """``caption: generated`` with a scorer gives what the scorer gives on a suite whose golden
    captions are the generated ones (the old golden caption joining the references)."""
    import yaml

    from qa_gate.files import checkpoint_sha256
    from qa_gate.golden.suite import write_hashes
    from qa_gate.pipeline import prepare, score

    thresholds = _project(tmp_path, captioner_dir)
    thresholds.write_text(SCORED.format(tokens=MAX_NEW_TOKENS, scorer=tiny_open_clip))
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
    (tmp_path / "golden.yaml").write_text(GOLDEN.format(scorer=tiny_open_clip))
    golden = score(prepare(tmp_path / "golden.yaml"))

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

    thresholds = _project(tmp_path, captioner_dir)
    text = SCORED.format(tokens=MAX_NEW_TOKENS, scorer="x")
    thresholds.write_text(text.replace("scorer:\n  adapter: open_clip\n  checkpoint: x\n", ""))
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
    ("scorer: {adapter: open_clip, checkpoint: x, device: cuda}",
     "scorer.device: the scorer runs with the model's device; set it in the 'model' section"),
    ("scorer: {adapter: open_clip, checkpont: x}", "scorer.checkpont: unknown key 'checkpont' (did you mean 'checkpoint'?)"),
])
def test_a_bad_scorer_section_names_its_key(tmp_path: Path, section: str, expected: str) -> None:
    from qa_gate.config.load import load_config
    from qa_gate.errors import ConfigError

    path = tmp_path / "thresholds.yaml"
    path.write_text(SCORED.format(tokens=3, scorer="x").replace("scorer:\n  adapter: open_clip\n  checkpoint: x\n",
                                                               section + "\n"))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert expected in str(info.value)


def test_a_scorer_that_is_not_a_dual_encoder_is_refused(tmp_path: Path, captioner_dir: Path) -> None:
    """A generator as the scorer would load as a bare encoder with random projections: refused by kind."""
    from qa_gate.errors import AdapterError
    from qa_gate.pipeline import prepare, score

    thresholds = _project(tmp_path, captioner_dir)
    thresholds.write_text(SCORED.format(tokens=MAX_NEW_TOKENS, scorer="ckpt").replace(
        "scorer:\n  adapter: open_clip", "scorer:\n  adapter: transformers"))
    with pytest.raises(AdapterError, match=r"^scorer\.checkpoint: '[^']*ckpt' is an image-to-text \(generative\) model; "
                                           r"a scorer must be an image-text dual encoder"):
        score(prepare(thresholds))


def test_scorer_ids_keep_whole_names_for_checkpoints_off_disk() -> None:
    from qa_gate.adapters.load import scorer_id
    from qa_gate.results import CheckpointInfo

    one = scorer_id(CheckpointInfo("transformers", "openai/clip-vit-base-patch32", "unhashed:openai/clip-vit-base-patch32",
                                   "transformers:CLIPModel"))
    two = scorer_id(CheckpointInfo("transformers", "openai/clip-vit-large-patch14",
                                   "unhashed:openai/clip-vit-large-patch14", "transformers:CLIPModel"))
    assert one != two and one.endswith("unhashed:openai/clip-vit-base-patch32")
    assert scorer_id(CheckpointInfo("open_clip", "d", "ab" * 32, "open_clip:x")) == "open_clip:x@sha256:" + "ab" * 8
