"""The model under test (and the fixed scorer) loaded only when some output of the run is not cached.

The first run of a model loads it as usual and stores a **model card** beside its outputs: what
results record of the checkpoint (model name, sha256) and, per capability loaded, what the views
read without running it (decoding ``settings``, classifier ``labels``, whether it prepares images).
A later run of the same namespace and demands reads the card and gets stand-ins that load the real
model on their first model call, once (thread-safe). When every output is cached, no model loads.

:class:`RunOutputs` is the run's side of the cache: the stores (one per model role), the progress,
the plans each suite's ``SuiteInputs`` uses (``qa_gate.scoring.cache_plan``).
"""

from __future__ import annotations

import hashlib
import json
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qa_gate.adapters.protocols import ANSWERER, CAPTIONER, CLASSIFIER, ENCODER, Demand, PreparesImages
from qa_gate.config.model import GateConfig, ModelConfig, Overrides, SuiteConfig
from qa_gate.errors import ConfigError
from qa_gate.golden.suite import Suite
from qa_gate.results import CheckpointInfo
from qa_gate.scoring.cache import OutputStore, prune
from qa_gate.scoring.cache_key import default_dir, namespace, uncacheable
from qa_gate.scoring.cache_plan import SuiteCache
from qa_gate.scoring.progress import Progress

if TYPE_CHECKING:
    import torch

    from qa_gate.adapters.load import LoadedModel
    from qa_gate.scoring.device import Device

CARD_FORMAT = 1
ROLES = ("model", "scorer")


@contextmanager
def quiet_loading(adapter: str) -> Iterator[None]:
    """transformers' own progress bars ("Loading weights") off while a model loads, as they were after."""
    if adapter != "transformers" and "transformers" not in sys.modules:
        yield
        return
    from transformers.utils import logging as hf_logging

    was = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was:
            hf_logging.enable_progress_bar()


class _Loader:
    """Loads the real model once, on first need."""

    def __init__(self, load: Callable[[], LoadedModel]) -> None:
        self._load, self._lock = load, threading.Lock()
        self.model: LoadedModel | None = None

    def get(self) -> LoadedModel:
        with self._lock:
            if self.model is None:
                self.model = self._load()
            return self.model


class _Standin:
    """One capability of a model not loaded yet: its recorded attributes, its calls load the model."""

    capability = ""

    def __init__(self, loader: _Loader, card: Mapping[str, Any]) -> None:
        self._loader, self._card = loader, card

    def _real(self) -> Any:
        return getattr(self._loader.get(), self.capability)

    @property
    def settings(self) -> Mapping[str, Any]:
        """The decoding or scoring settings the model was loaded with (from the card)."""
        return dict(self._card.get("settings") or {})


class _Prepares:
    def prepare_image(self, image: Any) -> Any:
        """The real capability's ``prepare_image``."""
        return self._real().prepare_image(image)  # type: ignore[attr-defined]


class LazyEncoder(_Standin):
    """A dual encoder loaded on its first call."""

    capability = ENCODER

    def encode_images(self, images: Sequence[Any]) -> Any:
        """The real encoder's ``encode_images``."""
        return self._real().encode_images(images)

    def encode_texts(self, texts: Sequence[str]) -> Any:
        """The real encoder's ``encode_texts``."""
        return self._real().encode_texts(texts)


class LazyCaptioner(_Standin):
    """An image-to-text model loaded on its first call."""

    capability = CAPTIONER

    def generate(self, images: Sequence[Any]) -> list[str]:
        """The real captioner's ``generate``."""
        return list(self._real().generate(images))


class LazyAnswerer(_Standin):
    """A VQA model loaded on its first call."""

    capability = ANSWERER

    def answer(self, images: Sequence[Any], questions: Sequence[str]) -> list[str]:
        """The real answerer's ``answer``."""
        return list(self._real().answer(images, questions))


