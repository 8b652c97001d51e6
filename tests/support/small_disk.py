"""A real, small filesystem for tests of a full disk: a tmpfs of a given size.

A simulated ENOSPC (``/dev/full``) fails every write at once; a real one lets writes through
until the pages run out, and the last one may be short, which is what code that keeps what
was written must handle. Mounting needs root (as in a container); the test is skipped otherwise.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


@contextmanager
def small_tmpfs(folder: Path, size_bytes: int) -> Iterator[Path]:
    """``folder`` (created) with a tmpfs of ``size_bytes`` (rounded up to pages) mounted on it while in use."""
    folder.mkdir(parents=True, exist_ok=True)
    if shutil.which("mount") is None or os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    kib = -(-size_bytes // 4096) * 4
    if subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={kib}k", "tmpfs", str(folder)],
                      capture_output=True).returncode:
        pytest.skip("this machine does not allow mounting a tmpfs")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False, capture_output=True)
