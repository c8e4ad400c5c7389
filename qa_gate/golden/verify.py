"""A suite folder against its ``SHA256SUMS``: one walk, set comparisons, large files hashed in parallel threads.

:func:`walk` lists the folder once (``os.scandir``; a symlinked folder is not followed). :func:`compare`
reports files listed but missing, present but unlisted, and those whose sha256 differs; the common
files are hashed (by a thread pool when they are large enough for hashlib and file reads to release the
GIL), or taken from the local :class:`~qa_gate.golden.hash_cache.HashCache` when their stat is unchanged.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from qa_gate.golden.hash_cache import HashCache, Key, stat_key
from qa_gate.golden.manifest import MANIFESTS, Sample
from qa_gate.golden.problems import Problems
from qa_gate.golden.sums import HASHES, SCRATCH
from qa_gate.threads import usable_cpus

CHUNK = 1 << 20
WORKERS = min(16, usable_cpus() + 4)
"""Hashing threads: enough to overlap file reads with hashing on a few cores."""
FIRST = 64
"""Files hashed in the calling thread before deciding whether threads pay."""
THREADED_BYTES = 16 << 10
"""The mean file size (bytes) from which the rest is hashed by threads. hashlib releases the GIL only for
data over 2 KiB, so small files are bound by the interpreter, and threads only queue for it: 10k 550-byte
PNGs took 0.07-0.09 s in one thread, 0.12-0.17 s in 2 to 6."""


@dataclass
class Tree:
    """What one walk of a suite folder found."""

    files: dict[str, str] = field(default_factory=dict)
    """Every regular file (or symlink to one inside the folder), posix relative path -> path."""
    plain: set[str] = field(default_factory=set)
    """The files reached without any symlink: inside the folder by construction."""
    outside: dict[str, Path] = field(default_factory=dict)
    """Symlinks that resolve outside the folder -> where they lead."""


def walk(root: Path, ignore: Sequence[str] = ()) -> Tree:
    """Every file under ``root`` except ``SHA256SUMS``, its scratch file and ``ignore``; one pass."""
    tree, skipped = Tree(), {HASHES, SCRATCH, *ignore}
    stack = [("", str(root))]
    while stack:
        prefix, folder = stack.pop()
        with os.scandir(folder) as entries:
            for entry in entries:
                rel = prefix + entry.name
                if rel in skipped:
                    continue
                if entry.is_symlink():
                    target = Path(entry.path).resolve()
                    if not target.is_relative_to(root):
                        tree.outside[rel] = target
                    elif target.is_file():
                        tree.files[rel] = entry.path
                elif entry.is_dir():
                    stack.append((rel + "/", entry.path))
                elif entry.is_file():
                    tree.files[rel] = entry.path
                    tree.plain.add(rel)
    return tree


def report_tree(tree: Tree, problems: Problems) -> None:
    """The walk's own problems (symlinks leaving the folder, names SHA256SUMS cannot list), unless already
    reported through a sample."""
    for rel in sorted(tree.outside):
        if rel not in problems.paths:
            problems.add(f"{rel!r} is a symlink to outside the suite folder ({tree.outside[rel]}); "
                         "expected only files inside it")
    for rel in sorted(tree.files):
        if ("\n" in rel or "\r" in rel) and rel not in problems.paths:
            problems.add(f"file name {rel!r} holds a line break; SHA256SUMS cannot list it")


def file_digest(path: str) -> tuple[os.stat_result, str]:
    """The stat (taken as the file was opened) and hex sha256 of one file."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
    try:
        st = os.fstat(fd)
        digest = hashlib.sha256(os.read(fd, min(st.st_size + 1, CHUNK)))  # a small file in one read
        while chunk := os.read(fd, CHUNK):
            digest.update(chunk)
    finally:
        os.close(fd)
    return st, digest.hexdigest()


def _one(rel: str, path: str, listed: Mapping[str, str], cache: HashCache | None) -> tuple[Key, str, int]:
    """The file's stat key, its sha256, and the bytes read for it (0 when the cache knew it)."""
    if cache is not None:
        key = stat_key(os.stat(path))
        if (known := cache.lookup(rel, key)) is not None and known == listed.get(rel):
            return key, known, 0
    st, sha = file_digest(path)
    return stat_key(st), sha, st.st_size


def hash_files(files: Mapping[str, str], listed: Mapping[str, str] | None = None,
               cache: HashCache | None = None) -> dict[str, str]:
    """The sha256 of each file (relative path -> path); with ``cache``, a file whose stat matches its entry is not
    read, and each file matching ``listed`` is recorded in it. The first :data:`FIRST` files are hashed here; the
    rest too when those read under :data:`THREADED_BYTES` each on average, else by :data:`WORKERS` threads."""
    listed = listed or {}
    items = list(files.items())
    found: dict[str, str] = {}

    def run(batch: list[tuple[str, str]]) -> list[tuple[str, Key, str, int]]:
        return [(rel, *_one(rel, path, listed, cache)) for rel, path in batch]

    def keep(results: list[tuple[str, Key, str, int]]) -> None:
        for rel, key, sha, _ in results:
            found[rel] = sha
            if cache is not None and listed.get(rel) == sha:
                cache.record(rel, key, sha)

    first = run(items[:FIRST])
    keep(first)
    rest = items[FIRST:]
    if not rest:
        return found
    if sum(read for *_, read in first) < THREADED_BYTES * len(first):  # small files, or known to the cache
        keep(run(rest))
        return found
    size = max(1, min(256, len(rest) // (WORKERS * 4)))
    batches = [rest[i:i + size] for i in range(0, len(rest), size)]
    with ThreadPoolExecutor(max_workers=min(WORKERS, len(batches))) as pool:
        for results in pool.map(run, batches):
            keep(results)
    return found


def compare(listed: Mapping[str, str], tree: Tree, samples: Sequence[Sample], root: Path, manifest: str,
            problems: Problems, cache: HashCache | None = None) -> None:
    """Report every file listed but missing, present but unlisted, or not matching its sha256."""
    known, present = set(listed), set(tree.files)
    common = {rel: tree.files[rel] for rel in sorted(known & present) if rel not in problems.paths}
    digests = hash_files(common, listed, cache)
    if cache is not None:
        cache.save()
    bad = {rel for rel, sha in digests.items() if sha != listed[rel]} | ((known ^ present) - problems.paths)
    if not bad:
        return
    users: dict[str, list[Sample]] = {}
    for sample in samples:
        users.setdefault(sample.image_path.resolve().relative_to(root).as_posix(), []).append(sample)
    for rel in sorted(bad, key=lambda rel: (rel not in MANIFESTS, rel)):  # the manifest first
        who = users.get(rel, [])
        label = ", ".join(f"sample {s.id!r}" for s in who) + f": image {who[0].image!r}" if who else f"file {rel!r}"
        if rel not in present:
            problems.add(f"{label} is listed in {HASHES} but missing from the suite folder; {problems.hint}")
        elif rel not in known:
            problems.add(f"{label} is not listed in {HASHES} (every file in the suite must be); {problems.hint}")
        else:
            sums = f"(expected {listed[rel][:12]}…, got {digests[rel][:12]}…); {problems.hint}"
            if rel == manifest:
                problems.add(f"{manifest} changed since {HASHES} was written: it does not match its sha256 {sums}")
            else:
                problems.add(f"{label} does not match its sha256 in {HASHES} {sums}")
