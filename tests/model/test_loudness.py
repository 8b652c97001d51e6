"""model.loudness: BS.1770 integrated loudness equal to pyloudnorm's, for any channel count."""
import numpy as np
import pyloudnorm
import pytest

from model.loudness import channel_weights, integrated_loudness


def _noise(channels, rate, seconds, seed=0):
    rng = np.random.default_rng(seed)
    levels = np.geomspace(0.01, 0.5, channels)[:, None]
    x = (rng.standard_normal((channels, int(rate * seconds))) * levels).astype(np.float32)
    x[:, : rate // 2] *= 1e-3  # a quiet start, so both gates have blocks to drop
    return x


@pytest.mark.parametrize("rate", [8000, 16000, 44100, 48000])
@pytest.mark.parametrize("channels", [1, 2, 3, 4, 5])
def test_equals_pyloudnorm_up_to_five_channels(rate, channels):
    x = _noise(channels, rate, 3.3, seed=channels)
    expected = pyloudnorm.Meter(rate).integrated_loudness(x.T.astype(np.float64))
    assert integrated_loudness(x, rate) == pytest.approx(expected, abs=1e-9)


def test_more_than_five_channels_sum_every_channel_at_weight_one():
    mono = _noise(1, 48000, 2.0)
    octo = np.repeat(mono, 8, axis=0)  # a 7.1 stem of identical channels: 8x the power
    assert integrated_loudness(octo, 48000) == pytest.approx(integrated_loudness(mono, 48000) + 10 * np.log10(8))
    assert list(channel_weights(5)) == [1.0, 1.0, 1.0, 1.41, 1.41]
    assert list(channel_weights(8)) == [1.0] * 8


def test_opposite_phase_channels_do_not_cancel():
    mono = _noise(1, 16000, 2.0)
    assert np.isfinite(integrated_loudness(np.concatenate([mono, -mono] * 3), 16000))


def test_silence_is_minus_infinity_and_short_audio_is_refused():
    assert integrated_loudness(np.zeros((7, 16000), np.float32), 16000) == float("-inf")
    with pytest.raises(ValueError, match="at least 0.4 s"):
        integrated_loudness(np.zeros((1, 1000), np.float32), 16000)
