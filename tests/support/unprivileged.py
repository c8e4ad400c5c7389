"""Running a command as a user that file permissions apply to, for tests of read-only folders.

root writes through any permission bits, so as root the command runs under ``setpriv`` with
``CAP_DAC_OVERRIDE`` and ``CAP_DAC_READ_SEARCH`` dropped: the permission checks then apply as
to the files' owner. A test skips where neither is possible.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

DROP = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search"]


def unprivileged_prefix() -> list[str]:
    """``[]`` for an ordinary user; as root the ``setpriv`` prefix that drops the override; skips otherwise."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: a read-only folder cannot be made read-only for this test")
    probe = subprocess.run([*DROP, "true"], capture_output=True, check=False)
    if probe.returncode != 0:
        pytest.skip(f"running as root and setpriv cannot drop capabilities here: {probe.stderr.decode().strip()}")
    return list(DROP)
