"""A broken model is an input error, never a score: NaN embeddings stop VQA answer ranking, multilabel F1
and CLIPScore; inf logits and raw logits from a classifier are refused; through the CLI each broken
checkpoint or adapter exits 4 with one line and no traceback, and nothing is written.

The models are real: the demo's trained tiny CLIP (``qa_gate/demo/checkpoints/good``) with one weight
poisoned, and a tiny transformers ViT multilabel classifier.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from safetensors.torch import load_file, save_file
from support.project import write_thresholds
from support.tiny_models import build_tiny_multilabel_classifier

from qa_gate.errors import AdapterError
from qa_gate.pipeline import prepare, score

REPO = Path(__file__).resolve().parents[2]
GOOD = REPO / "qa_gate" / "demo" / "checkpoints" / "good"
WEIGHTS = "open_clip_model.safetensors"
LABELS = ("red", "green", "blue", "yellow", "purple", "circle", "square", "triangle", "cross")
"""The label set of ``golden/multilabel``."""


def _poisoned(folder: Path, key: str = "visual.proj") -> Path:
    """A copy of the good checkpoint with ``key`` set to NaN (every image embedding is NaN)."""
    shutil.copytree(GOOD, folder)
    state = load_file(folder / WEIGHTS)
    state[key] = state[key].clone().fill_(float("nan"))
    save_file(state, folder / WEIGHTS)
    return folder


@pytest.fixture(scope="module")
def nan_images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _poisoned(tmp_path_factory.mktemp("nan") / "ckpt")


def _thresholds(folder: Path, model: dict, suite: str, metrics: dict) -> Path:
    return write_thresholds(folder, model={"device": "cpu", "batch_size": 32, **model},
                            suites={suite: {"path": REPO / "golden" / suite, "metrics": metrics}},
                            baseline={"path": "baseline.json"}, report={"path": "report.md"})


@pytest.mark.parametrize(("suite", "metrics", "count"), [
    ("vqa", {"vqa_accuracy": {"min": 0.0}}, 80),  # answer ranking: argmax over NaN would pick the first choice
    ("multilabel", {"f1_micro": {"min": 0.0}}, 60),  # prompt scoring: a NaN score is no label
    ("retrieval", {"clipscore": {"min": 0.0}}, None),  # "nan" would be scored
])
def test_nan_image_embeddings_stop_the_run(tmp_path: Path, nan_images: Path, suite: str, metrics: dict,
                                           count: int | None) -> None:
    path = _thresholds(tmp_path, {"adapter": "open_clip", "checkpoint": nan_images}, suite, metrics)
    with pytest.raises(AdapterError) as info:
        score(prepare(path))
    message = str(info.value)
    assert message.startswith("model.adapter: 'open_clip': its image encoding returned ")
    assert "non-finite value(s) (NaN or inf) for " in message
    if count is not None:
        assert f"for {count} of {count} samples ('red-circle-000', " in message


@pytest.fixture(scope="module")
def classifier_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_multilabel_classifier(tmp_path_factory.mktemp("vit") / "ckpt", LABELS)


def test_inf_logits_of_a_classifier_are_refused(tmp_path: Path, classifier_dir: Path) -> None:
    """sigmoid(inf) would read as a certain 1.0: the classifier's score for that label becomes NaN, refused."""
    import torch
    from transformers import ViTForImageClassification

    model = ViTForImageClassification.from_pretrained(classifier_dir)
    with torch.no_grad():
        model.classifier.bias[LABELS.index("square")] = float("inf")
    model.save_pretrained(tmp_path / "ckpt")
    for name in ("preprocessor_config.json",):
        shutil.copy(classifier_dir / name, tmp_path / "ckpt" / name)

    path = _thresholds(tmp_path, {"adapter": "transformers", "checkpoint": tmp_path / "ckpt"}, "multilabel",
                       {"f1_micro": {"min": 0.0}})
    with pytest.raises(AdapterError) as info:
        score(prepare(path))
    assert str(info.value).startswith(
        "model.adapter: 'transformers': its classification returned 60 non-finite value(s) (NaN or inf) for 60 of "
        "60 samples ('red-circle-000', ")


