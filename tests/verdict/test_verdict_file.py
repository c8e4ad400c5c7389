"""mm-gate-verdict.json: what it holds, reading it back, stale files, and its agreement with JUnit XML."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from support.runs import RED_SLICE, judge, one_metric_config

from qa_gate.baseline.run_json import dumps
from qa_gate.config.model import Rule
from qa_gate.pipeline import Prepared, deliver
from qa_gate.verdict import record
from qa_gate.verdict.checks import Status
from qa_gate.verdict.junit import check_verdict, disagreements, read_junit
from qa_gate.verdict.record import VerdictFileError


def _strict_json(text: str) -> object:
    def refuse(name: str) -> float:
        raise AssertionError(f"{name} is not JSON")
    return json.loads(text, parse_constant=refuse)


@pytest.fixture
def thresholds(tmp_path: Path) -> Path:
    path = tmp_path / "thresholds.yaml"
    path.write_text("version: 1\n# the rules of this verdict\n")
    return path


def _verdict(thresholds: Path):
    verdict = judge(slices=(RED_SLICE,))
    skipped = dataclasses.replace(verdict.checks[0], metric="meteor", value=math.nan, baseline=None,
                                  status=Status.SKIPPED, message="needs Java")
    verdict = dataclasses.replace(verdict, checks=(*verdict.checks, skipped), bar_changes=("max_drop 0.02 → 5",),
                                  changes=("changes the baseline",), cautions=("model.allow_pickle is on",))
    return verdict, dataclasses.replace(one_metric_config(slices=(RED_SLICE,)), source=thresholds)


def test_the_file_holds_the_verdict_its_checks_and_the_hashes_of_its_inputs(thresholds: Path) -> None:
    verdict, config = _verdict(thresholds)
    data = _strict_json(json.dumps(record.verdict_json(verdict, config), allow_nan=False))
    assert isinstance(data, dict)
    assert (data["format"], data["version"], data["finished"], data["passed"]) == ("qa-gate-verdict", 1, True, False)
    ids = [c.id for c in verdict.checks]
    assert [c["id"] for c in data["checks"]] == ids
    assert "shapes[colour=red]::clipscore::max_drop" in ids
    failed = [c.id for c in verdict.checks if c.status in (Status.FAIL, Status.INCOMPARABLE)]
    assert failed and [c["id"] for c in data["checks"] if c["outcome"] == "failed"] == failed
    assert data["counts"] == {"checks": len(ids), "failed": len(failed), "skipped": 1, "no_baseline": 0}
    meteor = data["checks"][-1]
    assert meteor["outcome"] == "skipped" and meteor["value"] is None and meteor["delta"] is None
    drop = next(c for c in data["checks"] if c["id"] == "shapes::clipscore::max_drop")
    assert drop["rule"] == {"kind": "max_drop", "value": 0.02, "mode": "significant", "confidence": 0.95}
    assert drop["estimate"]["drop"] == pytest.approx(verdict.checks[1].estimate.drop)
    assert data["bar_changes"] == ["max_drop 0.02 → 5"] and data["cautions"] == ["model.allow_pickle is on"]
    inputs = data["inputs"]
    assert inputs["thresholds"]["sha256"] == hashlib.sha256(thresholds.read_bytes()).hexdigest()
    assert inputs["baseline"] == {"source": "file:baseline.json",
                                  "sha256": hashlib.sha256(dumps(verdict.baseline).encode()).hexdigest()}
    assert inputs["checkpoint"]["sha256"] == "a1" * 32
    assert inputs["suites"] == {"shapes": {"label": "golden/shapes", "fingerprint": "5f1e", "samples": 6}}


def test_written_then_read_back(thresholds: Path, tmp_path: Path) -> None:
    verdict, config = _verdict(thresholds)
    path = record.write(tmp_path / "out" / "mm-gate-verdict.json", record.verdict_json(verdict, config))
    back = record.read(path)
    assert back.passed is False and [c.id for c in back.checks] == [c.id for c in verdict.checks]
    assert back.bar_changes == ("max_drop 0.02 → 5",)
    assert abs(back.created - datetime.now(timezone.utc)) < timedelta(minutes=1)
    assert "verdict FAILED (" in back.summary() and "1 skipped" in back.summary()


@pytest.mark.parametrize(("content", "said"), [
    (None, "no verdict file"),
    ("{not json", "not JSON"),
    ('{"format": "qa-gate-baseline", "version": 1}', "not a version 1 mm-gate verdict file"),
    ('{"format": "qa-gate-verdict", "version": 1, "finished": true, "passed": true, "created": "x", "checks": []}',
     "not an ISO 8601 time"),
    ('{"format": "qa-gate-verdict", "version": 1, "finished": true, "passed": "yes", "created": '
     '"2026-01-01T00:00:00+00:00", "checks": []}', "malformed verdict file"),
])
def test_unusable_files_are_one_line_errors(tmp_path: Path, content: str | None, said: str) -> None:
    path = tmp_path / "mm-gate-verdict.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(VerdictFileError, match=said):
        record.read(path)


def test_a_stale_verdict_is_retired_and_other_files_are_left_alone(thresholds: Path, tmp_path: Path) -> None:
    verdict, config = _verdict(thresholds)
    stale = record.write(tmp_path / "mm-gate-verdict.json", {**record.verdict_json(verdict, config), "passed": True})
    assert record.retire(stale)
    with pytest.raises(VerdictFileError, match="did not finish .*a run started at"):
        record.read(stale)
    other = tmp_path / "notes.json"
    other.write_text('{"passed": true}')
    assert not record.retire(other) and other.read_text() == '{"passed": true}'
    assert not record.retire(tmp_path / "absent.json") and not (tmp_path / "absent.json").exists()


def test_a_refused_baseline_update_leaves_an_unfinished_verdict(thresholds: Path, tmp_path: Path) -> None:
    verdict = judge(rules=(Rule("min", 0.9),))  # the floor fails: a baseline update is refused
    config = dataclasses.replace(one_metric_config(), source=thresholds, baseline_path=tmp_path / "baseline.json")
    target = record.write(tmp_path / "mm-gate-verdict.json", {**record.verdict_json(verdict, config), "passed": True})
    done = deliver(Prepared(config, ()), verdict, html=None, update_baseline=True, verdict_file=target)
    assert done.refused is not None and "floors fail" in done.refused
    assert not (tmp_path / "baseline.json").exists()
    with pytest.raises(VerdictFileError, match="did not finish .*exit 4: baseline not updated"):
        record.read(target)
    done = deliver(Prepared(config, ()), verdict, html=None, update_baseline=False, verdict_file=target,
                   interrupted=True)
    with pytest.raises(VerdictFileError, match="interrupted"):
        record.read(target)
    done = deliver(Prepared(config, ()), verdict, html=None, update_baseline=False, verdict_file=target)
    assert done.refused is None and done.lines[-1] == f"mm-gate: verdict file written to {target}"
    assert record.read(target).passed is False


JUNIT = """<?xml version="1.0" encoding="utf-8"?><testsuites name="pytest tests"><testsuite name="pytest"
 errors="0" failures="1" skipped="1" tests="{n}" time="{time}" timestamp="{start}" hostname="ci">{cases}</testsuite>
