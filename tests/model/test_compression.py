"""Files to codes and back: rate, length, channels and level survive; memory stays bounded."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from model import load_codec
from model.audio_io import Audio, AudioFileError, write_audio
from model.compression import (
    TARGET_LUFS,
    compress_file,
    decode_clip,
    encode_clip,
    measure_loudness,
    model_input,
    normalisation_gain,
    read_clip,
)
from model.rvq_format import MAX_LOUDNESS_LUFS, RvqMetadata, write_rvq

FIXTURE = Path(__file__).parent.parent / "fixtures" / "dac" / "dac16k.pth"


@pytest.fixture(scope="module")
def codec():
    return load_codec(FIXTURE)


def _tone(rate, seconds, channels, amplitude=0.1):
    t = np.arange(int(rate * seconds)) / rate
    return np.stack([amplitude * np.sin(2 * np.pi * (300 + 200 * c) * t) for c in range(channels)]).astype(np.float32)


def test_normalisation_targets_loudness_and_records_original(codec):
    audio = Audio(_tone(16000, 2.0, 1), 16000)
    clip = encode_clip(codec, audio, normalize=True)
    original = measure_loudness(audio.samples, 16000)
    assert clip.loudness_lufs == pytest.approx(original, abs=0.1)
    assert clip.gain == pytest.approx(10 ** ((TARGET_LUFS - original) / 20))


def test_decoded_clip_has_original_rate_length_channels(codec):
    audio = Audio(_tone(22050, 1.3, 3), 22050)
    out = decode_clip(codec, encode_clip(codec, audio))
    assert out.sample_rate == 22050 and out.samples.shape == audio.samples.shape


def test_channels_are_coded_independently(codec):
    stereo = Audio(_tone(16000, 1.0, 2), 16000)
    both = encode_clip(codec, stereo, normalize=False).codes
    for c in range(2):
        alone = encode_clip(codec, Audio(stereo.samples[c:c + 1], 16000), normalize=False).codes
        assert torch.equal(both[c:c + 1], alone)


def test_level_is_restored_after_normalisation(codec):
    """Decoding undoes the normalisation gain: the codec sees -16 LUFS, the user gets the original."""
    audio = Audio(_tone(16000, 2.0, 1, amplitude=0.02), 16000)
    normalised = encode_clip(codec, audio, normalize=True)
    plain = encode_clip(codec, audio, normalize=False)
    assert not torch.equal(normalised.codes, plain.codes)
    restored = decode_clip(codec, normalised).samples
    scaled = Audio(audio.samples * normalised.gain, 16000)
    direct = decode_clip(codec, encode_clip(codec, scaled, normalize=False)).samples / normalised.gain
    np.testing.assert_allclose(restored, direct, atol=1e-5)


def test_short_or_silent_audio_is_not_normalised(codec):
    assert measure_loudness(np.zeros((1, 16000), np.float32), 16000) is None
    assert measure_loudness(_tone(16000, 0.2, 1), 16000) is None


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_ten_minute_stereo_file_stays_under_two_gigabytes(tmp_path):
    """Peak memory of encode + decode of 10 min of 44.1 kHz stereo with the default model."""
    script = f"""
import numpy as np, sys, torch
sys.path.insert(0, {str(Path(__file__).parent.parent.parent)!r})
torch.set_num_threads(2)
from model import load_codec
from model.audio_io import Audio
from model.compression import encode_clip, decode_clip
codec = load_codec("default")
rng = np.random.default_rng(0)
samples = (0.1 * rng.standard_normal((2, 44100 * 600))).astype(np.float32)
clip = encode_clip(codec, Audio(samples, 44100))
out = decode_clip(codec, clip)
assert out.samples.shape == samples.shape
# VmHWM, not ru_maxrss: Linux carries the parent's (the test runner's) peak into a child's ru_maxrss
print(next(line for line in open("/proc/self/status") if line.startswith("VmHWM:")).split()[1])
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=1800)
    assert result.returncode == 0, result.stderr[-2000:]
    peak_mb = int(result.stdout.strip().splitlines()[-1]) / 1024
    assert peak_mb < 2048, f"peak RSS {peak_mb:.0f} MB"


def test_more_than_five_channels_are_normalised_and_restored(codec):
    """pyloudnorm stops at five channels; a 7.1 stem has eight."""
    audio = Audio(_tone(16000, 1.0, 8), 16000)
    clip = encode_clip(codec, audio, normalize=True)
    assert clip.loudness_lufs == pytest.approx(measure_loudness(audio.samples, 16000))
    assert decode_clip(codec, clip).samples.shape == (8, 16000)


def test_loudness_beyond_the_format_ceiling_is_recorded_at_it(codec, tmp_path):
    """Float audio far above full scale: normalised with the ceiling's gain, so the level still round-trips."""
    hot = Audio(_tone(16000, 1.0, 1, amplitude=40.0), 16000)
    assert measure_loudness(hot.samples, 16000) > MAX_LOUDNESS_LUFS
    wave, loudness = model_input(codec, hot)
    assert loudness == MAX_LOUDNESS_LUFS
    np.testing.assert_allclose(wave[:, 0].numpy(), hot.samples * normalisation_gain(MAX_LOUDNESS_LUFS), rtol=1e-6)
    source = tmp_path / "hot.wav"
    write_audio(source, hot.samples, 16000)
    compress_file(codec, source, tmp_path / "hot.rvq")
    assert read_clip(codec, tmp_path / "hot.rvq").loudness_lufs == MAX_LOUDNESS_LUFS


def test_a_file_for_another_hop_is_refused_before_decoding(codec, tmp_path):
    codes = np.zeros((1, 2, 50), dtype=int)
    meta = RvqMetadata(codec_name=codec.name, codec_id=codec.digest(), sample_rate=16000, original_sample_rate=16000,
                       length=50 * 160, hop_length=160, codebook_size=codec.codebook_size)
    write_rvq(tmp_path / "other.rvq", codes, meta)
    with pytest.raises(ValueError, match=f"hop_length 160 differs from the model's {codec.hop_length}"):
        read_clip(codec, tmp_path / "other.rvq")


def test_non_finite_samples_are_never_written(tmp_path):
    samples = np.zeros((1, 100), np.float32)
    samples[0, 7] = np.inf
    with pytest.raises(AudioFileError, match="NaN or infinite"):
        write_audio(tmp_path / "out.wav", samples, 16000)
    assert list(tmp_path.iterdir()) == []
