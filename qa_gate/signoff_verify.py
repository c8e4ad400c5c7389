"""Verifying a release sign-off: does the record at its tag still hold, and does it prove what it says?

:func:`verify` reads ``signoffs/<tag>.json`` from the tag's commit and checks, one item each: the tag's
signature (``git verify-tag``; reported, failed only with ``require_signed``); the checkpoint's sha256
and every golden suite's fingerprint on disk; the recorded rules (each check's rule and the gate
settings) against the thresholds file committed at the tag; the recorded baseline digest against the
baseline committed at the tag; the recorded rules **re-judged** on the recorded results (a record whose
``passed`` contradicts its own checks or values fails, naming the check); and, with ``rescore``, a fresh
score: each metric within ``tolerance`` of the record, and the recorded rules re-judged on it. A record
without rules or results (written by hand, or by an older qa_gate) fails with a line saying so.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from qa_gate.config.model import GateConfig, MetricConfig, ModelConfig, Overrides, Rule, SliceConfig, SuiteConfig
from qa_gate.errors import AdapterError, GateError, GoldenError, first_line
from qa_gate.gitrepo import NotAFile, blob_at
from qa_gate.signed_tags import GOOD, tag_signature
from qa_gate.signoff import in_work_tree, read_record, repository
from qa_gate.signoff_record import MODE, SignoffError, SignoffRecord, Verification, VerifyItem
from qa_gate.verdict.checks import Status, check_id
from qa_gate.verdict.record import run_digest

if TYPE_CHECKING:
    import git

    from qa_gate.results import RunResult

RuleKey = tuple[str, float, "str | None", "float | None"]


def verify(thresholds: Path, tag: str, overrides: Overrides = Overrides(), rescore: bool = True,
           tolerance: float = 1e-6, require_signed: bool = False) -> Verification:
    """Re-check and re-judge the sign-off at ``tag`` (see the module docstring).

    The checkpoint is the recorded one, relative to the thresholds folder, unless
    ``overrides.checkpoint`` names another (relative to the current directory).
    """
    if not tolerance >= 0:
        raise SignoffError(f"--tolerance {tolerance}: expected a number >= 0")
    record, tagged = read_record(thresholds, tag)
    repo, root = repository(thresholds)
    items = [_signature(repo, tag, require_signed)]
    hashes, location = _hashes(thresholds, record, overrides)
    items += hashes
    config, baseline = None, None
    if record.gate is None or record.results is None or not record.checks:
        items.append(VerifyItem("recorded rules and results", False, "", "none in this record (written by hand, "
                                "or by an older qa_gate): its verdict cannot be re-judged, so it proves nothing; "
                                "sign off again with this version"))
    else:
        at_tag = _thresholds_at(repo, root, thresholds, tagged, tag, record)
        if isinstance(at_tag, VerifyItem):
            items.append(at_tag)
        else:
            items += _rule_items(record, at_tag, tag)
            baseline, item = _baseline_at(repo, root, at_tag, tagged, tag, record)
            items.append(item)
        config = record_config(record, Path(thresholds).absolute())
        items += _recorded_verdict(record, baseline, config, tolerance)
    if rescore:
        given = replace(overrides, checkpoint=location, adapter=overrides.adapter or record.checkpoint.adapter)
        scored, fresh = _rescore(thresholds, record, given, tolerance)
        items += scored
        if fresh is not None and config is not None:
            items += _rejudge("the fresh scores", record, fresh, baseline, config, None)
    return Verification(record, tagged, tuple(items))


def _signature(repo: git.Repo, tag: str, require: bool) -> VerifyItem:
    found = tag_signature(repo, tag)
    shown = found.describe() + ("" if found.state == GOOD or require else "; --require-signed would fail it")
    ok = found.state == GOOD or not require
    return VerifyItem(f"tag {tag} signature", ok, "", shown + ("" if ok else " (--require-signed)"),
                      warn=found.state != GOOD)


def _hashes(thresholds: Path, record: SignoffRecord, overrides: Overrides) -> tuple[list[VerifyItem], str]:
    """The checkpoint's sha256 and each suite's fingerprint, now; and where the checkpoint was looked for."""
    from qa_gate.adapters.load import checkpoint_digest
    from qa_gate.golden.suite import load_suite

    base, cp = Path(thresholds).absolute().parent, record.checkpoint
    candidate = (Path.cwd() if overrides.checkpoint else base) / Path(overrides.checkpoint or cp.checkpoint)
    location = str(candidate.resolve()) if candidate.exists() else overrides.checkpoint or cp.checkpoint
    now = checkpoint_digest(overrides.adapter or cp.adapter, location)
    if now.startswith("unhashed:") and not cp.sha256.startswith("unhashed:"):
        now = f"missing ({location})"
    items = [VerifyItem(f"checkpoint {cp.checkpoint} sha256", now == cp.sha256, cp.sha256, now)]
    for name, suite in record.suites.items():
        try:
            found = load_suite(base / suite.label, name).fingerprint
        except GateError as exc:
            found = f"unreadable ({first_line(exc)})"
        items.append(VerifyItem(f"suite {name} ({suite.label}) fingerprint", found == suite.fingerprint,
                                suite.fingerprint, found))
    return items, location


def _thresholds_at(repo: git.Repo, root: Path, thresholds: Path, tagged: str, tag: str,
                   record: SignoffRecord) -> GateConfig | VerifyItem:
    """The thresholds file as committed at the tag, parsed in strict mode as the sign-off ran it."""
    from qa_gate.config.load import load_config

    rel = in_work_tree(Path(thresholds).absolute(), root)
    what = f"thresholds file at tag {tag}"
    try:
        blob = None if rel is None else blob_at(repo, tagged, rel)
    except NotAFile as exc:
        return VerifyItem(what, False, "the rules signed off", str(exc))
    if blob is None:
        return VerifyItem(what, False, "the rules signed off", f"{rel or thresholds} is not committed at the tag")
    ci = {"CI": "true"} if (record.gate or {}).get("missing_baseline") == "fail" else {}  # the same default
    try:
        return load_config(Path(thresholds).absolute(), Overrides(mode=MODE), content=blob,
                           label=f"{rel} at tag {tag}", environ=ci)
    except GateError as exc:
        return VerifyItem(what, False, "the rules signed off", f"cannot be read ({first_line(exc)})")


def _key(kind: str, value: Any, mode: Any, confidence: Any) -> RuleKey:
    floor = kind in ("min", "max")
    return (kind, float(value), None if floor else str(mode),
            None if floor or confidence is None else float(confidence))


def _shown(key: RuleKey) -> str:
    kind, value, mode, confidence = key
    if mode is None:
        return f"{kind} {value:g}"
    return f"{kind} {value:g} ({mode}, {'?' if confidence is None else f'{confidence:.0%}'})"


def _config_rules(config: GateConfig) -> dict[str, RuleKey]:
    return {check_id(suite.name, where, metric.name, rule.kind): _key(rule.kind, rule.value, rule.mode, rule.confidence)
            for suite in config.suites
            for where, metrics in ((None, suite.metrics), *((s.slice, s.metrics) for s in suite.slices))
            for metric in metrics for rule in metric.rules}


def _rule_items(record: SignoffRecord, config: GateConfig, tag: str) -> list[VerifyItem]:
    """The recorded rules and gate settings must be the thresholds file's at the tag, rule by rule."""
    recorded = {str(c["id"]): _key(c["rule"]["kind"], c["rule"]["value"], c["rule"].get("mode"),
                                   c["rule"].get("confidence")) for c in record.checks}
    at_tag, where = _config_rules(config), f"thresholds file at tag {tag}"
    items = [VerifyItem(f"rule {cid}", False, _shown(recorded[cid]) if cid in recorded else "no such rule",
                        f"{where}: {_shown(at_tag[cid]) if cid in at_tag else 'no such rule'}")
             for cid in dict.fromkeys([*recorded, *at_tag]) if recorded.get(cid) != at_tag.get(cid)]
    gate = record.gate or {}
    items += [VerifyItem(f"gate.{key}", False, str(gate.get(key)), f"{where}: {getattr(config, key)}")
              for key in ("resamples", "seed", "missing_baseline") if gate.get(key) != getattr(config, key)]
    return items or [VerifyItem("rules", True, "", f"the {len(recorded)} recorded rules and the gate settings equal "
                                                   f"the {where}")]


