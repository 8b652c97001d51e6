"""``rvq-studio FILE --screenshot OUT.png`` when the window shows an error: one line on stderr, exit 2;
and no harmless Qt note from the offscreen platform on stderr."""
import subprocess
import sys

import numpy as np
import pytest

from app.runtime.qt_messages import HARMLESS
from model.audio_io import write_audio

ENV = {"QT_QPA_PLATFORM": "offscreen", "RVQ_STUDIO_NO_AUDIO": "1", "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}


def run_studio(tmp_path, *args: str, code: str | None = None) -> subprocess.CompletedProcess:
    command = [sys.executable, "-c", code] if code else [sys.executable, "-m", "app.cli", *args]
    return subprocess.run(command, env={**ENV, "RVQ_STUDIO_SETTINGS": str(tmp_path / "s.ini")},
                          capture_output=True, text=True, timeout=600, cwd=str(tmp_path))


def write_silence(path) -> str:
    write_audio(path, np.zeros((1, 44100), np.float32), 44100)
    return str(path)


@pytest.mark.parametrize("case", ["model fails to load", "file is silent"])
def test_a_screenshot_the_window_cannot_take_ends_with_its_error_on_stderr_and_exit_2(tmp_path, music_path, case):
    if case == "model fails to load":
        (tmp_path / "bad.pth").write_bytes(b"this is no checkpoint")
        args, reason = (str(music_path), "--model", str(tmp_path / "bad.pth")), "bad.pth: not a model file"
    else:
        args, reason = (write_silence(tmp_path / "silent.wav"),), "silent.wav: the file is silent"
    out = tmp_path / "shot.png"
    done = run_studio(tmp_path, *args, "--screenshot", str(out))
    assert done.returncode == 2 and done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("rvq-studio: error: ") and reason in lines[0], done.stderr
    assert not out.exists()


def test_qt_warnings_reach_stderr_except_the_offscreen_platforms_harmless_note(tmp_path):
    harmless = next(iter(HARMLESS))
    code = ("from PySide6.QtCore import qWarning\n"
            "from app.main import ensure_qt_application\n"
            "ensure_qt_application()\n"
            f"qWarning({harmless!r})\n"
            "qWarning('a warning that matters')\n")
    done = run_studio(tmp_path, code=code)
    assert done.returncode == 0 and done.stderr.splitlines() == ["a warning that matters"], done.stderr