</testsuites>"""
"""pytest's ``--junitxml`` layout (xunit2): one testsuite, a testcase per item, properties from user_properties."""


def _case(check_id: str, outcome: str, prop: bool = True) -> str:
    where, _, kind = check_id.rpartition("::")
    classname = where.replace("::", ".")
    body = {"failed": '<failure message="broken">broken</failure>', "passed": "",
            "skipped": '<skipped message="x" type="pytest.skip"/>'}[outcome]
    props = f'<properties><property name="mm_gate_check" value="{check_id}"/></properties>' if prop else ""
    return (f'<testcase classname="{classname}" name="{kind}" file="thresholds.yaml" time="0.001">{props}{body}'
            "</testcase>")


def _junit(tmp_path: Path, cases: list[str], start: datetime, seconds: float = 30.0) -> Path:
    path = tmp_path / "junit.xml"
    path.write_text(JUNIT.format(n=len(cases), time=seconds, start=start.isoformat(), cases="".join(cases)))
    return path


def _outcomes(verdict) -> list[tuple[str, str]]:
    return [(c.id, record.outcome(c)) for c in verdict.checks]


@pytest.mark.parametrize("with_properties", [True, False])
def test_a_junit_that_agrees(thresholds: Path, tmp_path: Path, with_properties: bool) -> None:
    verdict, config = _verdict(thresholds)
    start = datetime.now(timezone.utc) - timedelta(seconds=10)
    path = record.write(tmp_path / "v.json", record.verdict_json(verdict, config))
    cases = [_case(i, o, with_properties) for i, o in _outcomes(verdict)] + [_case("tests.test_mine::ok", "passed",
                                                                                   prop=False)]
    junit = _junit(tmp_path, cases, start)
    assert disagreements(record.read(path), read_junit(junit)) == []
    ok, lines = check_verdict(path, junit)
    assert not ok  # the verdict itself failed
    assert lines[-1] == "mm-gate check-verdict: FAILED" and "agrees with" in lines[-2]
    assert f"({len(verdict.checks)} gate testcases of {len(verdict.checks) + 1})" in lines[-2]