LOGITS_ADAPTER = '''
import torch
from transformers import ViTForImageClassification, ViTImageProcessor


class Logits:
    """A real classifier whose author forgot the sigmoid."""

    settings = {"scores": "logits"}

    def __init__(self, model_config, device):
        self.model = ViTForImageClassification.from_pretrained(model_config.checkpoint).eval()
        self.processor = ViTImageProcessor.from_pretrained(model_config.checkpoint)
        self.labels = [self.model.config.id2label[i] for i in range(self.model.config.num_labels)]

    def label_scores(self, images):
        return self.model(**self.processor(images=list(images), return_tensors="pt")).logits
'''


def test_scores_outside_0_1_are_refused(tmp_path: Path, classifier_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "logits_adapter_e2e.py").write_text(LOGITS_ADAPTER, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "logits_adapter_e2e", raising=False)
    path = _thresholds(tmp_path, {"adapter": "logits_adapter_e2e:Logits", "checkpoint": classifier_dir},
                       "multilabel", {"f1_micro": {"min": 0.0}})
    with pytest.raises(AdapterError, match=r"^model\.adapter: 'logits_adapter_e2e:Logits': its classifier returned "
                                           r"scores outside \[0, 1\] for \d+ of 60 samples \(first: "
                                           r"'red-circle-000', .+\); expected probabilities"):
        score(prepare(path))
    sys.modules.pop("logits_adapter_e2e", None)


# --- through the CLI: exit 4, one line, no traceback, nothing written


def _truncated(folder: Path) -> tuple[Path, str]:
    shutil.copytree(GOOD, folder)
    data = (folder / WEIGHTS).read_bytes()
    (folder / WEIGHTS).write_bytes(data[:1000])
    return folder, f"open_clip could not load the weights file '{folder / WEIGHTS}': SafetensorError: "


def _renamed(folder: Path) -> tuple[Path, str]:
    shutil.copytree(GOOD, folder)
    (folder / WEIGHTS).rename(folder / "model.pt")
    return folder, "has no weights file that open_clip loads"


def _nan(folder: Path) -> tuple[Path, str]:
    return _poisoned(folder), "its image encoding returned "


def _missing_key(folder: Path) -> tuple[Path, str]:
    shutil.copytree(GOOD, folder)
    state = load_file(folder / WEIGHTS)
    del state["text_projection"]
    save_file(state, folder / WEIGHTS)
    return folder, "lacks 1 of the model's 62 weights (first: 'text_projection'), which would be random"


@pytest.mark.parametrize("broken", [_truncated, _renamed, _nan, _missing_key])
def test_cli_exits_4_on_a_broken_checkpoint(tmp_path: Path, broken) -> None:
    checkpoint, expected = broken(tmp_path / "ckpt")
    path = _thresholds(tmp_path, {"adapter": "open_clip", "checkpoint": checkpoint}, "retrieval",
                       {"clipscore": {"min": 0.0}})
    done = subprocess.run([sys.executable, "-m", "qa_gate.cli", "run", "--thresholds", str(path), "--update-baseline"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 4, done.stdout + done.stderr
    assert expected in done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert not (tmp_path / "baseline.json").exists()


def test_cli_exits_4_when_a_user_adapter_raises(tmp_path: Path) -> None:
    (tmp_path / "raising_adapter_e2e.py").write_text(
        "def make(model_config, device):\n    raise OSError('no GPU driver found')\n", encoding="utf-8")
    path = _thresholds(tmp_path, {"adapter": "raising_adapter_e2e:make", "checkpoint": "v3"}, "retrieval",
                       {"clipscore": {"min": 0.0}})
    done = subprocess.run([sys.executable, "-m", "qa_gate.cli", "run", "--thresholds", str(path)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 4, done.stdout + done.stderr
    assert ("model.adapter: 'raising_adapter_e2e:make' raised OSError in its factory make(model_config, device): "
            "no GPU driver found") in done.stderr
    assert "Traceback" not in done.stdout + done.stderr
