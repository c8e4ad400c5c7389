"""The VQA adapter against ``generate`` itself, on a tiny BLIP VQA and a tiny decoder-only GIT."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from PIL import Image
from support.tiny_models import (
    WORDS,
    build_tiny_blip_vqa,
    build_tiny_git,
    build_tiny_multilabel_classifier,
)

from qa_gate.adapters.hf.answerer import load_transformers_answerer
from qa_gate.adapters.protocols import VisualQuestionAnswerer
from qa_gate.config.model import ModelConfig
from qa_gate.errors import AdapterError

CPU = torch.device("cpu")
# token lengths 6, 4 and 10 (with [CLS] and [SEP]): a padded batch
QUESTIONS = ["what colour is the square", "how many", "is there a red circle in the image"]
SAME_LENGTH = ["what colour is the square", "what shape is the circle", "how many squares are there"]


def _config(checkpoint: Path | str, **fields: object) -> ModelConfig:
    return ModelConfig(adapter="transformers", checkpoint=str(checkpoint), device="cpu", **fields)


@pytest.fixture(scope="module")
def blip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_blip_vqa(tmp_path_factory.mktemp("blip") / "ckpt")


@pytest.fixture(scope="module")
def answerer(blip: Path):
    return load_transformers_answerer(_config(blip), CPU)


def _direct(folder: Path, images: list[Image.Image], prompts: list[str], max_new_tokens: int = 10,
            strip_prompt: bool = False) -> list[str]:
    """Answers from the model class and processor themselves, for one batch (padded if need be)."""
    from transformers import (
        AutoModelForVisualQuestionAnswering,
        AutoProcessor,
        GitForCausalLM,
    )

    cls = GitForCausalLM if strip_prompt else AutoModelForVisualQuestionAnswering
    model, processor = cls.from_pretrained(folder).eval(), AutoProcessor.from_pretrained(folder)
    inputs = processor(images=images, text=prompts, padding=True, return_tensors="pt")
    inputs.pop("token_type_ids", None)
    with torch.inference_mode():
        ids = model.generate(**inputs, do_sample=False, num_beams=1, max_new_tokens=max_new_tokens)
    if strip_prompt:
        assert torch.equal(ids[:, :inputs["input_ids"].shape[1]], inputs["input_ids"])
        ids = ids[:, inputs["input_ids"].shape[1]:]
    return [t.strip() for t in processor.batch_decode(ids, skip_special_tokens=True)]


def test_answers_equal_generate_and_decode(answerer, blip: Path, images) -> None:
    model, name = answerer
    with torch.inference_mode():
        got = model.answer(images, SAME_LENGTH)
    assert got == _direct(blip, images, SAME_LENGTH)
    assert isinstance(model, VisualQuestionAnswerer)
    assert name == "transformers:BlipForQuestionAnswering"
    assert type(model.model).__name__ == "BlipForQuestionAnswering"


def test_three_questions_get_three_answers_each_as_if_asked_alone(answerer, blip: Path, images) -> None:
    model, _ = answerer
    with torch.inference_mode():
        got = model.answer(images, QUESTIONS)
    alone = [_direct(blip, [image], [question])[0] for image, question in zip(images, QUESTIONS)]
    assert got == alone  # a padded batch would change the short questions' answers
    assert len(got) == 3 and len(set(got)) == 3
    assert all(answer and set(answer.split()) <= set(WORDS) for answer in got)


def test_the_image_and_the_question_both_change_the_answer(answerer, images) -> None:
    model, _ = answerer
    with torch.inference_mode():
        by_image = model.answer(images, [QUESTIONS[0]] * 3)
        by_question = model.answer([images[0]] * 3, QUESTIONS)
    assert len(set(by_image)) > 1 and len(set(by_question)) > 1


def test_settings_record_greedy_decoding_and_the_prompt(answerer) -> None:
    model, _ = answerer
    assert model.settings == {"do_sample": False, "num_beams": 1, "max_new_tokens": 10, "prompt": "{question}",
                              "generation_config": model.settings["generation_config"]}
    assert model.settings["generation_config"]["max_new_tokens"] == 10


def test_question_prompt_and_max_new_tokens_are_applied(blip: Path, images) -> None:
    options = {"question_prompt": "is there {question}", "max_new_tokens": 3}
    model, _ = load_transformers_answerer(_config(blip, options=options), CPU)
    with torch.inference_mode():
        got = model.answer(images, SAME_LENGTH)
        plain = load_transformers_answerer(_config(blip), CPU)[0].answer(images, SAME_LENGTH)
    assert got == _direct(blip, images, [f"is there {q}" for q in SAME_LENGTH], max_new_tokens=3)
    assert all(len(answer.split()) <= 3 for answer in got)
    assert got != [" ".join(answer.split()[:3]) for answer in plain]
    assert model.settings == {"do_sample": False, "num_beams": 1, "max_new_tokens": 3,
                              "prompt": "is there {question}", "generation_config": model.settings["generation_config"]}


@pytest.mark.parametrize(("options", "key", "shown"), [
    ({"question_prompt": "Answer briefly."}, "question_prompt", "'Answer briefly.'"),
    ({"question_prompt": "Q: {question} {answer}"}, "question_prompt", "'Q: {question} {answer}'"),
    ({"question_prompt": 3}, "question_prompt", "got 3"),
    ({"max_new_tokens": 0}, "max_new_tokens", "got 0"),
])
def test_bad_options_are_refused_before_loading(tmp_path: Path, options, key: str, shown: str) -> None:
    with pytest.raises(AdapterError, match=rf"^model\.options\.{key}: expected ") as info:
        load_transformers_answerer(_config(tmp_path / "not-there", options=options), CPU)
    assert shown in str(info.value)
    if key == "question_prompt":
        assert "'{question}'" in str(info.value)


def test_more_questions_than_images_is_an_error_and_none_is_no_answer(answerer, images) -> None:
    with pytest.raises(AdapterError, match="3 images and 2 questions"):
        answerer[0].answer(images, QUESTIONS[:2])
    assert answerer[0].answer([], []) == []


def test_pickle_only_checkpoint_is_refused_unless_allowed(blip: Path, tmp_path: Path, images) -> None:
    from safetensors.torch import load_file

    folder = tmp_path / "pickled"
    shutil.copytree(blip, folder)
    torch.save(load_file(folder / "model.safetensors"), folder / "pytorch_model.bin")
    (folder / "model.safetensors").unlink()
    with pytest.raises(AdapterError, match=r"^model\.checkpoint: ") as info:
        load_transformers_answerer(_config(folder), CPU)
    assert f"'{folder}'" in str(info.value) and "allow_pickle" in str(info.value)
    model, _ = load_transformers_answerer(_config(folder, allow_pickle=True), CPU)
    with torch.inference_mode():
        assert model.answer(images, SAME_LENGTH) == _direct(blip, images, SAME_LENGTH)


def test_a_checkpoint_missing_weights_is_refused(blip: Path, tmp_path: Path) -> None:
    from safetensors.torch import load_file, save_file

    folder = tmp_path / "partial"
    shutil.copytree(blip, folder)
    weights = load_file(folder / "model.safetensors")
    save_file({k: v for k, v in weights.items() if not k.startswith("text_encoder.")},
              str(folder / "model.safetensors"), metadata={"format": "pt"})
    with pytest.raises(AdapterError, match=r"^model\.checkpoint: .* loads as BlipForQuestionAnswering, but "
                                           r"\d+ of its weights are not in the checkpoint") as info:
        load_transformers_answerer(_config(folder), CPU)
    assert "text_encoder." in str(info.value) and "random" in str(info.value)


def test_a_model_that_cannot_generate_is_refused(tmp_path: Path) -> None:
    folder = build_tiny_multilabel_classifier(tmp_path / "classifier", ["a", "b"])
    with pytest.raises(AdapterError, match=r"^model\.checkpoint: .* loads as ViTForImageClassification, "
                                           r"which cannot generate answers"):
        load_transformers_answerer(_config(folder), CPU)


def test_no_checkpoint_is_an_adapter_error(tmp_path: Path) -> None:
    with pytest.raises(AdapterError, match=r"^model\.checkpoint: .*could not read a config\.json"):
        load_transformers_answerer(_config(tmp_path), CPU)


def test_a_decoder_only_model_answers_without_its_prompt(tmp_path: Path, images) -> None:
    """GIT's ``generate`` returns the prompt, then the answer: only the answer is kept."""
    folder = build_tiny_git(tmp_path / "git")
    model, name = load_transformers_answerer(_config(folder), CPU)
    with torch.inference_mode():
        got = model.answer(images, QUESTIONS)
    assert name == "transformers:GitForCausalLM"
    assert got == [_direct(folder, [image], [q], strip_prompt=True)[0] for image, q in zip(images, QUESTIONS)]
    assert all(answer and not answer.startswith(q) for answer, q in zip(got, QUESTIONS))
    assert model.model.config.is_encoder_decoder is False
