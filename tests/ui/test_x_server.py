"""The studio window on a real X server (Xvfb and Qt's xcb platform), not only offscreen.

Offscreen Qt needs none of the X libraries that the xcb platform plugin loads, so a machine
lacking one of them passes every other test and still cannot open the window (Qt then aborts
naming xcb-cursor, whichever library is missing). The window is opened in a subprocess,
because a process picks its Qt platform once, on a private X server (``x_display``).
"""
import subprocess
import sys

from synthetic_audio import write_music_clip
from x_display import x_display  # noqa: F401 (the fixture)

WINDOW_TIMEOUT_S = 600


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