def test_every_disagreement_is_one_line(thresholds: Path, tmp_path: Path) -> None:
    verdict, config = _verdict(thresholds)
    path = record.write(tmp_path / "v.json", record.verdict_json(verdict, config))
    outcomes = _outcomes(verdict)
    rewritten = [_case(i, "passed") for i, _ in outcomes[1:]]  # all pass, and the first check is missing
    extra = _case("shapes::cosine::min", "passed")
    junit = _junit(tmp_path, [*rewritten, extra], datetime.now(timezone.utc))
    found = disagreements(record.read(path), read_junit(junit))
    failed = [i for i, o in outcomes[1:] if o == "failed"]
    assert failed
    assert any(line.startswith(f"{outcomes[0][0]}: the verdict says {outcomes[0][1]}, but ") and "no such testcase"
               in line for line in found)
    for check_id in failed:
        assert any(line.startswith(f"{check_id}: the verdict says failed, {junit} says passed") for line in found)
    assert any(line.startswith("shapes::cosine::min: ") and "has no such check" in line for line in found)


def test_a_verdict_that_contradicts_itself_or_is_older_than_the_session(thresholds: Path, tmp_path: Path) -> None:
    verdict, config = _verdict(thresholds)
    data = {**record.verdict_json(verdict, config), "passed": True}
    path = record.write(tmp_path / "v.json", data)
    later = datetime.now(timezone.utc) + timedelta(minutes=5)
    junit = _junit(tmp_path, [_case(i, o) for i, o in _outcomes(verdict)], later)
    found = disagreements(record.read(path), read_junit(junit))
    assert any(line.startswith("the verdict file says passed, but ") for line in found)
    assert any("left from an earlier run" in line for line in found)
    junit = _junit(tmp_path, [_case(i, o) for i, o in _outcomes(verdict)], later - timedelta(hours=1), seconds=60)
    assert any("after the pytest session" in line for line in disagreements(record.read(path), read_junit(junit)))


@pytest.mark.parametrize(("content", "said"), [(None, "no JUnit XML file"), ("<testsuites", "not readable JUnit XML"),
                                                ("<html/>", "the root element is <html>")])
def test_an_unusable_junit_is_a_one_line_error(tmp_path: Path, content: str | None, said: str) -> None:
    path = tmp_path / "junit.xml"
    if content is not None:
        path.write_text(content)
    with pytest.raises(VerdictFileError, match=said):
        read_junit(path)
