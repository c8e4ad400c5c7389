"""The one dispatcher: which capabilities a checkpoint is loaded as, and what it refuses."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from support.tiny_models import build_tiny_blip_vqa

from qa_gate.adapters.load import choose, load_encoder, load_model
from qa_gate.adapters.protocols import ANSWERER, CAPTIONER, CLASSIFIER, ENCODER, Demand
from qa_gate.config.model import ModelConfig
from qa_gate.errors import AdapterError

CPU = torch.device("cpu")
ANY = (ENCODER, CAPTIONER, ANSWERER, CLASSIFIER)
# the family table's rows as the loader sees them (qa_gate.scoring.families)
ACCEPTS: dict[str, tuple[tuple[str, ...], str]] = {
    "alignment": ((ENCODER,), "a dual encoder"),
    "retrieval": ((ENCODER,), "a dual encoder"),
    "zeroshot": ((ENCODER,), "a dual encoder"),
    "efficiency": (ANY, "any model"),
    "caption": ((CAPTIONER,), "an image-to-text model"),
    "ocr": ((CAPTIONER,), "an image-to-text model"),
    "scored_caption": ((CAPTIONER,), "an image-to-text model (caption: generated)"),
    "vqa": ((ANSWERER, ENCODER), "a VQA model or a dual encoder"),
    "multilabel": ((CLASSIFIER, ENCODER), "a multilabel classifier or a dual encoder"),
}
METRIC = {"alignment": ("cosine",), "retrieval": ("i2t_r1", "t2i_r1"), "zeroshot": ("zeroshot_top1",),
          "efficiency": ("latency_p50_ms",), "caption": ("cider", "bleu4"), "ocr": ("cer",),
          "scored_caption": ("clipscore",), "vqa": ("vqa_accuracy",), "multilabel": ("f1_micro",)}
DUAL_ENCODER, GENERATOR, CLASSIFIER_ONLY = (ENCODER,), (CAPTIONER, ANSWERER), (CLASSIFIER,)


def _demands(*families: str) -> tuple[Demand, ...]:
    return tuple(Demand(METRIC[f], *ACCEPTS[f]) for f in families)


@pytest.mark.parametrize(("serves", "families", "chosen"), [
    (DUAL_ENCODER, ("alignment", "vqa", "multilabel", "efficiency"), (ENCODER,)),
    (GENERATOR, ("efficiency",), (CAPTIONER,)),  # efficiency alone times generation
    (GENERATOR, ("vqa", "efficiency"), (ANSWERER,)),
    (GENERATOR, ("efficiency", "vqa", "caption"), (CAPTIONER, ANSWERER)),
    (GENERATOR, ("ocr", "scored_caption"), (CAPTIONER,)),
    (CLASSIFIER_ONLY, ("multilabel", "efficiency"), (CLASSIFIER,)),
    ((ENCODER, CAPTIONER), ("vqa", "multilabel"), (ENCODER,)),
    ((ENCODER, CAPTIONER), ("efficiency", "caption", "vqa"), (CAPTIONER, ENCODER)),
    ((CAPTIONER, ANSWERER, CLASSIFIER), ("efficiency", "multilabel"), (CLASSIFIER,)),
])
def test_each_demand_takes_what_is_already_chosen_else_what_is_served(
        serves: tuple[str, ...], families: tuple[str, ...], chosen: tuple[str, ...]) -> None:
    assert choose(_demands(*families), serves) == (chosen, ())


@pytest.mark.parametrize(("serves", "families", "refused"), [
    (DUAL_ENCODER, ("caption", "alignment", "ocr"), ("caption", "ocr")),
    (GENERATOR, ("alignment", "multilabel", "vqa"), ("alignment", "multilabel")),
    (CLASSIFIER_ONLY, ("vqa", "zeroshot", "efficiency", "multilabel"), ("zeroshot", "vqa")),
])
def test_demands_none_of_whose_capabilities_is_served_are_refused(
        serves: tuple[str, ...], families: tuple[str, ...], refused: tuple[str, ...]) -> None:
    assert choose(_demands(*families), serves)[1] == _demands(*refused)


CAPTIONER_SOURCE = '''
import torch


class Captioner:
    settings = {"max_new_tokens": 3}

    def generate(self, images):
        return ["a shape" for _ in images]


class CaptioningEncoder(Captioner):
    def encode_images(self, images):
        return torch.ones(len(images), 2)

    def encode_texts(self, texts):
        return torch.ones(len(texts), 2)


def captioner(model_config, device):
    return Captioner()


def both(model_config, device):
    return CaptioningEncoder()
'''


def _user(module: str, attr: str) -> ModelConfig:
    return ModelConfig(adapter=f"{module}:{attr}", checkpoint="mine", device="cpu")


def test_a_user_object_is_every_capability_it_implements(user_module: Callable[[str], str]) -> None:
    module = user_module(CAPTIONER_SOURCE)

    loaded = load_model(_user(module, "both"), CPU, _demands("caption"))

    assert loaded.encoder is loaded.captioner is not None
    assert type(loaded.encoder).__name__ == "CaptioningEncoder"
    assert (loaded.answerer, loaded.classifier) == (None, None)
    assert loaded.checkpoint.model_name == f"custom:{module}:both"


def test_every_refused_demand_is_named_in_one_error(user_module: Callable[[str], str]) -> None:
    module = user_module(CAPTIONER_SOURCE)

    with pytest.raises(AdapterError) as info:
        load_model(_user(module, "captioner"), CPU, _demands("caption", "vqa", "retrieval", "alignment", "multilabel"))

    assert str(info.value) == (
        f"model.checkpoint: 'mine' (adapter {module}:captioner) loads as Captioner (a user adapter object), which "
        "cannot serve cosine, f1_micro, i2t_r1, t2i_r1, vqa_accuracy: cosine need a dual encoder; f1_micro need a "
        "multilabel classifier or a dual encoder; i2t_r1, t2i_r1 need a dual encoder; vqa_accuracy need a VQA model "
        "or a dual encoder. Gate such metrics in a thresholds file whose model can do them")


def test_a_user_object_that_is_no_encoder_is_refused_as_one(user_module: Callable[[str], str]) -> None:
    module = user_module(CAPTIONER_SOURCE)
    with pytest.raises(AdapterError, match=r"^model\.checkpoint: 'mine' is Captioner \(a user adapter object\); "
                                           r"expected an image-text dual encoder"):
        load_encoder(_user(module, "captioner"), CPU)


def test_an_unknown_built_in_adapter_suggests_one() -> None:
    with pytest.raises(AdapterError) as info:
        load_model(ModelConfig(adapter="openclip", checkpoint="x"), CPU, _demands("alignment"))
    assert str(info.value) == ("model.adapter: unknown adapter 'openclip' (did you mean 'open_clip'?); "
                               "known adapters: open_clip, predictions, transformers")


def test_open_clip_refuses_before_loading(tmp_path: Path) -> None:
    """The checkpoint does not exist: the refusal comes first, from the adapter name alone."""
    model = ModelConfig(adapter="open_clip", checkpoint=str(tmp_path / "none.pt"), model_name="ViT-B-32")
    with pytest.raises(AdapterError, match=r"loads as an image-text dual encoder, which cannot serve cer: "
                                           r"cer need an image-to-text model\."):
        load_model(model, CPU, _demands("ocr", "alignment"))


def test_transformers_refuses_from_config_json_before_weights(tmp_path: Path) -> None:
    folder = tmp_path / "config_only"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"architectures": ["BlipForQuestionAnswering"],
                                                    "model_type": "blip"}), encoding="utf-8")
    model = ModelConfig(adapter="transformers", checkpoint=str(folder))
    with pytest.raises(AdapterError, match=r"loads as an image-to-text \(generative\) model, which cannot serve "
                                           r"zeroshot_top1: zeroshot_top1 need a dual encoder\."):
        load_model(model, CPU, _demands("vqa", "zeroshot"))


@pytest.fixture(scope="module")
def blip_vqa(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_blip_vqa(tmp_path_factory.mktemp("blip") / "vqa")


def test_a_generator_for_vqa_and_efficiency_loads_only_the_answerer(blip_vqa: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from qa_gate.adapters.hf import captioner

    def refuse(*args: object) -> None:
        raise AssertionError("the captioner was loaded")

    monkeypatch.setattr(captioner, "load_transformers_captioner", refuse)
    loaded = load_model(ModelConfig(adapter="transformers", checkpoint=str(blip_vqa)), CPU,
                        _demands("efficiency", "vqa"))
    assert loaded.answerer is not None
    assert (loaded.encoder, loaded.captioner, loaded.classifier) == (None, None, None)
    assert loaded.checkpoint.model_name == "transformers:BlipForQuestionAnswering"


def test_a_generator_that_captions_and_answers_is_one_model(blip_vqa: Path) -> None:
    loaded = load_model(ModelConfig(adapter="transformers", checkpoint=str(blip_vqa)), CPU,
                        _demands("vqa", "caption"))
    assert loaded.captioner is not None and loaded.answerer is not None
    assert loaded.answerer.model is loaded.captioner.model  # type: ignore[attr-defined]
    assert loaded.checkpoint.model_name == "transformers:BlipForQuestionAnswering"


def test_every_transformers_kind_is_described_and_serves_something() -> None:
    from qa_gate.adapters.hf.backend import DESCRIPTIONS, PROMPTED, SERVES
    from qa_gate.adapters.hf.config import KINDS

    kinds = {*KINDS, PROMPTED}  # PROMPTED: a chat VLM given model.options.question_prompt
    assert set(SERVES) == set(DESCRIPTIONS) == kinds
    assert all(SERVES[kind] and set(SERVES[kind]) <= set(ANY) for kind in kinds)


def test_without_demands_a_checkpoint_loads_as_the_first_thing_it_serves(blip_vqa: Path) -> None:
    loaded = load_model(ModelConfig(adapter="transformers", checkpoint=str(blip_vqa)), CPU, ())
    assert loaded.captioner is not None and loaded.answerer is None
