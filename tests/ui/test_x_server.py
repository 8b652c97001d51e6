"""The studio window on a real X server (Xvfb and Qt's xcb platform), not only offscreen.

Offscreen Qt needs none of the X libraries that the xcb platform plugin loads, so a machine
lacking one of them passes every other test and still cannot open the window (Qt then aborts
naming xcb-cursor, whichever library is missing). The window is opened in a subprocess,
because a process picks its Qt platform once; the X server gets a free display of its own
(``-displayfd``) and is always terminated.
"""
import os
import select
import shutil
import subprocess
import sys
from collections.abc import Iterator

import pytest

from synthetic_audio import write_music_clip

XVFB = shutil.which("Xvfb")
SERVER_START_S = 20
WINDOW_TIMEOUT_S = 600


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


def test_the_window_opens_on_an_x_server(tmp_path, x_display):
    clip = write_music_clip(tmp_path / "clip.wav", seconds=1.0, channels=1)
    out = tmp_path / "window.png"
    env = {"QT_QPA_PLATFORM": "xcb", "DISPLAY": x_display, "RVQ_STUDIO_NO_AUDIO": "1", "OMP_NUM_THREADS": "1",
           "RVQ_STUDIO_SETTINGS": str(tmp_path / "settings.ini"), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "app.cli", str(clip), "--screenshot", str(out)],
                          env=env, capture_output=True, text=True, timeout=WINDOW_TIMEOUT_S, cwd=str(tmp_path))
    assert done.returncode == 0, done.stderr[-2000:]
    assert "platform plugin" not in done.stderr, done.stderr[-2000:]
    assert out.stat().st_size > 10_000
