"""Chat vision-language models (LLaVA, Qwen2-VL, Idefics3 / SmolVLM, Gemma 3, ...) prompted through their chat template.

Each sample is one user turn holding the image, then the text, after an optional system turn
(``model.options.system_prompt``); ``processor.apply_chat_template(..., add_generation_prompt=True)``
renders and tokenizes it with the checkpoint's own template (:mod:`.chat_template`). The text is

- for a caption: ``model.options.caption_prompt`` (default ``"Describe the image in one sentence."``);
- for an answer: the question, a newline and ``model.options.answer_instruction`` (default ``"Answer
  the question using a single word or phrase."``), the short-answer response-format prompt of the
  LLaVA-1.5 evaluation (Liu et al. 2023, "Improved Baselines with Visual Instruction Tuning"), which
  lmms-eval appends the same way (``lmms_eval/tasks/vqav2/_default_template_vqav2_yaml``,
  ``post_prompt: "\\nAnswer the question using a single word or phrase."``). ``""`` sends the question alone.

A batch is one ``generate`` call, padded on the LEFT with an attention mask, so every prompt ends
where generation starts and no answer depends on the other samples of its batch (the tests check
each answer against ``generate`` on the sample alone). Decoding is greedy (``do_sample=False``,
``num_beams=1``, ``max_new_tokens`` from ``model.options``: default 16 for answers, as lmms-eval's
VQAv2 task, and 30 for captions, as the other captioners). Only the new tokens are decoded
(``skip_special_tokens=True``); the text is stripped, as LLaVA's ``llava/eval/model_vqa_loader.py``
(``eval_model``: ``batch_decode(output_ids, skip_special_tokens=True)[0].strip()``), and cut at its first
newline, as lmms-eval's ``generate_until`` cuts at a stop string (``ans.split(term)[0]``,
``lmms_eval/models/qwen2_vl.py``) with ``"\\n"`` as the stop string.

``settings`` records the template's sha256, the system prompt, the prompt, every decoding setting,
the padding side and the post-processing, and the effective ``generation_config``: a different
template gives a different metric definition.

There is no ``prepare_image`` (``PreparesImages``): these processors turn the image into a number of
placeholder tokens that depends on the processed image (Qwen2-VL's ``image_grid_thw``, Idefics3's
tiles) and batch pixel values across the batch's images (Idefics3 pads them to the largest), so an
image cannot be prepared apart from its prompt and batch.
"""

from __future__ import annotations

import inspect
from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from qa_gate.adapters.hf.captioner import decoding_settings, effective_generation_config
from qa_gate.adapters.hf.chat_template import chat_template, template_sha256
from qa_gate.adapters.hf.config import architecture_class, load_complete, read_config
from qa_gate.adapters.hf.dual_encoder import refuse_pickle_only
from qa_gate.adapters.protocols import ANSWERER, CAPTIONER, Built
from qa_gate.config.model import ModelConfig
from qa_gate.errors import AdapterError, first_line
from qa_gate.registry import import_backend

if TYPE_CHECKING:
    import torch
    from PIL.Image import Image

CAPTION_PROMPT = "Describe the image in one sentence."
ANSWER_INSTRUCTION = "Answer the question using a single word or phrase."
ANSWER_TOKENS = 16
CAPTION_TOKENS = 30
PADDING_SIDE = "left"
POSTPROCESS = "strip, first line"
_AUTO_CLASSES = ("AutoModelForImageTextToText",)


def reference_answer(text: str) -> str:
    """A decoded generation as the reference evaluations keep it: stripped, up to its first newline."""
    return text.strip().split("\n", 1)[0].strip()


def _text_option(options: Mapping[str, Any], key: str, default: str | None, empty: bool) -> str | None:
    value = options.get(key, default)
    if value is None and default is None:
        return None
    if not isinstance(value, str) or (not empty and not value.strip()):
        expected = "a string" if empty else "a non-empty string"
        raise AdapterError(f"model.options.{key}: expected {expected}, got {value!r}")
    return value


