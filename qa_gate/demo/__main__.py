"""``python -m qa_gate.demo build [--root DIR] [--skip-render] [--skip-train] [--suite NAME ...]``."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from qa_gate.demo import REPO_ROOT, build, suite_names


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(prog="python -m qa_gate.demo",
                                     description="Build the qa_gate demo: golden suites and checkpoints.")
    commands = parser.add_subparsers(dest="command", required=True)
    build_cmd = commands.add_parser(
        "build", help=f"render golden/{{{','.join(suite_names())}}}/ and train the demo checkpoints")
    build_cmd.add_argument("--root", type=Path, default=REPO_ROOT,
                           help="repository root to write into (default: %(default)s)")
    build_cmd.add_argument("--skip-render", action="store_true", help="do not render the golden suites")
    build_cmd.add_argument("--skip-train", action="store_true",
                           help="do not train the checkpoints (render only; takes seconds)")
    build_cmd.add_argument("--suite", action="append", choices=suite_names(), metavar="NAME",
                           help=f"render only this suite (repeatable; one of: {', '.join(suite_names())})")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the chosen subcommand; return the exit status."""
    args = parse_args(argv)
    build(args.root.resolve(), render=not args.skip_render, train=not args.skip_train, suites=args.suite)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