class LazyClassifier(_Standin):
    """A multilabel classifier loaded on its first call."""

    capability = CLASSIFIER

    @property
    def labels(self) -> tuple[str, ...]:
        """The label of each score column (from the card)."""
        return tuple(self._card.get("labels") or ())

    def label_scores(self, images: Sequence[Any]) -> Any:
        """The real classifier's ``label_scores``."""
        return self._real().label_scores(images)


STANDINS: Mapping[str, type[_Standin]] = {ENCODER: LazyEncoder, CAPTIONER: LazyCaptioner,
                                          ANSWERER: LazyAnswerer, CLASSIFIER: LazyClassifier}
_PREPARING = {name: type(f"{cls.__name__}Preparing", (_Prepares, cls), {}) for name, cls in STANDINS.items()}


def _standin(capability: str, loader: _Loader, card: Mapping[str, Any]) -> _Standin:
    cls = _PREPARING[capability] if card.get("prepares") else STANDINS[capability]
    return cls(loader, card)


def _card_of(model: LoadedModel, capabilities: Sequence[str]) -> dict[str, Any]:
    """What a card records of a loaded model (JSON values, as definitions hold them)."""
    entries: dict[str, Any] = {}
    for name in capabilities:
        real = getattr(model, name)
        if real is None:
            continue
        entry: dict[str, Any] = {"prepares": isinstance(real, PreparesImages)}
        if name != ENCODER:
            entry["settings"] = json.loads(json.dumps(dict(real.settings), default=str))
        if name == CLASSIFIER:
            entry["labels"] = list(real.labels)
        entries[name] = entry
    info = model.checkpoint
    return {"card": CARD_FORMAT, "model_name": info.model_name, "sha256": info.sha256, "capabilities": entries}


def _card_name(role: str, demands: Sequence[Demand]) -> str:
    wanted = sorted({tuple(d.accepts) for d in demands})
    return hashlib.sha256(json.dumps([role, CARD_FORMAT, wanted]).encode("utf-8")).hexdigest()[:32]


