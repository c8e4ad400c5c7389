"""One suite's model calls: batched, timed, checked, each computed once (texts cached by content).

Every call into the model goes through here, so every adapter, built-in or the user's, is held
to the same contract: an exception becomes an ``AdapterError`` naming the adapter, the method and
the batch; an array output must be one finite row per input (a tensor, an array or a list of rows);
image and text embeddings must have one width; generated texts must be strings (empty is fine).

Images are decoded one at a time, right before their batch's call. When the capability object also
implements ``PreparesImages`` (every built-in backend; the VQA answerer when its processor tokenizes
questions apart from images, as BLIP's does), each decode is prepared
at once and dropped, so a batch holds prepared model inputs, never more than one full-size decode;
the preparing counts in its batch's time, as preprocessing inside the call does (decoding never does).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from qa_gate.adapters.protocols import PreparesImages
from qa_gate.errors import AdapterError, GateError, first_line
from qa_gate.golden.suite import Sample, Suite, open_image
from qa_gate.scoring.device import inference
from qa_gate.scoring.stopwatch import Stopwatch

if TYPE_CHECKING:
    import torch

    from qa_gate.adapters.load import LoadedModel
    from qa_gate.adapters.protocols import ImageTextEncoder

PER_SAMPLE_OPERATIONS = ("generation", "answering")
"""Operations whose output is one text per image; the others return one row of numbers per input."""
SHOWN = 3
"""How many sample ids (or texts) an error lists."""


def _normalise(array: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    return array / np.where(norms == 0, 1.0, norms)


def as_rows(result: Any) -> np.ndarray | None:
    """``result`` (a torch tensor, a numpy array or a list of rows) as a float64 array; ``None`` if it is none."""
    if hasattr(result, "detach"):
        result = result.detach().float().cpu().numpy()
    try:
        return np.asarray(result, dtype=np.float64)
    except (TypeError, ValueError):
        return None


def _listed(names: Sequence[str]) -> str:
    shown = ", ".join(repr(n if len(n) <= 40 else n[:37] + "...") for n in names[:SHOWN])
    return shown + (", ..." if len(names) > SHOWN else "")


class SuiteInputs:
    """``AlignmentInputs`` for one suite: encodes lazily, in batches, each distinct text once.

    ``role`` is the config section the model comes from (``model`` or ``scorer``), for errors.
    """

    def __init__(self, suite: Suite, model: LoadedModel, batch_size: int,
                 device: torch.device, dtype: torch.dtype | None, text_cache: dict[str, np.ndarray],
                 role: str = "model") -> None:
        self.suite, self.batch_size = suite, batch_size
        self.device, self.dtype, self._texts = device, dtype, text_cache
        self.encoder, self.captioner = model.encoder, model.captioner
        self.answerer, self.classifier = model.answerer, model.classifier
        self.who = f"{role}.adapter: '{model.checkpoint.adapter}'"
        self.scorer_inputs: SuiteInputs | None = None
        """The fixed scorer's inputs on the same suite (``caption: generated``), set by ``run``."""
        self.scorer_id = ""
        self.sample_ids = tuple(s.id for s in suite.samples)
        self._images: np.ndarray | None = None
        self._widths: dict[str, int] = {}
        if text_cache:  # texts embedded for an earlier suite by the same model
            self._widths["text"] = len(next(iter(text_cache.values())))
        self._outputs: dict[str, Any] = {}
        self.stopwatches: dict[str, Stopwatch] = {}
        """One per model operation run on the suite (``image encoding``, ``generation``, ``answering``,
        ``classification``): the batches' timings and the operation's peak memory."""

    def _call(self, operation: str, call: Callable[..., Any], args: tuple[Any, ...], where: str,
              watch: Stopwatch | None = None) -> Any:
        """``call(*args)`` under inference mode (timed on ``watch``); an exception it raises becomes one
        ``AdapterError`` line (a ``GateError`` passes as it is; ``KeyboardInterrupt`` is no ``Exception``)."""
        try:
            with inference(self.device, self.dtype):
                if watch is None:
                    return call(*args)
                with watch.batch(len(args[0])):
                    return call(*args)
        except GateError:
            raise
        except Exception as exc:
            method = getattr(call, "__name__", operation)
            raise AdapterError(f"{self.who} raised {type(exc).__name__} in {method}() during {operation} of "
                               f"{where}: {first_line(exc)}") from exc

    def batched(self, operation: str, call: Callable[..., Any], extra: Sequence[Any] | None = None) -> list[Any]:
        """``call(images[, extra])`` over the suite in batches under inference mode, each batch timed
        on ``stopwatches[operation]``, computed once.

        ``generation`` and ``answering`` return a list with one string per image: the result is those
        strings, in sample order. Other operations return a ``[batch, k]`` tensor, array or list of rows
        per batch: the result is those batches as float64 arrays, all finite and of one width. An adapter
        returning anything else is refused, naming the operation and the samples.
        """
        if operation not in self._outputs:
            watch = self.stopwatches[operation] = Stopwatch(self.device)
            out: list[Any] = []
            samples = self.suite.samples
            owner = getattr(call, "__self__", None)
            prepare = owner.prepare_image if isinstance(owner, PreparesImages) else None
            for start in range(0, len(samples), self.batch_size):
                batch = samples[start:start + self.batch_size]
                if prepare is None:
                    images, preparing = [open_image(s, self.suite.max_pixels) for s in batch], 0.0
                else:
                    images, preparing = self._prepared(operation, prepare, batch)
                args = (images,) if extra is None else (images, list(extra[start:start + self.batch_size]))
                where = f"the batch of {len(batch)} images from sample '{batch[0].id}'"
                result = self._call(operation, call, args, where, watch)
                seconds, size = watch.batches[-1]
                watch.batches[-1] = (seconds + preparing, size)  # preparing counts as it did inside the call
                out.extend(self._checked(operation, result, [s.id for s in batch]))
            watch.stop()
            if operation not in PER_SAMPLE_OPERATIONS:
                self._finite(operation, out, list(self.sample_ids), "samples")
                self._one_width(operation, out)
            self._outputs[operation] = out
        return self._outputs[operation]

    def _prepared(self, operation: str, prepare: Callable[[Any], Any],
                  batch: Sequence[Sample]) -> tuple[list[Any], float]:
        """Each sample's image decoded and prepared at once (``PreparesImages``), the decode dropped
        before the next is opened; and the seconds preparing took (the batch's timing includes them)."""
        items, seconds = [], 0.0
        for sample in batch:
            item, took = self._prepare_one(operation, prepare, sample)
            items.append(item)
            seconds += took
        return items, seconds

    def _prepare_one(self, operation: str, prepare: Callable[[Any], Any], sample: Sample) -> tuple[Any, float]:
        image = open_image(sample, self.suite.max_pixels)  # released when this returns
        began = time.perf_counter()
        item = self._call(operation, prepare, (image,), f"sample '{sample.id}'")
        return item, time.perf_counter() - began

    def _checked(self, operation: str, result: Any, ids: Sequence[str]) -> list[Any]:
        """The items ``result`` adds to ``operation``'s output: its texts, one per id, or itself as one
        ``[len(ids), k]`` array; an ``AdapterError`` saying what came back otherwise."""
        count = len(ids)
        if operation in PER_SAMPLE_OPERATIONS:
            if not isinstance(result, (list, tuple)) or len(result) != count:
                got = f"{len(result)} items" if isinstance(result, (list, tuple)) else type(result).__name__
                raise AdapterError(f"{self.who}: its {operation} returned {got} for a batch of {count} images "
                                   f"from sample '{ids[0]}'; expected a list with one string per image")
            bad = next(((i, x) for i, x in zip(ids, result) if not isinstance(x, str)), None)
            if bad is not None:
                raise AdapterError(f"{self.who}: its {operation} returned a {type(bad[1]).__name__} "
                                   f"({bad[1]!r}) for sample '{bad[0]}'; expected one string per image "
                                   "(an empty string is a valid output)")
            return list(result)
        rows = as_rows(result)
        if rows is None or rows.ndim != 2 or rows.shape[0] != count:
            got = (f"of shape {tuple(rows.shape)}" if rows is not None
                   else "that is no array of numbers (rows of different lengths, or not numbers)")
            raise AdapterError(f"{self.who}: its {operation} returned {type(result).__name__} {got} for {count} "
                               f"inputs from {_listed(ids[:1])}; expected a 2-d tensor, array or list of rows with "
                               "one row per input")
        return [rows]

    def _finite(self, operation: str, chunks: Sequence[np.ndarray], names: Sequence[str], what: str) -> None:
        """Refuse NaN or inf in the rows of ``chunks`` (row ``i`` belongs to ``names[i]``)."""
        bad_rows = [i for i, ok in enumerate(np.concatenate([np.isfinite(c).all(axis=1) for c in chunks]))
                    if not ok]
        if not bad_rows:
            return
        values = sum(int((~np.isfinite(c)).sum()) for c in chunks)
        hint = " or the autocast dtype overflowed (try model.dtype: float32)" if self.dtype is not None else ""
        raise AdapterError(f"{self.who}: its {operation} returned {values} non-finite value(s) (NaN or inf) for "
                           f"{len(bad_rows)} of {len(names)} {what} ({_listed([names[i] for i in bad_rows])}); "
                           f"expected finite numbers: the model's weights or inputs are broken{hint}")

    def _one_width(self, operation: str, chunks: Sequence[np.ndarray]) -> None:
        widths = sorted({c.shape[1] for c in chunks})
        if len(widths) > 1:
            raise AdapterError(f"{self.who}: its {operation} returned rows of {widths[0]} and of {widths[-1]} "
                               "values in different batches; expected one width for every input")

    def _agree(self, kind: str, width: int) -> None:
        """Image and text embeddings must share one width (one embedding space)."""
        self._widths.setdefault(kind, width)
        image, text = self._widths.get("image"), self._widths.get("text")
        if image is not None and text is not None and image != text:
            raise AdapterError(f"{self.who}: its image embeddings have {image} dimensions but its text embeddings "
                               f"{text}; expected one width for both (a dual encoder embeds images and texts "
                               "into one space)")

    def _encoder(self) -> ImageTextEncoder:
        if self.encoder is None:
            raise AdapterError("these metrics embed images and texts, which needs a dual encoder; "
                               "the checkpoint was not loaded as one")
        return self.encoder

    def image_embeddings(self) -> np.ndarray:
        """``[n, d]`` normalised image embeddings, computed once; each batch is timed."""
        if self._images is None:
            chunks = self.batched("image encoding", self._encoder().encode_images)
            self._agree("image", chunks[0].shape[1])
            self._images = np.concatenate([_normalise(c) for c in chunks])
        return self._images

    def _encode(self, texts: Sequence[str]) -> np.ndarray:
        missing = list(dict.fromkeys(t for t in texts if t not in self._texts))
        chunks: list[np.ndarray] = []
        for start in range(0, len(missing), self.batch_size):
            batch = missing[start:start + self.batch_size]
            where = f"{len(batch)} texts from {_listed(batch[:1])}"
            result = self._call("text encoding", self._encoder().encode_texts, (batch,), where)
            chunks.extend(self._checked("text encoding", result, batch))
        if chunks:
            self._finite("text encoding", chunks, missing, "texts")
            self._one_width("text encoding", chunks)
            self._agree("text", chunks[0].shape[1])
            self._texts.update(zip(missing, np.concatenate([_normalise(c) for c in chunks])))
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


def generated_texts(inputs: SuiteInputs, operation: str, run: Any, extra: Sequence[str] | None = None) -> list[str]:
    """The timed, batched ``operation`` (``SuiteInputs.batched``): one string per sample, checked there."""
    return list(inputs.batched(operation, run, extra))
