"""What the studio refuses to open, with a reason, before reading samples."""
import numpy as np
import pytest
import soundfile as sf

from app.studio.clip import MAX_SECONDS, ClipRejected, read_checked
from model.audio_io import AudioFileError


def test_reads_a_normal_stereo_file(tmp_path):
    path = tmp_path / "ok.wav"
    sf.write(path, np.full((1000, 2), 0.1, np.float32), 8000)
    assert read_checked(path).samples.shape == (2, 1000)


def test_refuses_more_than_two_channels(tmp_path):
    path = tmp_path / "six.wav"
    sf.write(path, np.full((100, 6), 0.1, np.float32), 8000)
    with pytest.raises(ClipRejected, match="6 channels"):
        read_checked(path)


def test_refuses_a_clip_longer_than_the_limit_from_its_header(tmp_path):
    path = tmp_path / "long.wav"
    rate = 1000
    with sf.SoundFile(path, "w", rate, 1, "PCM_16") as f:
        f.write(np.zeros(MAX_SECONDS * rate + rate * 60, np.int16))
    with pytest.raises(ClipRejected, match="31 minutes"):
        read_checked(path)


def test_refuses_silence_and_garbage(tmp_path):
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(4000, np.float32), 8000)
    with pytest.raises(ClipRejected, match="silent"):
        read_checked(silent)
    garbage = tmp_path / "notes.wav"
    garbage.write_text("not audio")
    with pytest.raises(AudioFileError, match="not a readable audio file"):
        read_checked(garbage)
