"""Hugging Face generative VQA models (``BlipForQuestionAnswering``, image-text-to-text models).

Each question is written into ``model.options.question_prompt`` (default ``"{question}"``)
and answered with fixed greedy decoding (``do_sample=False, num_beams=1``,
``max_new_tokens`` from ``model.options``, default 10). ``settings`` holds these values, the
prompt and the effective ``generation_config`` (the checkpoint's, with these overrides:
``captioner.effective_generation_config``); the runner writes them into the VQA metrics' definitions.

Questions are batched in groups of equal token length, so no question is padded and an
answer never depends on the other questions of its batch: ``BlipForQuestionAnswering.generate``
(transformers 5) lets the answer attend to the question's padding, and decoder-only models
would need left padding.

When the processor tokenizes a question the same with or without its image (BLIP; probed at load),
the answerer is a :class:`PreparingAnswerer`: images are prepared one by one (``PreparesImages``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from qa_gate.adapters.hf.captioner import decoding_settings, effective_generation_config
from qa_gate.adapters.hf.config import architecture_class, load_complete, read_config
from qa_gate.adapters.hf.dual_encoder import refuse_pickle_only
from qa_gate.config.model import ModelConfig
from qa_gate.errors import AdapterError, first_line
from qa_gate.registry import import_backend

if TYPE_CHECKING:
    import torch
    from PIL.Image import Image

MAX_NEW_TOKENS = 10
QUESTION_PROMPT = "{question}"
# auto classes tried when config.json names no architecture transformers knows; the first
# maps "blip" to BlipForQuestionAnswering, the second to the captioner BlipForConditionalGeneration
_AUTO_CLASSES = ("AutoModelForVisualQuestionAnswering", "AutoModelForImageTextToText")


def answer_settings(options: Mapping[str, Any]) -> dict[str, Any]:
    """Greedy decoding settings and the question ``prompt``, validated, from ``model.options``."""
    settings = decoding_settings({"max_new_tokens": options.get("max_new_tokens", MAX_NEW_TOKENS)})
    prompt = options.get("question_prompt", QUESTION_PROMPT)
    expected = "a string holding '{question}' (write other braces as '{{' and '}}')"
    if not isinstance(prompt, str) or "{question}" not in prompt:
        raise AdapterError(f"model.options.question_prompt: expected {expected}, got {prompt!r}")
    try:
        prompt.format(question="")
    except (KeyError, IndexError, ValueError) as exc:
        raise AdapterError(f"model.options.question_prompt: expected {expected}, got {prompt!r} "
                           f"({type(exc).__name__}: {exc})") from None
    return {**settings, "prompt": prompt}


class TransformersAnswerer:
    """A transformers VQA generator with its processor (image processor and tokenizer)."""

    def __init__(self, model: Any, processor: Any, tokenizer: Any, device: torch.device,
                 settings: Mapping[str, Any]) -> None:
        self.model, self.processor, self.tokenizer = model, processor, tokenizer
        self.device, self.settings = device, dict(settings)
        self._generation = {k: v for k, v in self.settings.items() if k not in ("prompt", "generation_config")}
        self._strips_prompt = not getattr(model.config, "is_encoder_decoder", False)
        self._drops = {"token_type_ids"} if _drops_token_type_ids(model) else set()

    def answer(self, images: Sequence[Image | torch.Tensor], questions: Sequence[str]) -> list[str]:
        """One answer per (image, question): greedy ``generate``, special tokens skipped, stripped (a
        :class:`PreparingAnswerer` takes its ``prepare_image`` rows in place of images)."""
        if len(images) != len(questions):
            raise AdapterError(f"the VQA adapter got {len(images)} images and {len(questions)} questions; "
                               "expected one question per image")
        prompts = [self.settings["prompt"].format(question=q) for q in questions]
        answers = [""] * len(prompts)
        for group in self._equal_length_groups(prompts):
            texts = self._generate([images[i] for i in group], [prompts[i] for i in group])
            for index, text in zip(group, texts):
                answers[index] = text
        return answers

    def _equal_length_groups(self, prompts: Sequence[str]) -> list[list[int]]:
        groups: dict[int, list[int]] = {}
        if not prompts:
            return []
        for index, ids in enumerate(self.tokenizer(list(prompts))["input_ids"]):
            groups.setdefault(len(ids), []).append(index)
        return list(groups.values())

    def _inputs(self, images: Sequence[Any], prompts: Sequence[str]) -> Any:
        return self.processor(images=list(images), text=list(prompts), padding=True, return_tensors="pt")

    def _generate(self, images: Sequence[Any], prompts: Sequence[str]) -> list[str]:
        import torch

        inputs = self._inputs(images, prompts).to(self.device)
        given = {k: v for k, v in inputs.items() if k not in self._drops}
        ids = self.model.generate(**given, **self._generation)
        prompt_ids = inputs.get("input_ids")
        if self._strips_prompt and prompt_ids is not None and ids.shape[1] >= prompt_ids.shape[1] \
                and torch.equal(ids[:, :prompt_ids.shape[1]], prompt_ids):
            ids = ids[:, prompt_ids.shape[1]:]  # a decoder-only model returns the prompt, then the answer
        return [t.strip() for t in self.tokenizer.batch_decode(ids, skip_special_tokens=True)]


class PreparingAnswerer(TransformersAnswerer):
    """A :class:`TransformersAnswerer` whose processor tokenizes a question the same with or without its
    image (BLIP): each image can be prepared alone (``PreparesImages``), and ``answer`` takes the rows."""

    def prepare_image(self, image: Image) -> torch.Tensor:
        """One image through the processor: its ``pixel_values`` row."""
        return self.processor(images=[image], return_tensors="pt")["pixel_values"][0]

    def _inputs(self, images: Sequence[Any], prompts: Sequence[str]) -> Any:
        import torch

        if not any(isinstance(x, torch.Tensor) for x in images):
            return super()._inputs(images, prompts)
        inputs = self.processor(text=list(prompts), padding=True, return_tensors="pt")
        inputs["pixel_values"] = torch.stack([x if isinstance(x, torch.Tensor) else self.prepare_image(x)
                                              for x in images])
        return inputs


def _separable(processor: Any) -> bool:
    """True if ``processor`` gives a question the same text inputs with and without an image (it adds
    no image tokens to the text), so images can be prepared apart from the questions."""
    import torch
    from PIL import Image as PILImage

    try:
        both = processor(images=[PILImage.new("RGB", (32, 32))], text=["what?"], return_tensors="pt")
        text = processor(text=["what?"], return_tensors="pt")
    except Exception:  # a processor that needs its images to build the text
        return False
    return set(both) - {"pixel_values"} == set(text) and all(
        isinstance(text[k], torch.Tensor) and torch.equal(both[k], text[k]) for k in text)


def _drops_token_type_ids(model: Any) -> bool:
    """True unless ``model.forward`` names ``token_type_ids`` (PaliGemma does): a BERT tokenizer's
    ``token_type_ids`` reach the ``generate`` of BLIP and GIT, which refuse them."""
    import inspect

    return "token_type_ids" not in inspect.signature(model.forward).parameters


def load_transformers_answerer(model: ModelConfig, device: torch.device,
                              net: Any = None) -> tuple[TransformersAnswerer, str]:
    """The VQA model (its ``config.architectures`` class) and ``AutoProcessor``, in eval mode.

    ``net``: the same checkpoint already loaded (by the captioner), reused rather than loaded twice.
    """
    transformers = import_backend("transformers", "transformers")
    settings = answer_settings(model.options)
    if not model.allow_pickle:
        refuse_pickle_only(model.checkpoint)
    kwargs: dict[str, Any] = {} if model.allow_pickle else {"use_safetensors": True}
    config = read_config(model.checkpoint)
    cls = architecture_class(transformers, config, model.checkpoint, _AUTO_CLASSES,
                             "a visual question answering or image-text-to-text model")
    if net is None or type(net) is not cls:
        net = load_complete(cls, model.checkpoint, **kwargs)
    if not hasattr(net, "generate"):
        raise AdapterError(f"model.checkpoint: '{model.checkpoint}' loads as {type(net).__name__}, which "
                           "cannot generate answers; expected a generative VQA model such as "
                           "BlipForQuestionAnswering")
    try:
        processor = transformers.AutoProcessor.from_pretrained(model.checkpoint)
    except (OSError, ValueError, KeyError) as exc:
        raise AdapterError(f"model.checkpoint: no processor in '{model.checkpoint}': {first_line(exc)}") from None
    tokenizer = getattr(processor, "tokenizer", None)
    if tokenizer is None:
        raise AdapterError(f"model.checkpoint: the processor of '{model.checkpoint}' "
                           f"({type(processor).__name__}) has no tokenizer; expected a processor that "
                           "takes images and text, such as BlipProcessor")
    net.to(device).eval()
    generation = {k: v for k, v in settings.items() if k != "prompt"}
    settings = {**settings, "generation_config": effective_generation_config(net, generation)}
    made = PreparingAnswerer if _separable(processor) else TransformersAnswerer
    return made(net, processor, tokenizer, device, settings), f"transformers:{type(net).__name__}"
