"""Block-wise reading, resampling, loudness and writing equal the whole-signal computations."""
import numpy as np
import pytest
import soundfile as sf

from model.audio_io import (
    AudioFileError,
    read_audio,
    read_blocks,
    read_on,
    resample,
    resample_blocks,
    resampled_length,
    write_audio,
    write_audio_blocks,
)
from model.k_weighting import BLOCK_FRAMES
from model.loudness import BLOCK_SECONDS, LoudnessMeter, block_powers, integrated_loudness


def _noise(channels, frames, seed=0, level=0.2):
    rng = np.random.default_rng(seed)
    x = (level * rng.standard_normal((channels, frames))).astype(np.float32)
    x[:, : frames // 7] *= 1e-3  # a quiet start: both gates have blocks to drop
    return x


def _split(x, sizes):
    """``x`` in consecutive blocks of the given sizes (cycled), the last one whatever is left."""
    blocks, start, i = [], 0, 0
    while start < x.shape[1]:
        blocks.append(x[:, start : start + sizes[i % len(sizes)]])
        start += sizes[i % len(sizes)]
        i += 1
    return blocks


ODD_BLOCKS = [1, 997, 4099, 3, 65536, 12345]


@pytest.mark.parametrize("rate, channels", [(8000, 1), (44100, 2), (22050, 7), (11025, 3)])
def test_loudness_pushed_in_blocks_equals_the_whole_signal_exactly(rate, channels):
    x = _noise(channels, int(rate * 6.3) + 11, seed=channels)
    meter = LoudnessMeter(channels, rate)
    for block in _split(x, ODD_BLOCKS):
        meter.push(block)
    assert meter.frames == x.shape[1]
    np.testing.assert_array_equal(meter.block_powers(), block_powers(x, rate))
    assert meter.loudness() == integrated_loudness(x, rate)


def test_reading_the_meter_midway_is_the_prefix_and_leaves_the_rest_unchanged():
    """A reading filters the samples held back from the filter's block grid on a copy; the signal
    here also ends exactly on that grid."""
    rate = 16000
    x = _noise(2, 9 * BLOCK_FRAMES, seed=5)
    meter = LoudnessMeter(2, rate)
    for block in _split(x, ODD_BLOCKS):
        meter.push(block)
        if meter.frames >= BLOCK_SECONDS * rate:
            assert meter.loudness() == integrated_loudness(x[:, : meter.frames], rate)
    np.testing.assert_array_equal(meter.block_powers(), block_powers(x, rate))


@pytest.mark.parametrize("rate_in, rate_out, channels", [(8000, 44100, 1), (48000, 44100, 2), (44100, 11025, 3),
                                                         (22050, 22050, 2)])
def test_streamed_resampling_equals_whole_signal_resampling(rate_in, rate_out, channels):
    """soxr's stream, fed block by block and flushed, gives the one-call result sample for sample."""
    x = _noise(channels, int(rate_in * 3.1) + 7)
    streamed = np.concatenate(list(resample_blocks(_split(x, ODD_BLOCKS), rate_in, rate_out)), axis=1)
    whole = resample(x, rate_in, rate_out)
    assert streamed.dtype == np.float32 and streamed.shape == whole.shape
    np.testing.assert_array_equal(streamed, whole)


def test_read_blocks_are_the_file_in_pieces(tmp_path):
    x = _noise(3, 70_001)
    x[1, 5] = np.nan
    path = tmp_path / "in.wav"
    sf.write(path, x.T, 16000, subtype="FLOAT")
    blocks = list(read_blocks(path, block_frames=30_000))
    assert [b.shape for b in blocks] == [(3, 30_000), (3, 30_000), (3, 10_001)]
    np.testing.assert_array_equal(np.concatenate(blocks, axis=1), read_audio(path).samples)


def test_read_blocks_refuses_a_file_without_samples(tmp_path):
    path = tmp_path / "empty.wav"
    sf.write(path, np.zeros((0, 1), np.float32), 16000)
    with pytest.raises(AudioFileError, match="holds no audio"):
        list(read_blocks(path))


@pytest.mark.parametrize("name, level, subtype", [("out.wav", 0.2, "PCM_16"), ("out.wav", 3.0, "FLOAT"),
                                                  ("out.flac", 0.2, "PCM_16")])
def test_block_writing_equals_writing_the_whole(tmp_path, name, level, subtype):
    """The WAV subtype depends on the whole signal's peak, even when it arrives in blocks."""
    x = _noise(2, 150_000, level=level)
    x[0, -3] = level * 5  # the peak in the last block
    write_audio(tmp_path / f"whole-{name}", x, 22050)
    frames = write_audio_blocks(tmp_path / name, _split(x, ODD_BLOCKS), 22050)
    assert frames == x.shape[1]
    assert sf.info(str(tmp_path / name)).subtype == subtype
    np.testing.assert_array_equal(read_audio(tmp_path / name).samples, read_audio(tmp_path / f"whole-{name}").samples)


@pytest.mark.parametrize("name", ["out.wav", "out.flac"])
def test_a_non_finite_block_leaves_no_file(tmp_path, name):
    blocks = [np.zeros((1, 1000), np.float32), np.full((1, 10), np.inf, np.float32)]
    with pytest.raises(AudioFileError, match="NaN or infinite"):
        write_audio_blocks(tmp_path / name, blocks, 16000)
    assert list(tmp_path.iterdir()) == []



@pytest.mark.parametrize("rate_in, rate_out", [(44100, 24000), (48000, 44100), (22050, 44100), (8000, 44100),
                                               (96000, 16000), (16000, 16000)])
def test_resampled_length_is_what_the_resampler_makes(rate_in, rate_out):
    rng = np.random.default_rng(rate_in + rate_out)
    for frames in [1, 2, 3, 7, 441, 480, 881, *rng.integers(1, 20_000, 12).tolist()]:
        made = resample(np.zeros((1, frames), np.float32), rate_in, rate_out).shape[1]
        assert resampled_length(frames, rate_in, rate_out) == made, frames


@pytest.mark.parametrize("suffix, subtype, rate, channels", [
    ("wav", "PCM_16", 48000, 2), ("flac", "PCM_16", 48000, 2), ("ogg", "VORBIS", 48000, 2), ("opus", "OPUS", 48000, 2),
    ("mp3", "MPEG_LAYER_III", 48000, 2), ("mp3", "MPEG_LAYER_III", 44100, 1), ("mp3", "MPEG_LAYER_III", 16000, 2)])
def test_a_file_reads_the_same_whole_in_blocks_and_from_any_position(tmp_path, suffix, subtype, rate, channels):
    """libsndfile's one-call decode from a fresh handle is the reference (``sf.read`` asks the
    position first, which seeks, and an MPEG-2 MP3 file decodes differently in the last bit after
    any seek, even to 0). (Read in blocks through ``SoundFile.read``, which seeks after every read,
    an MP3 file differed by up to 0.6 after each block boundary; read from a point off the grid of
    :func:`model.audio_io._on_mp3_grid`, MPEG-2 at 16 kHz and mono MPEG-1 differed in the last bit.)"""
    from synthetic_audio import music_clip

    path = tmp_path / f"clip.{suffix}"
    container = {"ogg": "OGG", "opus": "OGG", "mp3": "MP3"}.get(suffix)
    sf.write(path, music_clip(5.0, rate, channels=channels).T, rate, subtype=subtype, format=container)
    with sf.SoundFile(path) as f:
        whole = np.ascontiguousarray(read_on(f, f.frames).T)
    assert whole.shape == (channels, f.frames)
    assert np.array_equal(read_audio(path).samples, whole)
    for block in (44_100, 9 * 1152 + 1, 65_536):
        assert np.array_equal(np.concatenate(list(read_blocks(path, block)), axis=1), whole), block
    for start in (1_000, rate - 3_900, 2 * rate + 4_003, 3 * rate + 6_000, whole.shape[1] - 500):  # at 48 kHz 44_100, 100_003, 150_000
        part = read_audio(path, start=start, frames=3_000).samples
        assert np.array_equal(part, whole[:, start:start + 3_000]), start
        assert np.array_equal(read_audio(path, start=start).samples, whole[:, start:]), start
