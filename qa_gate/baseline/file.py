"""A baseline kept in two files on disk, ``baseline.json`` and its per-sample file ``baseline.samples.npz``,
written as a pair under a writer's lock.

The JSON records the per-sample file's sha256, so a JSON never pairs silently with another run's per-sample
file. Both are written to temporary files first, then renamed: the per-sample file, then the JSON. A writer
killed between the two renames leaves the old JSON beside the new per-sample file; the old per-sample file is
then still there as a hidden backup (``.baseline.samples.npz.prev``, a hard link made before the first rename),
which a read picks by its sha256 and the next write restores or removes.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

from qa_gate.baseline.changes import Changes, HistoryPoint
from qa_gate.baseline.run_json import SampleFiles, UnreadableBaseline, encode, parse_baseline
from qa_gate.baseline.sidecar import sidecar_name
from qa_gate.errors import BaselineError, first_line
from qa_gate.files import FileBusy, file_lock, file_sha256, stale_temps, synced_temp
from qa_gate.results import RunResult

BACKUP_SUFFIX = ".prev"


class Unchecked:
    """The type of :data:`UNCHECKED`: "write whatever the file holds now"."""


UNCHECKED = Unchecked()


def content_digest(path: Path) -> str | None:
    """The sha256 of the file at ``path`` (``None`` when there is none): what a writer expects to replace.

    A path that cannot be read gives ``"unreadable: <reason>"``, so taking a digest never fails. The JSON
    of a baseline records its per-sample file's sha256, so its digest covers both files.
    """
    try:
        return file_sha256(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        return f"unreadable: {exc.strerror or type(exc).__name__}"


def samples_path(path: Path) -> Path:
    """The per-sample file written beside the baseline JSON at ``path``."""
    return Path(path).with_name(sidecar_name(Path(path).name))


def backup_path(samples: Path) -> Path:
    """Where the previous per-sample file is kept while a write replaces the pair: ``.<name>.prev`` beside it."""
    return samples.parent / f".{samples.name}{BACKUP_SUFFIX}"


def files_beside(path: Path) -> SampleFiles:
    """The per-sample files of the baseline JSON at ``path``: the one it names beside it, then the backup an
    interrupted write may have left."""
    def sample_files(name: str) -> tuple[str, list[bytes]]:
        main = Path(path).with_name(name)
        found = []
        for candidate in (main, backup_path(main)):
            try:
                found.append(candidate.read_bytes())
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise UnreadableBaseline(f"{candidate}: cannot read: {first_line(exc)}") from None
        return str(main), found
    return sample_files


class FileBaselineStore:
    """The baseline at ``path`` (and its per-sample file beside it); a missing JSON means "no baseline yet"."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def describe(self) -> str:
        """The JSON file's path."""
        return str(self.path)

    def read(self) -> RunResult | None:
        """Parse the pair, or ``None`` when the JSON does not exist; :class:`UnreadableBaseline` when the JSON
        or its per-sample file is missing, corrupt or not the one the JSON records."""
        if not self.path.exists():
            return None
        data = self._json()
        try:
            return parse_baseline(data, str(self.path), files_beside(self.path))
        except UnreadableBaseline:
            again = self._json()  # a write finished between reading the JSON and its per-sample file
            if again == data:
                raise
            return parse_baseline(again, str(self.path), files_beside(self.path))

    def _json(self) -> bytes:
        try:
            return self.path.read_bytes()
        except OSError as exc:
            raise UnreadableBaseline(f"{self.path}: cannot read baseline: {first_line(exc)}") from None

    def write(self, run: RunResult, expected: str | None | Unchecked = UNCHECKED) -> str:
        """Write the pair (temporary files beside the targets, fsync, renames) while holding the JSON's lock;
        returns both paths.

        With ``expected`` (a :func:`content_digest` taken when the run started; ``None``: no
        file then), the write is refused when the JSON changed since: another update
        finished first, and its baseline is kept rather than silently replaced. Temporary
        files left by a killed writer are removed. Raises :class:`BaselineError`.
        """
        samples = samples_path(self.path)
        try:
            with file_lock(self.path):
                for leftover in (*stale_temps(self.path), *stale_temps(samples)):
                    leftover.unlink(missing_ok=True)
                _settle(self.path, samples)
                if not isinstance(expected, Unchecked) and content_digest(self.path) != expected:
                    raise BaselineError(
                        f"baseline not updated: {self.path} changed while this run was scoring (another baseline "
                        "update finished first?); its new content is kept: run the update again to replace it")
                encoded = encode(run, samples.name)
                _replace_pair(self.path, encoded.text, samples, encoded.samples)
                return f"{self.path} and {samples}"
        except FileBusy as exc:
            raise BaselineError(f"baseline not updated: {exc}") from None
        except OSError as exc:
            raise BaselineError(f"baseline not updated: cannot write {self.path}: {first_line(exc)}") from None

    def changes(self, suite_paths: Sequence[Path], watched: Sequence[Path] = ()) -> Changes:
        """Nothing: a plain file has no target branch to compare with."""
        return Changes()

    def history(self, limit: int = 10) -> list[HistoryPoint]:
        """Nothing: a plain file keeps no earlier versions."""
        return []


def _recorded_digest(path: Path) -> str | None:
    """The per-sample file's sha256 the JSON at ``path`` records, or None (no JSON, version 1, unreadable)."""
    try:
        entry = json.loads(path.read_bytes()).get("samples_file")
        return str(entry["sha256"])
    except (OSError, ValueError, AttributeError, KeyError, TypeError):
        return None


def _digest(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def _settle(path: Path, samples: Path) -> None:
    """Finish what a writer killed between its two renames left: when the JSON still records the backup's
    digest, the backup goes back in place; any other backup is stale and removed."""
    backup = backup_path(samples)
    if not backup.exists():
        return
    recorded = _recorded_digest(path)
    if recorded is not None and _digest(samples) != recorded and _digest(backup) == recorded:
        os.replace(backup, samples)
    else:
        backup.unlink()


def _temp(path: Path, data: bytes) -> Path:
    """``data`` in a synced temporary file beside ``path`` (removed by a later write if left behind)."""
    return synced_temp(path, data)


def _keep_backup(samples: Path, backup: Path) -> bool:
    """Keep the current per-sample file at ``backup`` (a hard link, else a copy); False when there is none."""
    if not samples.exists():
        return False
    backup.unlink(missing_ok=True)
    try:
        os.link(samples, backup)
    except OSError:  # a filesystem without hard links
        shutil.copyfile(samples, backup)
    return True


def _sync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable before the next one (best effort; not every platform can)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _replace_pair(path: Path, text: bytes, samples: Path, blob: bytes) -> None:
    """Replace the per-sample file, then the JSON; on a failure the old pair is put back, nothing is left."""
    temps = [_temp(path, text)]
    backup = backup_path(samples)
    kept = False
    try:
        temps.append(_temp(samples, blob))
        kept = _keep_backup(samples, backup)
        os.replace(temps[1], samples)
        try:
            _sync_folder(samples.parent)
            os.replace(temps[0], path)
        except BaseException:
            if kept:
                os.replace(backup, samples)
            else:
                samples.unlink(missing_ok=True)
            raise
        _sync_folder(path.parent)
    finally:
        for tmp in temps:
            tmp.unlink(missing_ok=True)
        backup.unlink(missing_ok=True)
