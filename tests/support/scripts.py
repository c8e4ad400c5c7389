"""Small programs the fault tests run in a child process, or write as a user's adapter module."""

from __future__ import annotations

KILLED_WRITER = """
import os, sys
from pathlib import Path
from qa_gate.files import write_atomic
os.replace = lambda src, dst: os.kill(os.getpid(), 9)  # SIGKILL between the fsync and the rename
write_atomic(Path(sys.argv[1]), b"half an update")
"""
"""``python -c KILLED_WRITER PATH``: an atomic write killed before its rename, leaving its temp file."""

HOLDER = """
import sys, time
from pathlib import Path
from qa_gate.files import file_lock
with file_lock(Path(sys.argv[1])):
    print("locked", flush=True)
    time.sleep(float(sys.argv[2]))
"""
"""``python -c HOLDER PATH SECONDS``: holds PATH's lock for SECONDS, printing "locked" once it has it."""

INTERRUPTING_ADAPTER = '''
class Interrupting:
    """A dual encoder interrupted (Ctrl-C) as its first batch is encoded."""

    def encode_images(self, images):
        raise KeyboardInterrupt

    def encode_texts(self, texts):
        raise KeyboardInterrupt


def make(model_config, device):
    return Interrupting()
'''
"""A user adapter module (``module:make``) whose first model call raises KeyboardInterrupt."""