def chat_settings(options: Mapping[str, Any], template: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The captioner's and the answerer's settings from ``model.options``, validated, for ``template``."""
    system = _text_option(options, "system_prompt", None, empty=False)
    caption = _text_option(options, "caption_prompt", CAPTION_PROMPT, empty=False)
    instruction = _text_option(options, "answer_instruction", ANSWER_INSTRUCTION, empty=True)
    shared = {"chat_template_sha256": template_sha256(template), "system_prompt": system,
              "padding_side": PADDING_SIDE, "postprocess": POSTPROCESS}
    captions = {**decoding_settings({"max_new_tokens": options.get("max_new_tokens", CAPTION_TOKENS)}),
                "prompt": caption, **shared}
    answers = {**decoding_settings({"max_new_tokens": options.get("max_new_tokens", ANSWER_TOKENS)}),
               "prompt": "{question}" + (f"\n{instruction}" if instruction else ""),
               "answer_instruction": instruction, **shared}
    return captions, answers


class ChatModel:
    """One chat VLM in memory with its processor and template, shared by its captioner and answerer."""

    def __init__(self, model: Any, processor: Any, template: str, device: torch.device,
                 system_prompt: str | None) -> None:
        self.model, self.processor, self.template, self.device = model, processor, template, device
        self.system_prompt = system_prompt
        self._strips_prompt = not getattr(model.config, "is_encoder_decoder", False)
        self._drops = set() if "token_type_ids" in inspect.signature(model.forward).parameters \
            else {"token_type_ids"}

    def conversation(self, image: Any, text: str) -> list[dict[str, Any]]:
        """The messages of one sample: the system turn (if any), then a user turn with the image and ``text``."""
        user = {"role": "user", "content": [{"type": "image", "image": image}, {"type": "text", "text": text}]}
        if self.system_prompt is None:
            return [user]
        return [{"role": "system", "content": [{"type": "text", "text": self.system_prompt}]}, user]

    def inputs(self, images: Sequence[Any], texts: Sequence[str]) -> Any:
        """The batch's model inputs: each conversation through the template, tokenized, padded on the left."""
        conversations = [self.conversation(image, text) for image, text in zip(images, texts)]
        return self.processor.apply_chat_template(
            conversations, chat_template=self.template, add_generation_prompt=True, tokenize=True,
            return_dict=True, return_tensors="pt", processor_kwargs={"padding": True})

    def generate(self, images: Sequence[Any], texts: Sequence[str], decoding: Mapping[str, Any]) -> list[str]:
        """One post-processed generation per (image, text), from one batched greedy ``generate``."""
        if not texts:
            return []
        inputs = self.inputs(images, texts).to(self.device)
        ids = self.model.generate(**{k: v for k, v in inputs.items() if k not in self._drops}, **decoding)
        if self._strips_prompt:  # a decoder-only model returns the (left-padded) prompt, then the new tokens
            ids = ids[:, inputs["input_ids"].shape[1]:]
        return [reference_answer(t) for t in self.processor.batch_decode(ids, skip_special_tokens=True)]


class ChatCaptioner:
    """Captions from a :class:`ChatModel`: the caption prompt in a user turn with each image."""

    def __init__(self, chat: ChatModel, settings: Mapping[str, Any]) -> None:
        self.chat, self.settings = chat, dict(settings)
        self._decoding = {k: self.settings[k] for k in ("do_sample", "num_beams", "max_new_tokens")}

    def generate(self, images: Sequence[Image]) -> list[str]:
        """One caption per image."""
        return self.chat.generate(images, [self.settings["prompt"]] * len(images), self._decoding)


class ChatAnswerer:
    """Short answers from a :class:`ChatModel`: each question and the answer instruction in a user turn."""

    def __init__(self, chat: ChatModel, settings: Mapping[str, Any]) -> None:
        self.chat, self.settings = chat, dict(settings)
        self._decoding = {k: self.settings[k] for k in ("do_sample", "num_beams", "max_new_tokens")}

    def answer(self, images: Sequence[Image], questions: Sequence[str]) -> list[str]:
        """One answer per (image, question)."""
        if len(images) != len(questions):
            raise AdapterError(f"the VQA adapter got {len(images)} images and {len(questions)} questions; "
                               "expected one question per image")
        instruction = self.settings["answer_instruction"]
        texts = [f"{q}\n{instruction}" if instruction else q for q in questions]
        return self.chat.generate(images, texts, self._decoding)


def load_chat(model: ModelConfig, device: torch.device, chosen: Collection[str]) -> Built:
    """The chat VLM (its ``config.architectures`` class) and ``AutoProcessor``, in eval mode, as the
    ``chosen`` capabilities; the template is checked before any weight is loaded."""
    transformers = import_backend("transformers", "transformers")
    chat_settings(model.options, "")  # refuse bad options before reading anything
    if not model.allow_pickle:
        refuse_pickle_only(model.checkpoint)
    config = read_config(model.checkpoint)
    try:
        processor = transformers.AutoProcessor.from_pretrained(model.checkpoint)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise AdapterError(f"model.checkpoint: no processor in '{model.checkpoint}': {first_line(exc)}") from None
    if getattr(processor, "tokenizer", None) is None:
        raise AdapterError(f"model.checkpoint: the processor of '{model.checkpoint}' ({type(processor).__name__}) "
                           "has no tokenizer; expected a processor that takes images and text")
    template = chat_template(processor, model.checkpoint)
    processor.tokenizer.padding_side = PADDING_SIDE
    cls = architecture_class(transformers, config, model.checkpoint, _AUTO_CLASSES, "an image-text-to-text model")
    net = load_complete(cls, model.checkpoint, **({} if model.allow_pickle else {"use_safetensors": True}))
    if not hasattr(net, "generate"):
        raise AdapterError(f"model.checkpoint: '{model.checkpoint}' loads as {type(net).__name__}, which "
                           "cannot generate text")
    net.to(device).eval()
    captions, answers = chat_settings(model.options, template)
    chat = ChatModel(net, processor, template, device, captions["system_prompt"])
    decoding = ("do_sample", "num_beams", "max_new_tokens")
    captioner = answerer = None
    if CAPTIONER in chosen:
        generation = effective_generation_config(net, {k: captions[k] for k in decoding})
        captioner = ChatCaptioner(chat, {**captions, "generation_config": generation})
    if ANSWERER in chosen:
        generation = effective_generation_config(net, {k: answers[k] for k in decoding})
        answerer = ChatAnswerer(chat, {**answers, "generation_config": generation})
    return Built(f"transformers:{type(net).__name__}", captioner=captioner, answerer=answerer)
