"""One suite's model calls: batched, timed, checked, each computed once (texts cached by content)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from qa_gate.errors import AdapterError
from qa_gate.golden.suite import Suite, open_image
from qa_gate.scoring.device import inference
from qa_gate.scoring.stopwatch import Stopwatch

if TYPE_CHECKING:
    import torch

    from qa_gate.adapters.load import LoadedModel
    from qa_gate.adapters.protocols import ImageTextEncoder


def _normalise(rows: torch.Tensor) -> np.ndarray:
    array = rows.detach().float().cpu().numpy().astype(np.float64)
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    return array / np.where(norms == 0, 1.0, norms)


class SuiteInputs:
    """``AlignmentInputs`` for one suite: encodes lazily, in batches, each distinct text once."""

    def __init__(self, suite: Suite, model: LoadedModel, batch_size: int,
                 device: torch.device, dtype: torch.dtype | None, text_cache: dict[str, np.ndarray]) -> None:
        self.suite, self.batch_size = suite, batch_size
        self.device, self.dtype, self._texts = device, dtype, text_cache
        self.encoder, self.captioner = model.encoder, model.captioner
        self.answerer, self.classifier = model.answerer, model.classifier
        self.scorer_inputs: SuiteInputs | None = None
        """The fixed scorer's inputs on the same suite (``caption: generated``), set by ``run``."""
        self.scorer_id = ""
        self.sample_ids = tuple(s.id for s in suite.samples)
        self._images: np.ndarray | None = None
        self._outputs: dict[str, Any] = {}
        self.stopwatches: dict[str, Stopwatch] = {}
        """One per model operation run on the suite (``image encoding``, ``generation``, ``answering``,
        ``classification``): the batches' timings and the operation's peak memory."""

    def batched(self, operation: str, call: Callable[..., Any], extra: Sequence[Any] | None = None) -> list[Any]:
        """``call(images[, extra])`` over the suite in batches under inference mode, each batch timed
        on ``stopwatches[operation]``, computed once.

        ``generation`` and ``answering`` return a list with one item per image: the result is those
        items, in sample order. Other operations return a ``[batch, ...]`` array per batch: the
        result is those arrays. Either way an adapter returning another count is refused.
        """
        if operation not in self._outputs:
            watch = self.stopwatches[operation] = Stopwatch(self.device)
            out: list[Any] = []
            samples = self.suite.samples
            for start in range(0, len(samples), self.batch_size):
                images = [open_image(s) for s in samples[start:start + self.batch_size]]
                args = (images,) if extra is None else (images, list(extra[start:start + self.batch_size]))
                with inference(self.device, self.dtype), watch.batch(len(images)):
                    result = call(*args)
                out.extend(_checked(operation, result, len(images)))
            watch.stop()
            self._outputs[operation] = out
        return self._outputs[operation]

    def _encoder(self) -> ImageTextEncoder:
        if self.encoder is None:
            raise AdapterError("these metrics embed images and texts, which needs a dual encoder; "
                               "the checkpoint was not loaded as one")
        return self.encoder

    def image_embeddings(self) -> np.ndarray:
        """``[n, d]`` normalised image embeddings, computed once; each batch is timed."""
        if self._images is None:
            chunks = self.batched("image encoding", self._encoder().encode_images)
            self._images = np.concatenate([_normalise(c) for c in chunks])
        return self._images

    def _encode(self, texts: Sequence[str]) -> np.ndarray:
        missing = list(dict.fromkeys(t for t in texts if t not in self._texts))
        for start in range(0, len(missing), self.batch_size):
            batch = missing[start:start + self.batch_size]
            with inference(self.device, self.dtype):
                rows = _normalise(_checked("text encoding", self._encoder().encode_texts(batch), len(batch))[0])
            self._texts.update(zip(batch, rows))
        return np.stack([self._texts[t] for t in texts])

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        """``[m, d]`` normalised embeddings of ``texts`` (each distinct text encoded once)."""
        return self._encode(texts)

    def caption_embeddings(self, prefix: str) -> np.ndarray:
        """``[n, d]`` embeddings of ``prefix + caption``."""
        return self._encode([prefix + (s.caption or "") for s in self.suite.samples])

    def reference_embeddings(self, prefix: str) -> tuple[np.ndarray, np.ndarray]:
        """Every reference (prefixed) and the index of the sample that owns it."""
        owner = np.array([i for i, s in enumerate(self.suite.samples) for _ in s.references], dtype=np.int64)
        texts = [prefix + r for s in self.suite.samples for r in s.references]
        return self._encode(texts), owner


PER_SAMPLE_OPERATIONS = ("generation", "answering")


def _checked(operation: str, result: Any, count: int) -> list[Any]:
    """The items ``result`` adds to ``operation``'s output: its ``count`` texts, or itself as one
    ``[count, ...]`` array; an ``AdapterError`` saying what came back otherwise."""
    if operation in PER_SAMPLE_OPERATIONS:
        if not isinstance(result, (list, tuple)) or len(result) != count:
            got = f"{len(result)} items" if isinstance(result, (list, tuple)) else type(result).__name__
            raise AdapterError(f"the model's {operation} returned {got} for a batch of {count} images; "
                               "expected a list with one string per image")
        bad = next((x for x in result if not isinstance(x, str)), None)
        if bad is not None:
            raise AdapterError(f"the model's {operation} returned a {type(bad).__name__} ({bad!r}); "
                               "expected one string per image")
        return list(result)
    shape = tuple(getattr(result, "shape", ()))
    if len(shape) != 2 or shape[0] != count:
        raise AdapterError(f"the model's {operation} returned {type(result).__name__} of shape {shape} for "
                           f"{count} inputs; expected a 2-d tensor or array with one row per input")
    return [result]


def generated_texts(inputs: SuiteInputs, operation: str, run: Any, extra: Sequence[str] | None = None) -> list[str]:
    """The timed, batched ``operation`` (``SuiteInputs.batched``), checked to give one string per sample."""
    out = inputs.batched(operation, run, extra)
    if len(out) != len(inputs.suite.samples) or not all(isinstance(o, str) for o in out):
        raise AdapterError(f"the model returned {len(out)} texts for {len(inputs.suite.samples)} samples; "
                           "expected one string each")
    return list(out)
