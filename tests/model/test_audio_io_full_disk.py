"""A full disk is named as such, with the user's path: libsndfile itself only says "System error"."""
import errno
import os
import shutil
import subprocess

import numpy as np
import pytest

from model.audio_io import write_audio


@pytest.fixture
def tiny_filesystem(tmp_path):
    """A 64 KiB tmpfs (needs the right to mount, as root in a container; skipped otherwise)."""
    folder = tmp_path / "tiny"
    folder.mkdir()
    if shutil.which("mount") is None or os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(folder)], capture_output=True).returncode:
        pytest.skip("this machine does not allow mounting a tmpfs")
    yield folder
    subprocess.run(["umount", str(folder)], check=True)


@pytest.mark.parametrize("name", ["out.wav", "out.flac"])
def test_no_space_left_is_named_with_the_users_path(tiny_filesystem, name):
    samples = (0.1 * np.random.default_rng(0).standard_normal((2, 100_000))).astype(np.float32)
    target = tiny_filesystem / name
    with pytest.raises(OSError) as raised:
        write_audio(target, samples, 44100)
    assert raised.value.errno == errno.ENOSPC and raised.value.filename == str(target)
    assert list(tiny_filesystem.iterdir()) == []
