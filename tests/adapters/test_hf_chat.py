"""Chat VLMs through their chat templates, on tiny LLaVA, Qwen2-VL and Idefics3 checkpoints, loaded by the
real dispatcher and checked against ``generate`` on each sample alone."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import torch
from support.tiny_chat_models import (
    BUILDERS,
    LLAVA_TEMPLATE,
    build_tiny_llava,
    generate_alone,
)

from qa_gate.adapters.hf.answerer import TransformersAnswerer
from qa_gate.adapters.hf.chat import ANSWER_INSTRUCTION, CAPTION_PROMPT, load_chat, reference_answer
from qa_gate.adapters.hf.chat_template import is_chat_vlm
from qa_gate.adapters.hf.config import transformers_kind
from qa_gate.adapters.load import LoadedModel, load_model
from qa_gate.adapters.protocols import ANSWERER, CAPTIONER, Demand, ImageCaptioner, VisualQuestionAnswerer
from qa_gate.config.model import ModelConfig
from qa_gate.errors import AdapterError

CPU = torch.device("cpu")
TOKENS = 6
# 5, 2 and 8 words: prompts of different token lengths, so the batch is left-padded
QUESTIONS = ["what colour is the square", "how many", "is there a red circle in the image"]
BOTH = [Demand(("vqa_accuracy",), (ANSWERER,), "a VQA model"), Demand(("bleu4",), (CAPTIONER,), "a captioner")]


def _config(checkpoint: Path | str, **options: object) -> ModelConfig:
    return ModelConfig(adapter="transformers", checkpoint=str(checkpoint), device="cpu",
                       options={"max_new_tokens": TOKENS, **options})


def _load(checkpoint: Path, **options: object) -> LoadedModel:
    return load_model(_config(checkpoint, **options), CPU, BOTH)


@pytest.fixture(scope="module", params=sorted(BUILDERS))
def chat(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, LoadedModel]:
    """Each tiny chat VLM, saved and loaded as captioner and answerer."""
    folder = BUILDERS[request.param](tmp_path_factory.mktemp(request.param) / "ckpt")
    return folder, _load(folder)


@pytest.fixture(scope="module")
def llava(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_llava(tmp_path_factory.mktemp("llava") / "ckpt")


def test_batched_answers_equal_generate_on_each_sample_alone(chat, images) -> None:
    folder, loaded = chat
    assert isinstance(loaded.answerer, VisualQuestionAnswerer)
    with torch.inference_mode():
        got = loaded.answerer.answer(images, QUESTIONS)
        mask = loaded.answerer.chat.inputs(images, QUESTIONS)["attention_mask"]
    alone = [generate_alone(folder, image, f"{q}\n{ANSWER_INSTRUCTION}", TOKENS) for image, q in zip(images, QUESTIONS)]
    assert got == alone
    assert len(set(mask.sum(dim=1).tolist())) == 3 and bool(mask[:, -1].all())  # padded, on the left
    assert all(answer for answer in got) and len(set(got)) > 1


def test_batched_captions_equal_generate_on_each_image_alone(chat, images) -> None:
    folder, loaded = chat
    assert isinstance(loaded.captioner, ImageCaptioner)
    assert loaded.captioner.chat is loaded.answerer.chat  # one model in memory
    with torch.inference_mode():
        got = loaded.captioner.generate(images)
    assert got == [generate_alone(folder, image, CAPTION_PROMPT, TOKENS) for image in images]
    assert all(caption for caption in got)
    assert loaded.checkpoint.model_name == f"transformers:{type(loaded.answerer.chat.model).__name__}"


def test_the_kind_is_read_from_the_config_alone(chat) -> None:
    folder, _ = chat
    assert transformers_kind(str(folder)) == "chat"


def test_only_processors_built_for_chat_templates_make_a_chat_vlm() -> None:
    import transformers

    chat = [transformers.LlavaConfig(), transformers.Qwen2VLConfig(), transformers.Idefics3Config(),
            transformers.PaliGemmaConfig(), transformers.Gemma3Config()]
    plain = [transformers.BlipConfig(), transformers.GitConfig(), transformers.Blip2Config(), transformers.CLIPConfig()]
    assert [is_chat_vlm(transformers, c) for c in chat] == [True] * len(chat)
    assert [is_chat_vlm(transformers, c) for c in plain] == [False] * len(plain)


def test_the_prompt_is_the_checkpoint_template_around_image_and_text(llava: Path, images) -> None:
    loaded = _load(llava, system_prompt="you are a helpful assistant .")
    chat = loaded.answerer.chat
    messages = chat.conversation(images[0], f"how many\n{ANSWER_INSTRUCTION}")
    text = chat.processor.apply_chat_template(messages, chat_template=chat.template, add_generation_prompt=True)
    assert text == ("you are a helpful assistant . USER: <image>\nhow many\n"
                    "Answer the question using a single word or phrase. ASSISTANT:")
    with torch.inference_mode():
        got = loaded.answerer.answer(images, QUESTIONS)
    system = "you are a helpful assistant ."
    assert got == [generate_alone(llava, image, f"{q}\n{ANSWER_INSTRUCTION}", TOKENS, system)
                   for image, q in zip(images, QUESTIONS)]


def test_settings_record_template_prompts_decoding_and_padding(llava: Path) -> None:
    loaded = _load(llava, system_prompt="look .", answer_instruction="", caption_prompt="describe the image .")
    digest = hashlib.sha256((llava / "chat_template.jinja").read_bytes()).hexdigest()
    shared = {"do_sample": False, "num_beams": 1, "max_new_tokens": TOKENS, "chat_template_sha256": digest,
              "system_prompt": "look .", "padding_side": "left", "postprocess": "strip, first line"}
    answers, captions = dict(loaded.answerer.settings), dict(loaded.captioner.settings)
    assert answers.pop("generation_config")["max_new_tokens"] == TOKENS
    assert captions.pop("generation_config")["do_sample"] is False
    assert answers == {**shared, "prompt": "{question}", "answer_instruction": ""}
    assert captions == {**shared, "prompt": "describe the image ."}


def test_default_prompts_and_token_budgets(tmp_path: Path, llava: Path) -> None:
    loaded = load_model(ModelConfig(adapter="transformers", checkpoint=str(llava), device="cpu"), CPU, BOTH)
    assert loaded.answerer.settings["prompt"] == "{question}\nAnswer the question using a single word or phrase."
    assert loaded.answerer.settings["system_prompt"] is None
    assert loaded.answerer.settings["max_new_tokens"] == 16
    assert loaded.captioner.settings["prompt"] == "Describe the image in one sentence."
    assert loaded.captioner.settings["max_new_tokens"] == 30


def test_another_template_is_another_definition(llava: Path, tmp_path: Path) -> None:
    other = build_tiny_llava(tmp_path / "other", LLAVA_TEMPLATE.replace("ASSISTANT:", "ASSISTANT :"))
    first, second = _load(llava).answerer.settings, _load(other).answerer.settings
    assert first["chat_template_sha256"] != second["chat_template_sha256"]
    assert second["chat_template_sha256"] == hashlib.sha256(
        (other / "chat_template.jinja").read_bytes()).hexdigest()
    assert {k: v for k, v in first.items() if k != "chat_template_sha256"} == \
        {k: v for k, v in second.items() if k != "chat_template_sha256"}


def test_a_checkpoint_without_a_chat_template_is_refused(tmp_path: Path) -> None:
    folder = build_tiny_llava(tmp_path / "plain", template=None)
    assert not (folder / "chat_template.jinja").exists()
    with pytest.raises(AdapterError, match=r"^model\.checkpoint: .* has no chat template") as info:
        _load(folder)
    message = str(info.value)
    assert f"'{folder}'" in message and "model.options.question_prompt" in message and "\n" not in message


def test_question_prompt_takes_the_hand_written_path(tmp_path: Path, images) -> None:
    folder = build_tiny_llava(tmp_path / "plain", template=None)
    prompt = "USER: <image>\n{question} ASSISTANT:"
    loaded = load_model(_config(folder, question_prompt=prompt), CPU, BOTH[:1])
    assert type(loaded.answerer) is TransformersAnswerer
    with torch.inference_mode():
        got = loaded.answerer.answer(images, QUESTIONS)
    assert len(got) == 3 and all(got)


def test_question_prompt_answers_only_and_refuses_captions_before_loading(tmp_path: Path) -> None:
    # the plain captioner would call generate with no prompt at all (it crashed inside transformers)
    folder = build_tiny_llava(tmp_path / "plain", template=None)
    with pytest.raises(AdapterError) as info:
        load_model(_config(folder, question_prompt="USER: <image>\n{question} ASSISTANT:"), CPU, BOTH)
    message = str(info.value)
    assert "prompted by model.options.question_prompt (answers only" in message and "bleu4" in message
    assert "\n" not in message


@pytest.mark.parametrize(("options", "key", "shown"), [
    ({"caption_prompt": ""}, "caption_prompt", "''"),
    ({"system_prompt": 3}, "system_prompt", "3"),
    ({"answer_instruction": None}, "answer_instruction", "None"),
    ({"max_new_tokens": 0}, "max_new_tokens", "0"),
])
def test_bad_options_are_refused_before_loading(tmp_path: Path, options: dict, key: str, shown: str) -> None:
    with pytest.raises(AdapterError, match=rf"^model\.options\.{key}: expected .*got {shown}$"):
        load_chat(ModelConfig(adapter="transformers", checkpoint=str(tmp_path / "absent"), device="cpu",
                              options=options), CPU, (ANSWERER,))


def test_more_questions_than_images_is_an_error_and_none_is_no_answer(chat, images) -> None:
    _, loaded = chat
    with pytest.raises(AdapterError, match="3 images and 2 questions"):
        loaded.answerer.answer(images, QUESTIONS[:2])
    assert loaded.answerer.answer([], []) == [] and loaded.captioner.generate([]) == []


@pytest.mark.parametrize(("text", "kept"), [
    ("  red \n blue", "red"), ("\n\nyes.\nno", "yes."), ("a red square", "a red square"), ("", ""), (" \n ", ""),
])
def test_generations_are_stripped_and_cut_at_the_first_line(text: str, kept: str) -> None:
    assert reference_answer(text) == kept