def _baseline_at(repo: git.Repo, root: Path, config: GateConfig, tagged: str, tag: str,
                 record: SignoffRecord) -> tuple[RunResult | None, VerifyItem]:
    """The baseline committed at the tag (JSON and per-sample file from git objects), and whether it is the
    one the record was judged against."""
    from qa_gate.baseline.run_json import parse_baseline

    rel = in_work_tree(config.baseline_path, root)
    what, expected = f"baseline at tag {tag}", str((record.baseline or {}).get("sha256"))
    if rel is None:
        return None, VerifyItem(what, False, expected, f"{config.baseline_path} is outside the repository")

    def sample_files(name: str) -> tuple[str, list[bytes]]:
        folder = PurePosixPath(rel).parent
        data = blob_at(repo, tagged, (folder / name).as_posix())
        return f"{(folder / name).as_posix()} at tag {tag}", [] if data is None else [data]

    try:
        blob = blob_at(repo, tagged, rel)
        baseline = None if blob is None else parse_baseline(blob, f"{rel} at tag {tag}", sample_files)
    except GateError as exc:
        return None, VerifyItem(what, False, expected, f"unreadable ({first_line(exc)})")
    digest = str(run_digest(baseline))
    return baseline, VerifyItem(f"{what} ({rel}) sha256", digest == expected, expected,
                                digest if baseline is not None else "no baseline committed there")


