"""A child process that keeps one core busy, for measurements and tests on a loaded machine.

The studio runs beside other work (a training run, a build, a browser); a benchmark or a
test that must hold then runs inside :func:`one_core_busy`. The child is killed when the
block ends, however it ends, and it also stops on its own once its parent is gone (killed
from outside, crashed), so no busy loop outlives the run that started it.
"""
from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator

_BUSY_LOOP = """
import os, sys
parent = int(sys.argv[1])
while os.getppid() == parent:  # reparented once the parent is gone
    for _ in range(20_000):
        pass
"""


@contextlib.contextmanager
def one_core_busy() -> Iterator[subprocess.Popen]:
    """One core burned by a busy-loop process for the duration of the block."""
    burner = subprocess.Popen([sys.executable, "-c", _BUSY_LOOP, str(os.getpid())])
    try:
        yield burner
    finally:
        burner.kill()
        burner.wait()
