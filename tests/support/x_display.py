"""A private X server (Xvfb) for tests that open the window under Qt's xcb platform, not offscreen.

Offscreen Qt needs none of the X libraries that the xcb platform plugin loads, so only a run on
a real X server shows that the window can start there. The server gets a free display of its
own (``-displayfd``) and is always terminated, however the test ends.
"""
from __future__ import annotations

import os
import select
import shutil
import subprocess
from collections.abc import Iterator

import pytest

XVFB = shutil.which("Xvfb")
SERVER_START_S = 20


@pytest.fixture
def x_display() -> Iterator[str]:
    """``":N"``: a display served by an Xvfb started for this test, stopped after it."""
    if XVFB is None:
        pytest.skip("Xvfb is not installed: the window is tested offscreen only")
    read_end, write_end = os.pipe()
    server = subprocess.Popen([XVFB, "-displayfd", str(write_end), "-nolisten", "tcp", "-screen", "0", "1600x1000x24"],
                              pass_fds=(write_end,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write_end)
    try:
        ready, _, _ = select.select([read_end], [], [], SERVER_START_S)
        number = os.read(read_end, 16).decode().strip() if ready else ""
        if not number:
            pytest.fail(f"Xvfb did not report a display within {SERVER_START_S} s (exit code {server.poll()})")
        yield f":{number}"
    finally:
        os.close(read_end)
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
