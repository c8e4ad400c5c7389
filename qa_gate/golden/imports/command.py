"""The ``mm-gate golden import`` subcommand: its options, and the call into :func:`.run.import_suite`."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from qa_gate.errors import GoldenError

FORMAT_NAMES = ("coco-captions", "karpathy", "vqa-v2", "pope", "hf-parquet", "webdataset", "csv", "jsonl")


def add_import_parser(commands: argparse._SubParsersAction, parents: Sequence[argparse.ArgumentParser]) -> None:
    """Add ``golden import`` to the ``golden`` subcommands."""
    cmd = commands.add_parser("import", parents=list(parents),
                              help="make a golden suite from COCO, Karpathy, VQA v2, POPE, HF Parquet, WebDataset, "
                                   "CSV or JSONL data (sources pinned by sha256)")
    cmd.add_argument("format", choices=FORMAT_NAMES, help="the source format")
    cmd.add_argument("sources", nargs="+", type=Path,
                     help="source files (webdataset: shards, also as name-{000000..000009}.tar)")
    cmd.add_argument("--out", type=Path, required=True, help="the suite folder to create (golden/NAME)")
    cmd.add_argument("--images", type=Path, help="the folder the source's image paths are relative to")
    cmd.add_argument("--split", help="karpathy: train/restval/val/test; pope: the split tag; hf-parquet: the "
                                     "files of that split")
    cmd.add_argument("--map", action="append", default=[], metavar="FIELD=COLUMN",
                     help="fill a field (or tags.NAME) from a column; repeatable or comma-separated")
    cmd.add_argument("--limit", type=int, help="take a seeded sample of N samples")
    cmd.add_argument("--seed", type=int, default=0, help="the sample's seed (default 0)")
    cmd.add_argument("--stratify", metavar="TAG", help="with --limit: keep each value of this tag's share")
    cmd.add_argument("--labels", help="the suite's label set, comma-separated (default: the labels the samples use)")
    cmd.add_argument("--description", help="the manifest's description")
    mode = cmd.add_mutually_exclusive_group()
    mode.add_argument("--copy-images", dest="link_images", action="store_false", default=False,
                      help="copy image files into the suite (the default)")
    mode.add_argument("--link-images", dest="link_images", action="store_true",
                      help="hard-link image files into the suite (same file system; edits to a source image then "
                           "show up as a changed suite)")
    cmd.add_argument("--force", action="store_true", help="replace an existing suite at --out")
    cmd.add_argument("--strict", action="store_true",
                     help="stop at the first sample with a missing image instead of skipping it")


def run_import(args: argparse.Namespace) -> list[str]:
    """Run ``golden import`` from parsed arguments; the lines to print."""
    from qa_gate.golden.imports.mapping import parse_map
    from qa_gate.golden.imports.run import ImportSettings, import_suite
    from qa_gate.golden.imports.shards import expand

    labels = None
    if args.labels is not None:
        labels = tuple(x.strip() for x in args.labels.split(",") if x.strip())
        if not labels:
            raise GoldenError("--labels: expected label names separated by commas")
    sources = [path for source in args.sources for path in expand(source)]
    settings = ImportSettings(args.format, tuple(sources), args.out, images=args.images, split=args.split,
                              limit=args.limit, seed=args.seed, stratify=args.stratify,
                              link_images=args.link_images, force=args.force, strict=args.strict,
                              mapping=parse_map(args.map), labels=labels, description=args.description)
    return import_suite(settings).lines()
