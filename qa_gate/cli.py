"""``mm-gate``: the command-line face, calling the same core as the pytest plugin.

Exit codes, as ``pytest --mm-gate`` (:mod:`qa_gate.faults`): 0 passed, 1 the gate failed,
2 interrupted, 4 a usage or input error (a bad option included) or an internal error.
Errors are one line on stderr; ``--debug`` adds the traceback.
"""

from __future__ import annotations

import argparse
import gc
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from qa_gate import __version__
from qa_gate.config.load import load_config
from qa_gate.config.model import Overrides
from qa_gate.errors import GateError
from qa_gate.faults import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    Outputs,
    internal_error_line,
    interrupted_line,
)
from qa_gate.golden.imports.command import add_import_parser

__all__ = ["EXIT_FAILED", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_USAGE", "build_parser", "main"]


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors exit 4 (argparse's own code is 2, which here means interrupted)."""

    def error(self, message: str) -> NoReturn:
        """One line on stderr, then exit code 4."""
        self.exit(EXIT_USAGE, f"mm-gate: error: {message} (see '{self.prog} --help')\n")


class _Interrupted(Exception):
    """A ``KeyboardInterrupt`` in a run, with the line saying what it had written."""


def _debug_option() -> _Parser:
    """``--debug`` after a subcommand too (``mm-gate run --debug``), without overriding ``mm-gate --debug run``."""
    parent = _Parser(add_help=False)
    parent.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show the traceback of an error")
    return parent


def _model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--thresholds", type=Path, default=Path("thresholds.yaml"), help="thresholds file")
    parser.add_argument("--checkpoint", help="checkpoint under test (overrides model.checkpoint)")
    parser.add_argument("--adapter", help="open_clip, transformers or module:attr")
    parser.add_argument("--model-name", help="open_clip architecture or config .json")
    parser.add_argument("--device", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--dtype", help="auto, float32, float16 or bfloat16")
    parser.add_argument("--batch-size", help="inference batch size")
    parser.add_argument("--workers", help="image decoding threads (0: none, the default on the CPU; else min(4, CPUs))")
    parser.add_argument("--baseline", help="baseline file (overrides baseline.path)")
    parser.add_argument("--report", help="Markdown report path (overrides report.path)")
    parser.add_argument("--html", type=Path, help="also write the self-contained HTML report here")
    parser.add_argument("--baseline-ref", help="git ref holding the baseline at its merge-base with HEAD")
    parser.add_argument("--mode", help="significant or strict, for every regression rule")
    parser.add_argument("--accept-bar-change", "--accept-baseline-change", action="store_true", default=None,
                        dest="accept_bar_change",
                        help="judge by this branch's own rules and baseline, not the target branch's "
                             "(--accept-baseline-change is the old name)")
    parser.add_argument("--cache-dir", help="model-output cache folder (default: $XDG_CACHE_HOME/qa_gate/outputs)")
    parser.add_argument("--no-cache", action="store_true", default=None,
                        help="neither read nor write the model-output cache")
    parser.add_argument("-q", "--quiet", action="store_true", default=None, help="no progress lines while scoring")


def _overrides(args: argparse.Namespace) -> Overrides:
    """The options that replace the file's values; errors spell them as typed here (``--batch-size``)."""
    return Overrides(checkpoint=args.checkpoint, adapter=args.adapter, model_name=args.model_name,
                     device=args.device, dtype=args.dtype, batch_size=args.batch_size, workers=args.workers,
                     baseline_path=args.baseline, report_path=args.report,
                     baseline_ref=args.baseline_ref, mode=args.mode,
                     accept_bar_change=args.accept_bar_change, option_prefix="--",
                     cache_dir=args.cache_dir, no_cache=args.no_cache, quiet=args.quiet)


def build_parser() -> argparse.ArgumentParser:
    """The ``mm-gate`` argument parser."""
    debug = [_debug_option()]
    parser = _Parser(prog="mm-gate", description="Quality gate for image-text models. Exit codes: 0 passed, "
                     "1 the gate failed, 2 interrupted, 4 a usage, input or internal error.")
    parser.add_argument("--debug", action="store_true", default=False, help="show the traceback of an error")
    parser.add_argument("--version", action="version", version=f"mm-gate {__version__}",
                        help="print the installed qa-gate version and exit")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="score the checkpoint, judge it, write the report", parents=debug)
    _model_options(run)
    run.add_argument("--update-baseline", action="store_true", help="record this run as the baseline")
    run.add_argument("--verdict", type=Path, help="verdict file to write (default: mm-gate-verdict.json here)")
    predict = commands.add_parser("predict", parents=debug,
                                  help="run the checkpoint and write the outputs its metrics consume as a "
                                       "predictions file (adapter: predictions)")
    _model_options(predict)
    predict.add_argument("--out", type=Path, required=True, help="predictions file to write (.jsonl, .csv, .parquet)")
    golden = commands.add_parser("golden", help="check or re-hash golden suites")
    golden_cmds = golden.add_subparsers(dest="golden_command", required=True)
    verify = golden_cmds.add_parser("verify", help="check manifests, hashes and images", parents=debug)
    verify.add_argument("suites", nargs="*", type=Path, help="suite folders (default: every suite in thresholds.yaml)")
    verify.add_argument("--thresholds", type=Path, default=Path("thresholds.yaml"))
    verify.add_argument("--provenance", action="store_true",
                        help="also check that an imported suite's sources still match their recorded sha256")
    hash_cmd = golden_cmds.add_parser("hash", help="(re)write SHA256SUMS after a deliberate change", parents=debug)
    hash_cmd.add_argument("suites", nargs="+", type=Path, help="suite folders")
    convert = golden_cmds.add_parser("convert", parents=debug,
                                     help="rewrite a suite's manifest as manifest.jsonl or manifest.yaml "
                                          "(SHA256SUMS updated, fingerprint unchanged)")
    convert.add_argument("suite", type=Path, help="suite folder")
    convert.add_argument("--to", required=True, choices=("jsonl", "yaml"), help="the manifest format to write")
    convert.add_argument("--force", action="store_true",
                         help="overwrite an existing manifest of that format (or rewrite it in the canonical layout)")
    add_import_parser(golden_cmds, debug)
    baseline = commands.add_parser("baseline", help="manage the stored baseline")
    baseline_cmds = baseline.add_subparsers(dest="baseline_command", required=True)
    update = baseline_cmds.add_parser("update", help="score the checkpoint and record it as the baseline",
                                      parents=debug)
    _model_options(update)
    update.add_argument("--verdict", type=Path, help="verdict file to write (default: mm-gate-verdict.json here)")
    signoff = commands.add_parser("signoff", help="sign off a release (strict gate, record, commit, tag) or verify one",
                                  parents=debug)
    action = signoff.add_mutually_exclusive_group(required=True)
    action.add_argument("--tag", help="sign off HEAD as this new annotated tag")
    action.add_argument("--verify", metavar="TAG", help="re-check the sign-off recorded at this tag")
    _model_options(signoff)
    signoff.add_argument("--message", help="a note for the record, the commit and the tag")
    signoff.add_argument("--no-rescore", dest="rescore", action="store_false",
                         help="--verify: check hashes and fingerprints only, do not score again")
    signoff.add_argument("--tolerance", type=float, default=1e-6,
                         help="--verify: largest absolute metric difference that still matches")
    signoff.add_argument("--require-signed", action="store_true",
                         help="--verify: fail unless the tag carries a good signature (git verify-tag)")
    check = commands.add_parser("check-verdict", parents=debug,
                                help="exit 0 only when the verdict file passed and agrees with pytest's JUnit XML")
    check.add_argument("--verdict", type=Path, default=Path("mm-gate-verdict.json"), help="the verdict file")
    check.add_argument("--junit", type=Path, help="the JUnit XML of the same run (pytest --junitxml)")
    return parser


def _run(args: argparse.Namespace, update: bool) -> int:
    from qa_gate.pipeline import check_outputs, deliver, judge, prepare, score
    from qa_gate.report.terminal import scoring_line, verdict_lines
    from qa_gate.verdict.record import retire, verdict_path

    outputs, stage = None, "while checking the config and the golden suites"
    retire(verdict_file := verdict_path(args.verdict))  # a stale pass never outlives this run
    try:
        prepared = prepare(args.thresholds, _overrides(args))
        check_outputs(prepared, html=args.html, update_baseline=update, verdict=verdict_file)
        outputs, stage = Outputs.of(prepared.config, args.html), "while scoring"
        print(scoring_line(prepared.config.model, len(prepared.suites)))
        verdict = judge(prepared, score(prepared), update_baseline=update)
        print("\n".join(verdict_lines(verdict)))
        stage = "while writing the reports"
        delivery = deliver(prepared, verdict, html=args.html, update_baseline=update, verdict_file=verdict_file)
    except KeyboardInterrupt as exc:
        raise _Interrupted(interrupted_line(outputs, stage)) from exc
    for line in delivery.lines:
        print(line)
    if delivery.refused is not None:
        print(f"mm-gate: error: {delivery.refused}", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_OK if verdict.passed else EXIT_FAILED


def _golden(args: argparse.Namespace) -> int:
    from qa_gate.golden.suite import verify_suite, write_hashes

    if args.golden_command == "import":
        from qa_gate.golden.imports.command import run_import

        print("\n".join(run_import(args)))
        return EXIT_OK
    if args.golden_command == "convert":
        from qa_gate.golden.convert import convert_suite

        print(convert_suite(args.suite, args.to, args.force).line())
        return EXIT_OK
    if args.golden_command == "hash":
        for path in args.suites:
            print(f"wrote {write_hashes(path)}")
        return EXIT_OK
    paths = args.suites or [s.path for s in load_config(args.thresholds).suites]
    for path in paths:
        suite = verify_suite(path)
        print(f"ok {path}: {len(suite.samples)} samples, fingerprint {suite.fingerprint}")
        if args.provenance:
            from qa_gate.golden.imports.provenance import check_provenance

            print(check_provenance(path))
    return EXIT_OK


def _signoff(args: argparse.Namespace) -> int:
    from qa_gate.report.terminal import verdict_lines
    from qa_gate.signoff import sign_off
    from qa_gate.signoff_verify import verify

    if args.verify:
        verification = verify(args.thresholds, args.verify, _overrides(args), args.rescore, args.tolerance,
                              args.require_signed)
        print("\n".join(verification.lines()))
        return EXIT_OK if verification.passed else EXIT_FAILED
    if args.require_signed:
        raise GateError("--require-signed goes with --verify TAG (a new sign-off is signed when git has a key)")
    print(f"mm-gate: signing off {args.tag}: running the gate in strict mode")
    done = sign_off(args.thresholds, args.tag, _overrides(args), args.message)
    print("\n".join(verdict_lines(done.verdict)))
    if done.record is None or done.commit is None:
        print("mm-gate: sign-off refused: the gate fails; nothing was written, committed or tagged")
        return EXIT_FAILED
    print(f"mm-gate: sign-off record written to {done.path} and committed as {done.commit[:7]}")
    how = "" if done.signed else ("; unsigned: git has no signing key (git config user.signingkey, or "
                                  "tag.gpgSign true), so --verify --require-signed will fail it")
    print(f"mm-gate: {'signed' if done.signed else 'annotated'} tag {args.tag} created on {done.commit[:7]} "
          f"(not pushed){how}")
    return EXIT_OK


def _command(args: argparse.Namespace) -> int:
    if args.command == "run":
        return _run(args, update=args.update_baseline)
    if args.command == "baseline":
        return _run(args, update=True)
    if args.command == "signoff":
        return _signoff(args)
    if args.command == "predict":
        from qa_gate.adapters.predictions.write import predict

        print(predict(args.thresholds, _overrides(args), args.out).line())
        return EXIT_OK
    if args.command == "check-verdict":
        from qa_gate.verdict.junit import check_verdict

        ok, lines = check_verdict(args.verdict, args.junit)
        print("\n".join(lines))
        return EXIT_OK if ok else EXIT_FAILED
    return _golden(args)


_INTERRUPTED = {
    "verify": "mm-gate: interrupted while verifying; nothing was written",
    "hash": "mm-gate: interrupted; each SHA256SUMS reported above was written, the others are as they were",
    "convert": "mm-gate: interrupted; the suite is as it was, or converted if reported above (if it holds both "
               "manifests, run the convert again with --force)",
    "import": "mm-gate: interrupted; nothing was imported (the temporary folder was removed)",
    "signoff": "mm-gate: interrupted; a sign-off not reported above as committed and tagged was undone or never made",
}
"""What an interrupt left behind, for the commands other than ``run`` and ``baseline update``."""


def _report(line: str, error: BaseException, debug: bool) -> None:
    """``line`` on stderr, after the traceback of ``error`` under ``--debug``."""
    if debug:
        traceback.print_exception(error, file=sys.stderr)
    print(line, file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``mm-gate`` console script; returns the exit code."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help (0), or a usage error (4, from _Parser.error)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    debug = bool(args.debug)
    try:
        return _command(args)
    except GateError as exc:
        _report(f"mm-gate: error: {exc}", exc, debug)
        return EXIT_USAGE
    except _Interrupted as exc:
        _report(str(exc), exc, debug)
        return EXIT_INTERRUPTED
    except KeyboardInterrupt as exc:
        _report(_INTERRUPTED.get(getattr(args, "golden_command", None) or args.command, "mm-gate: interrupted"),
                exc, debug)
        return EXIT_INTERRUPTED
    except Exception as exc:  # a qa_gate bug: one line, the traceback only with --debug
        _report(internal_error_line(exc, "--debug"), exc, debug)
        return EXIT_USAGE


def console() -> NoReturn:
    """The ``mm-gate`` console script: :func:`main`, then the process's exit without its last garbage collections.

    At shutdown the interpreter collects the cycles of every module it loaded; with torch and open_clip in, that
    walks some 400k objects several times (0.8 s against 0.2 s for the same script after ``gc.freeze()``). The
    process ends here, so its objects are left to the operating system; buffered files were closed when written
    and the standard streams are flushed as always. Not in :func:`main`, which tests call in their own process.
    """
    code = main()
    gc.freeze()
    sys.exit(code)


if __name__ == "__main__":
    sys.exit(main())
