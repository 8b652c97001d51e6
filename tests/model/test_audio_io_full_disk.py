"""A full disk is named as such, with the user's path: libsndfile itself only says "System error"."""
import errno

import numpy as np
import pytest
from small_disk import small_tmpfs

from model.audio_io import write_audio


@pytest.fixture
def tiny_filesystem(tmp_path):
    """A 64 KiB tmpfs (needs the right to mount, as root in a container; skipped otherwise)."""
    with small_tmpfs(tmp_path / "tiny", 64 << 10) as folder:
        yield folder


@pytest.mark.parametrize("name", ["out.wav", "out.flac"])
def test_no_space_left_is_named_with_the_users_path(tiny_filesystem, name):
    samples = (0.1 * np.random.default_rng(0).standard_normal((2, 100_000))).astype(np.float32)
    target = tiny_filesystem / name
    with pytest.raises(OSError) as raised:
        write_audio(target, samples, 44100)
    assert raised.value.errno == errno.ENOSPC and raised.value.filename == str(target)
    assert list(tiny_filesystem.iterdir()) == []
