"""The checkpoint's ``generation_config`` enters the definition: captions decoded differently never compare."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
import yaml
from support.project import write_thresholds
from support.tiny_models import build_tiny_trocr

from qa_gate.adapters.hf.captioner import effective_generation_config, load_transformers_captioner
from qa_gate.config.model import ModelConfig
from qa_gate.golden.suite import write_hashes
from qa_gate.pipeline import prepare, score

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two tiny TrOCR checkpoints, identical but for ``no_repeat_ngram_size: 2`` in the second's generation_config."""
    root = tmp_path_factory.mktemp("generation")
    plain = build_tiny_trocr(root / "plain")
    ngram = root / "ngram"
    shutil.copytree(plain, ngram)
    config = json.loads((ngram / "generation_config.json").read_text(encoding="utf-8"))
    (ngram / "generation_config.json").write_text(json.dumps({**config, "no_repeat_ngram_size": 2}),
                                                  encoding="utf-8")
    return plain, ngram


def test_settings_hold_the_effective_generation_config(checkpoints: tuple[Path, Path]) -> None:
    plain, ngram = checkpoints
    options = {"max_new_tokens": 5}
    reader, _ = load_transformers_captioner(ModelConfig("transformers", str(ngram), options=options),
                                            torch.device("cpu"))
    effective = reader.settings["generation_config"]
    assert effective["no_repeat_ngram_size"] == 2
    # The adapter's overrides win over the checkpoint's and are part of it; no library version in it.
    assert (effective["do_sample"], effective["num_beams"], effective["max_new_tokens"]) == (False, 1, 5)
    assert effective["decoder_start_token_id"] == 1 and "transformers_version" not in effective
    assert {k: reader.settings[k] for k in ("do_sample", "num_beams", "max_new_tokens")} == {
        "do_sample": False, "num_beams": 1, "max_new_tokens": 5}
    assert json.loads(json.dumps(effective)) == effective  # plain JSON data
    other, _ = load_transformers_captioner(ModelConfig("transformers", str(plain), options=options),
                                           torch.device("cpu"))
    assert "no_repeat_ngram_size" not in other.settings["generation_config"]
    # Whatever the overrides name is recorded with their value, over the checkpoint's.
    beams = effective_generation_config(other.model, {**options, "do_sample": False, "num_beams": 3})
    assert beams == {**other.settings["generation_config"], "num_beams": 3}


def _project(root: Path, checkpoint: Path) -> Path:
    """Two samples of the demo words suite gated on ``cer`` with ``checkpoint``."""
    target = root / "golden" / "words"
    if not target.exists():
        shutil.copytree(REPO / "golden" / "words", target)
        data = yaml.safe_load((target / "manifest.yaml").read_text(encoding="utf-8"))
        data["samples"] = data["samples"][:2]
        (target / "manifest.yaml").write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        for image in (target / "images").iterdir():
            if f"images/{image.name}" not in {s["image"] for s in data["samples"]}:
                image.unlink()
        write_hashes(target)
    model = {"adapter": "transformers", "checkpoint": str(checkpoint), "device": "cpu",
             "options": {"max_new_tokens": 6}}
    return write_thresholds(root, model=model, suites={"words": {"metrics": {"cer": {"max": 100.0}}}},
                            baseline={"path": "baseline.json"})


def test_a_different_generation_config_gives_a_different_fingerprint(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, checkpoints: tuple[Path, Path]) -> None:
    monkeypatch.chdir(tmp_path)
    plain, ngram = checkpoints
    first = score(prepare(_project(tmp_path, plain))).suites[0].metrics["cer"]
    second = score(prepare(_project(tmp_path, ngram))).suites[0].metrics["cer"]
    assert second.definition["generation"]["generation_config"]["no_repeat_ngram_size"] == 2
    assert "no_repeat_ngram_size" not in first.definition["generation"]["generation_config"]
    assert first.fingerprint != second.fingerprint
    again = score(prepare(_project(tmp_path, plain))).suites[0].metrics["cer"]
    assert again.fingerprint == first.fingerprint  # stable for one checkpoint
