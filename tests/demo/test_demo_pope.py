"""The demo POPE suite: one present and one absent object per image, drawn by split; the shipped POPE rules
pass the good checkpoint and fail the regressed one."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import yaml
from support.project import write_thresholds

from qa_gate.cli import main
from qa_gate.demo.shapes import COLOURS, SHAPES
from qa_gate.golden.suite import load_suite
from qa_gate.metrics.pope import queried_object

REPO = Path(__file__).resolve().parents[2]
CHECKPOINTS = REPO / "qa_gate" / "demo" / "checkpoints"


def test_each_image_asks_about_one_present_and_one_absent_object() -> None:
    suite = load_suite(REPO / "golden" / "pope")
    by_image: dict[str, list] = {}
    for sample in suite.samples:
        by_image.setdefault(sample.image_path.read_bytes().hex(), []).append(sample)
    assert Counter(len(group) for group in by_image.values()) == {2: 40}
    for yes, no in by_image.values():
        colour, shape, split = yes.tags["colour"], yes.tags["shape"], yes.tags["pope_split"]
        assert (yes.answer, no.answer) == ("yes", "no") and no.tags == yes.tags
        assert queried_object(yes.question, yes.tags) == f"{colour} {shape}"
        asked_colour, asked_shape = str(queried_object(no.question, no.tags)).split()
        assert asked_colour in COLOURS and asked_shape in SHAPES and (asked_colour, asked_shape) != (colour, shape)
        if split == "adversarial":
            assert asked_shape == shape
    assert Counter(s.tags["pope_split"] for s in suite.samples) == {"random": 40, "adversarial": 40}


@pytest.mark.parametrize("checkpoint, failing", [("good", False), ("regressed", True)])
def test_shipped_pope_floors_pass_good_and_fail_regressed(checkpoint: str, failing: bool, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    shipped = yaml.safe_load((REPO / "thresholds.yaml").read_text(encoding="utf-8"))["suites"]["pope"]
    for rules in (shipped["metrics"], *shipped["slices"].values()):
        for metric in rules.values():
            metric.pop("max_drop", None)  # floors only: regressions need the recorded baseline
    path = write_thresholds(tmp_path, model={"adapter": "open_clip", "checkpoint": CHECKPOINTS / checkpoint,
                                             "device": "cpu"},
                            suites={"pope": {**shipped, "path": REPO / "golden" / "pope"}},
                            baseline={"path": "baseline.json"})
    code = main(["run", "--thresholds", str(path), "--quiet"])
    out = capsys.readouterr().out
    assert code == (1 if failing else 0), out
    failed = {line.split()[1] for line in out.splitlines() if line.strip().startswith("fail ")}
    if failing:
        assert {"pope::pope_accuracy::min", "pope::pope_f1::min", "pope[pope_split=adversarial]::pope_f1::min"} \
            <= failed
    else:
        assert not failed