def record_config(record: SignoffRecord, source: Path) -> GateConfig:
    """A config holding exactly the recorded rules and gate settings, to re-judge results with."""
    gate = record.gate or {}
    groups: dict[str, dict[str | None, dict[str, list[Rule]]]] = {}
    for c in record.checks:
        r = c["rule"]
        rule = Rule(str(r["kind"]), float(r["value"]), str(r.get("mode") or gate.get("mode", Rule.mode)),
                    float(r.get("confidence") or gate.get("confidence", Rule.confidence)))
        by_metric = groups.setdefault(str(c["suite"]), {}).setdefault(c.get("slice"), {})
        by_metric.setdefault(str(c["metric"]), []).append(rule)

    def metrics(group: dict[str, list[Rule]]) -> tuple[MetricConfig, ...]:
        return tuple(MetricConfig(name, rules=tuple(rules)) for name, rules in group.items())

    suites = []
    for name, by_slice in groups.items():
        label = record.suites[name].label if name in record.suites else name
        slices = tuple(SliceConfig(s, *s.partition("=")[::2], metrics(g)) for s, g in by_slice.items() if s)
        suites.append(SuiteConfig(name, source.parent / label, label, metrics(by_slice.get(None, {})), slices))
    cp = record.checkpoint
    return GateConfig(source=source, version=1, model=ModelConfig(cp.adapter, cp.checkpoint), suites=tuple(suites),
                      baseline_path=source.parent / "baseline.json", report_path=None,
                      resamples=int(gate.get("resamples", GateConfig.resamples)), seed=int(gate.get("seed", 0)),
                      mode=str(gate.get("mode", MODE)), confidence=float(gate.get("confidence", Rule.confidence)),
                      missing_baseline=str(gate.get("missing_baseline", "warn")),
                      missing_baseline_why=str(gate.get("missing_baseline_why", "the record")))


def _failing(status: Any) -> bool:
    try:
        return Status(status).failed
    except ValueError:
        return True


def _recorded_verdict(record: SignoffRecord, baseline: RunResult | None, config: GateConfig,
                      tolerance: float) -> list[VerifyItem]:
    """The record must not contradict itself, and its rules must give its outcomes on its own results."""
    from qa_gate.baseline.run_json import run_from_json

    items = [VerifyItem(f"recorded verdict: check {c['id']}", False, f"passed: {record.passed}",
                        f"the record says passed, but this check is recorded as {c['status']}")
             for c in record.checks if record.passed and _failing(c.get("status"))]
    if not record.passed:
        items.append(VerifyItem("recorded verdict", False, "passed", "the record says the strict gate failed"))
    try:
        run = run_from_json(record.results, "the recorded results")
    except GateError as exc:
        return [*items, VerifyItem("recorded results", False, "a scored run", first_line(exc))]
    return items + _rejudge("the recorded results", record, run, baseline, config, tolerance)


def _rejudge(what: str, record: SignoffRecord, run: RunResult, baseline: RunResult | None, config: GateConfig,
             tolerance: float | None) -> list[VerifyItem]:
    """The recorded rules judged again on ``run``: each check must give its recorded status (and, when
    ``tolerance`` is given, its recorded value)."""
    from qa_gate.verdict.gate import evaluate

    try:
        judged = {c.id: c for c in evaluate(run, baseline, config).checks}
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        return [VerifyItem(f"re-judged on {what}", False, "every check", f"cannot be judged ({type(exc).__name__}: "
                                                                          f"{first_line(exc)})")]
    items = []
    for rec in record.checks:
        now, was = judged.get(str(rec["id"])), f"{rec['status']} (value {rec.get('value')})"
        if now is None:
            items.append(VerifyItem(f"{rec['id']} re-judged on {what}", False, was, "not judged: no such result"))
        elif now.status.value != rec["status"] or now.status.failed or (
                tolerance is not None and not abs(now.value - float(rec.get("value") or "nan")) <= tolerance):
            items.append(VerifyItem(f"{rec['id']} re-judged on {what}", False, was,
                                    f"{now.status.value} (value {now.value:.6f}): {now.message}"))
    return items or [VerifyItem(f"re-judged on {what}", True, "", f"the recorded rules give the recorded outcome "
                                                                   f"on all {len(record.checks)} checks")]


def _rescore(thresholds: Path, record: SignoffRecord, overrides: Overrides,
             tolerance: float) -> tuple[list[VerifyItem], RunResult | None]:
    """Score again and compare each recorded metric: same definition, value within ``tolerance``."""
    from qa_gate.pipeline import prepare, score

    try:
        run = score(prepare(thresholds, replace(overrides, no_cache=True)))  # never from the cache
    except (GoldenError, AdapterError) as exc:
        return [VerifyItem("metrics", False, "scored", f"cannot re-score ({first_line(exc)})")], None
    items = []
    for name, suite in record.suites.items():
        scored = run.suite(name)
        for metric, was in suite.metrics.items():
            item, value = f"metric {name}/{metric}", f"{was['value']:.6f}"
            now = None if scored is None else scored.metrics.get(metric)
            if now is None:
                items.append(VerifyItem(item, False, value, "not scored (not in the thresholds file)"))
            elif now.fingerprint != was["fingerprint"]:
                items.append(VerifyItem(item, False, f"definition {was['fingerprint']}",
                                        f"definition {now.fingerprint}"))
            else:
                diff = abs(now.value - was["value"])
                items.append(VerifyItem(item, diff <= tolerance, value,
                                        f"{now.value:.6f} (|Δ| {diff:.2g}, tolerance {tolerance:g})"))
    return items, run