class RunOutputs:
    """The output cache and progress of one run: a store per model role (none when off or not cacheable)."""

    def __init__(self, config: GateConfig, progress: Progress, device: Device, *, root: Path | None = None,
                 where: str = "", autocast: str = "", reuse: bool = True) -> None:
        self.config, self.progress, self.device = config, progress, device
        self.root, self._where, self._autocast, self.reuse = root, where, autocast, reuse
        self.stores: dict[str, OutputStore | None] = {}
        self.loaded: dict[str, _Loader] = {}
        from qa_gate.scoring.families import family_of

        self.timed = any(family_of(m.name, m.params).timed for s in config.suites for m in s.metrics)
        """An efficiency metric times the model: it is then loaded before scoring, as without a cache."""

    @classmethod
    def open(cls, config: GateConfig, overrides: Overrides, device: Device,
             dtype: torch.dtype | None) -> RunOutputs:
        """The run's cache as the options say: ``no_cache`` turns it off, ``cache_dir`` moves it, strict mode
        (``--mm-mode strict``) reads nothing from it; ``quiet`` silences the progress."""
        from qa_gate.scoring.device import autocast_label, device_label
        from qa_gate.scoring.stopwatch import cpu_model

        progress = Progress(quiet=bool(overrides.quiet))
        if overrides.no_cache:
            return cls(config, progress, device)
        where = f"cpu:{cpu_model()}" if device.type == "cpu" else device_label(device)
        return cls(config, progress, device, root=cache_dir(overrides), where=where, autocast=autocast_label(dtype),
                   reuse=overrides.mode != "strict")

    def _store(self, role: str, model: ModelConfig) -> OutputStore | None:
        """``role``'s store (made once); ``None`` when the cache is off or ``model`` cannot be cached."""
        if role not in self.stores:
            from qa_gate.adapters.load import checkpoint_digest

            store = None
            if self.root is not None:
                model = replace(model, batch_size=self.config.model.batch_size)  # the scorer runs in these batches
                digest = checkpoint_digest(model.adapter, model.checkpoint)
                if uncacheable(model, digest) is None:
                    folder = self.root / namespace(model, digest, self._where, self._autocast)[:40]
                    store = OutputStore(folder, self.progress.warn, read=self.reuse)
                    if store.writable:
                        prune(self.root, spare=folder)
            self.stores[role] = store
        return self.stores[role]

    def load(self, model: ModelConfig, demands: Sequence[Demand], role: str = "model") -> LoadedModel:
        """``model`` as ``demands`` need it: stand-ins from its card when it has one, else loaded (and its card
        stored). The scorer role loads a dual encoder (``load_scorer``)."""
        from qa_gate.adapters.load import LoadedModel, load_model, load_scorer

        def real() -> LoadedModel:
            import torch

            from qa_gate.scoring.device import as_torch

            device = as_torch(self.device)
            # a stand-in may first be called inside a batch's inference mode (and autocast): load as usual
            with torch.inference_mode(False), torch.autocast(device.type, enabled=False), \
                    quiet_loading(model.adapter):
                if role == "scorer":
                    encoder, info = load_scorer(model, device)
                    return LoadedModel(info, encoder=encoder)
                return load_model(model, device, demands)

        loader = self.loaded[role] = _Loader(real)
        store = self._store(role, model)
        name = _card_name(role, demands)
        card = store.card(name) if store is not None else None
        if card is None or card.get("card") != CARD_FORMAT or self.timed:  # timings never include the load
            loaded = loader.get()
            if store is not None:
                store.write_card(name, _card_of(loaded, (ENCODER, CAPTIONER, ANSWERER, CLASSIFIER)))
            return loaded
        info = CheckpointInfo(model.adapter, model.checkpoint, str(card["sha256"]), str(card["model_name"]))
        made = {n: _standin(n, loader, entry) for n, entry in dict(card["capabilities"]).items() if n in STANDINS}
        return LoadedModel(info, **made)  # type: ignore[arg-type]

    def suite(self, suite: Suite, suite_cfg: SuiteConfig, role: str = "model") -> SuiteCache:
        """The cache and progress bars of ``role``'s model on ``suite``; the timed operation of a suite with an
        efficiency metric is never read from the cache."""
        from qa_gate.scoring.families import family_of

        if role == "model":
            self.progress.end_suite()  # the previous suite is done
        timed = any(family_of(m.name, m.params).timed for m in suite_cfg.metrics)
        label = suite_cfg.name if role == "model" else f"{suite_cfg.name} ({role})"
        return SuiteCache(suite, self.stores.get(role), self.progress, label=label, reuse_images=not timed)

    def model_loaded(self, role: str = "model") -> bool:
        """Whether ``role``'s real model was loaded this run."""
        loader = self.loaded.get(role)
        return loader is not None and loader.model is not None

    def finish(self) -> None:
        """The run is scored: close every bar and say how much the cache served."""
        self.progress.end_suite()
        hits = sum(s.hits for s in self.stores.values() if s is not None)
        asked = hits + sum(s.misses for s in self.stores.values() if s is not None)
        if asked:
            loaded = "loaded" if any(self.model_loaded(r) for r in ROLES) else "not loaded"
            self.progress.write(f"mm-gate: output cache: {hits} of {asked} model outputs reused, model {loaded}")
        for store in self.stores.values():
            if store is not None:
                store.release()  # the entries read: as large as the suites' outputs


def cache_dir(overrides: Overrides) -> Path:
    """The cache directory: ``cache_dir`` when given (relative to the current folder), else the default."""
    if overrides.cache_dir is None:
        return default_dir()
    if not str(overrides.cache_dir).strip():
        from qa_gate.config.load import option_name

        raise ConfigError(f"{option_name('cache_dir', overrides)}: expected a folder path, got ''")
    return Path(overrides.cache_dir).absolute()
