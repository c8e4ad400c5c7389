"""One suite's model calls: batched, timed, checked, each computed once (texts cached by content).

Every call into the model goes through here, so every adapter, built-in or the user's, is held
to the same contract: an exception becomes an ``AdapterError`` naming the adapter, the method and
the batch; an array output must be one finite row per input (a tensor, an array or a list of rows);
image and text embeddings must have one width; generated texts must be strings (empty is fine).

Images are decoded in ``workers`` threads, or in the calling one (``qa_gate.scoring.loader``), in sample
order. When the capability object also implements ``PreparesImages`` (every built-in backend; the VQA answerer when
its processor tokenizes questions apart from images, as BLIP's does), each decode is prepared at once
in its worker and dropped, and the workers prepare the next batches while the model runs: no more
full-size decodes are alive than there are workers. A plain adapter is handed the decoded batch; its
images are decoded in parallel, but not ahead. The preparing counts in its batch's time, as
preprocessing inside the call does (decoding never does). Texts are encoded shortest first, so a
batch holds texts of similar lengths (an adapter that trims padding pads little).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Sequence
from contextlib import closing
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np

from qa_gate.adapters.protocols import OutputRequest, PreparesImages, ServesBySample
from qa_gate.errors import AdapterError, GateError, first_line
from qa_gate.golden.suite import Sample, Suite, open_image
from qa_gate.scoring.alignment_texts import AlignmentTexts
from qa_gate.scoring.cache_plan import SuiteCache
from qa_gate.scoring.device import Device, inference
from qa_gate.scoring.embeddings import normalise_in_place, normalised_float32
from qa_gate.scoring.loader import PREFETCH_BATCHES, default_workers, load_batches
from qa_gate.scoring.output_checks import as_rows, listed, refuse_non_finite, refuse_widths
from qa_gate.scoring.stopwatch import Stopwatch

if TYPE_CHECKING:
    import torch

    from qa_gate.adapters.load import LoadedModel
    from qa_gate.adapters.protocols import ImageTextEncoder

PER_SAMPLE_OPERATIONS = ("generation", "answering")
"""Operations whose output is one text per image; the others return one row of numbers per input."""
class SuiteInputs(AlignmentTexts):
    """``AlignmentInputs`` for one suite: encodes lazily, in batches, each distinct text once.

    ``role`` is the config section the model comes from (``model`` or ``scorer``), for errors;
    ``workers`` the image decoding threads (``loader.default_workers``; 0: in the calling thread);
    ``timed``: an efficiency metric reads the timings, so on CUDA each batch is synchronised before
    and after (else the device runs ahead of the clock, which is then only a rough per-batch figure).
    """

    def __init__(self, suite: Suite, model: LoadedModel, batch_size: int,
                 device: Device, dtype: torch.dtype | None, text_cache: dict[str, np.ndarray],
                 role: str = "model", *, workers: int | None = None, timed: bool = True) -> None:
        self.suite, self.batch_size = suite, batch_size
        self.workers = default_workers(device.type) if workers is None else workers
        self.timed = timed
        self.device, self.dtype, self._texts = device, dtype, text_cache
        self.encoder, self.captioner = model.encoder, model.captioner
        self.answerer, self.classifier = model.answerer, model.classifier
        self.who = f"{role}.adapter: '{model.checkpoint.adapter}'"
        self.scorer_inputs: SuiteInputs | None = None
        """The fixed scorer's inputs on the same suite (``caption: generated``), set by ``run``."""
        self.scorer_id = ""
        self.family = ""
        """The metric family whose view asked last (``SuiteViews.get``), for errors of served outputs."""
        self.sample_ids = tuple(s.id for s in suite.samples)
        self._images: np.ndarray | None = None
        self._captions: dict[str, np.ndarray] = {}  # prefix -> the captions' matrix
        self._widths: dict[str, int] = {}
        if text_cache:  # texts embedded for an earlier suite by the same model
            self._widths["text"] = len(next(iter(text_cache.values())))
        self._outputs: dict[str, Any] = {}
        self._owned: np.ndarray | None = None
        """The matrix the last cache merge built itself (``ImagePlan.matrix``): normalised in place, not copied."""
        self.cache = SuiteCache(suite)
        """The output cache and progress bars (``qa_gate.scoring.cache_plan``); off and silent unless set."""
        self.stopwatches: dict[str, Stopwatch] = {}
        """One per model operation run on the suite (``image encoding``, ``generation``, ``answering``,
        ``classification``): the batches' timings and the operation's peak memory."""
        self.image_transform: Callable[[Any, str], Any] | None = None
        """``(image, sample id) -> image`` applied to every image as it is opened: an image perturbation
        (``qa_gate.scoring.perturbations``); set by :meth:`perturbed`."""

    def perturbed(self, transform: Callable[[Any, str], Any] | None, suite: Suite, cache: SuiteCache) -> SuiteInputs:
        """These inputs on ``suite`` (the same samples, their texts perturbed or not) with ``transform`` applied
        to every image (``None``: the images and their outputs are shared with these inputs), outputs cached
        in ``cache``, never timed. The text embeddings are shared (keyed by content); so is the scorer."""
        out = copy.copy(self)
        out.suite, out.cache, out.timed = suite, cache, False
        out._widths = dict(self._widths)
        out._captions = self._captions if suite is self.suite else {}  # a text perturbation's own captions
        if transform is not None:
            out.image_transform, out._images, out._outputs, out.stopwatches = transform, None, {}, {}
        return out

    def _call(self, operation: str, call: Callable[..., Any], args: tuple[Any, ...], where: str,
              watch: Stopwatch | None = None) -> Any:
        """``call(*args)`` under inference mode (timed on ``watch``), errors as :meth:`_guarded` makes them."""
        with inference(self.device, self.dtype):
            if watch is None:
                return self._guarded(operation, call, args, where)
            with watch.batch(len(args[0])):
                return self._guarded(operation, call, args, where)

    def _guarded(self, operation: str, call: Callable[..., Any], args: tuple[Any, ...], where: str) -> Any:
        """``call(*args)``; an exception it raises becomes one ``AdapterError`` line (a ``GateError``
        passes as it is; ``KeyboardInterrupt`` is no ``Exception``)."""
        try:
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
        owner = getattr(call, "__self__", None)
        if operation not in self._outputs and isinstance(owner, ServesBySample):
            self._outputs[operation] = self._served(owner, operation, extra)
        if operation not in self._outputs:
            watch = self.stopwatches[operation] = Stopwatch(self.device, sync=self.timed)
            out: list[Any] = []
            plan = self.cache.images(operation, extra)
            samples, extra = plan.pick(self.suite.samples, extra)  # the samples whose outputs are not cached
            owner = getattr(call, "__self__", None)
            prepare = owner.prepare_image if isinstance(owner, PreparesImages) else None
            loaded = load_batches(samples, self.batch_size, partial(self._load_one, operation, prepare),
                                  workers=self.workers, ahead=PREFETCH_BATCHES if prepare is not None else 0,
                                  context=partial(inference, self.device, self.dtype))
            with closing(loaded):
                for batch_items in loaded:
                    start, images = batch_items.start, batch_items.items
                    batch = samples[start:start + len(images)]
                    args = (images,) if extra is None else (images, list(extra[start:start + len(images)]))
                    where = f"the batch of {len(batch)} images from sample '{batch[0].id}'"
                    result = self._call(operation, call, args, where, watch)
                    seconds, size = watch.batches[-1]  # preparing counts as it did inside the call
                    watch.batches[-1] = (seconds + batch_items.seconds, size)
                    out.extend(plan.done(self._checked(operation, result, [s.id for s in batch])))
            watch.stop()
            out = plan.merge(out)  # with the cached outputs, in sample order
            self._owned = plan.matrix
            if operation not in PER_SAMPLE_OPERATIONS:
                self._finite(operation, out, list(self.sample_ids), "samples")
                self._one_width(operation, out)
            self._outputs[operation] = out
        return self._outputs[operation]

    def _served(self, owner: ServesBySample, operation: str, extra: Sequence[Any] | None) -> list[Any]:
        """``operation``'s outputs of the whole suite from an adapter that ``ServesBySample`` (no image is
        decoded), checked as a model's outputs are."""
        if getattr(self, "image_transform", None) is not None:
            raise AdapterError(f"{self.who}: serves the outputs of the suite's own images; {operation} of "
                               f"perturbed images of suite {self.suite.name!r} cannot be looked up; gate "
                               "perturbations with a model that runs")
        request = OutputRequest(operation, self.suite.name, self.sample_ids,
                                None if extra is None else tuple(extra), self.family)
        result = self._guarded(operation, owner.outputs, (request,), f"suite {self.suite.name!r}")
        out = self._checked(operation, result, list(self.sample_ids))
        if operation not in PER_SAMPLE_OPERATIONS:
            self._finite(operation, out, list(self.sample_ids), "samples")
        return out

    def _served_texts(self, texts: Sequence[str], where: str) -> Any:
        encoder = self._encoder()
        assert isinstance(encoder, ServesBySample)
        request = OutputRequest("text encoding", self.suite.name, tuple(texts), None, self.family)
        return self._guarded("text encoding", encoder.outputs, (request,), where)

    def _load_one(self, operation: str, prepare: Callable[[Any], Any] | None, sample: Sample) -> tuple[Any, float]:
        """In a loader worker (under inference mode): the sample's image, prepared at once when the adapter
        ``PreparesImages`` (the decode released when this returns), and the seconds preparing took."""
        image = open_image(sample, self.suite.max_pixels)
        if self.image_transform is not None:
            image = self.image_transform(image, sample.id)
        if prepare is None:
            return image, 0.0
        began = time.perf_counter()
        item = self._guarded(operation, prepare, (image,), f"sample '{sample.id}'")
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
        rows = as_rows(result, np.float32 if operation.endswith(" encoding") else np.float64)  # embeddings: float32
        if rows is None or rows.ndim != 2 or rows.shape[0] != count:
            got = (f"of shape {tuple(rows.shape)}" if rows is not None
                   else "that is no array of numbers (rows of different lengths, or not numbers)")
            raise AdapterError(f"{self.who}: its {operation} returned {type(result).__name__} {got} for {count} "
                               f"inputs from {listed(ids[:1])}; expected a 2-d tensor, array or list of rows with "
                               "one row per input")
        return [rows]

    def _finite(self, operation: str, chunks: Sequence[np.ndarray], names: Sequence[str], what: str) -> None:
        """Refuse NaN or inf in the rows of ``chunks`` (row ``i`` belongs to ``names[i]``)."""
        refuse_non_finite(self.who, operation, chunks, names, what, autocast=self.dtype is not None)

    def _one_width(self, operation: str, chunks: Sequence[np.ndarray]) -> None:
        refuse_widths(self.who, operation, chunks)

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
            owned = self._owned
            if owned is not None and len(chunks) == 1 and chunks[0] is owned:  # the cache plan's own matrix
                self._images = normalise_in_place(owned)
            else:
                self._images = normalised_float32(chunks)  # the one copy kept: float32, normalised in place
            self._outputs["image encoding"] = [self._images]  # drop the raw batches
        return self._images

    def _encode(self, texts: Sequence[str]) -> np.ndarray:
        """``[len(texts), d]`` normalised embeddings, read-only: a text encoded earlier is reused; when every
        text is new (and distinct) the one matrix that holds them is returned without a copy."""
        fresh = list(dict.fromkeys(t for t in texts if t not in self._texts))
        if fresh:
            matrix = self._embed(fresh)
            self._texts.update(zip(fresh, matrix))  # rows of one float32 matrix
            if len(fresh) == len(texts):
                return matrix
        stacked = np.stack([self._texts[t] for t in texts])
        stacked.flags.writeable = False
        return stacked

    def _embed(self, texts: list[str]) -> np.ndarray:
        """The normalised float32 embeddings of distinct ``texts``, in their order: cached rows and the misses
        encoded in batches of similar length, in one matrix normalised in place (read-only)."""
        plan = self.cache.texts(texts)
        misses, chunks = plan.misses, []
        served = isinstance(self.encoder, ServesBySample)  # looked up all at once
        step = max(len(misses), 1) if served else self.batch_size
        for start in range(0, len(misses), step):
            batch = misses[start:start + step]
            where = f"{len(batch)} texts from {listed(batch[:1])}"
            result = self._served_texts(batch, where) if served else \
                self._call("text encoding", self._encoder().encode_texts, (batch,), where)
            chunks.extend(plan.done(self._checked("text encoding", result, batch)))
        plan.finish()
        matrix = plan.matrix
        if chunks:
            self._finite("text encoding", chunks, misses, "texts")
            self._one_width("text encoding", chunks if matrix is None else [matrix[:0], *chunks])
            if matrix is None:
                matrix = np.zeros((len(texts), chunks[0].shape[1]), dtype=np.float32)
            at = 0
            for chunk in chunks:
                matrix[plan.missing[at:at + len(chunk)]] = chunk
                at += len(chunk)
        assert matrix is not None
        self._agree("text", matrix.shape[1])
        normalise_in_place(matrix)
        matrix.flags.writeable = False
        return matrix

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        """``[m, d]`` normalised embeddings of ``texts`` (each distinct text encoded once)."""
        return self._encode(texts)



def generated_texts(inputs: SuiteInputs, operation: str, run: Any, extra: Sequence[str] | None = None) -> list[str]:
    """The timed, batched ``operation`` (``SuiteInputs.batched``): one string per sample, checked there."""
    return list(inputs.batched(operation, run, extra))
