"""Display spectrograms: calibrated dB, sines on the right row for every frequency axis."""
import numpy as np
import pytest

from app.studio.spectrogram import SCALES, axis_to_hz, hz_to_axis, spectrogram, stft_power_db

RATE = 44100


def tone(freq, seconds=1.0, amp=1.0):
    t = np.arange(int(RATE * seconds)) / RATE
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def test_full_scale_sine_on_a_bin_reads_zero_db():
    freq = 100 * RATE / 2048  # exactly on bin 100
    db = stft_power_db(tone(freq))
    assert db[10:-10, 100].mean() == pytest.approx(0.0, abs=0.05)
    assert stft_power_db(tone(freq, amp=0.1))[10:-10, 100].mean() == pytest.approx(-20.0, abs=0.05)


@pytest.mark.parametrize("scale", SCALES)
def test_axis_mapping_round_trips(scale):
    hz = np.array([20.0, 100.0, 1000.0, 15000.0])
    np.testing.assert_allclose(axis_to_hz(hz_to_axis(hz, scale, RATE / 2), scale, RATE / 2), hz, rtol=1e-9)


@pytest.mark.parametrize("scale", SCALES)
def test_sine_peaks_on_the_row_of_its_frequency(scale):
    rows = 400
    spec = spectrogram(tone(3000.0), RATE, scale, rows=rows)
    peak_row = int(np.argmax(spec.db[5:-5].mean(axis=0)))
    expected = hz_to_axis(3000.0, scale, RATE / 2) * rows - 0.5
    assert abs(peak_row - expected) <= 2


def test_long_clips_are_reduced_by_column_maxima():
    x = np.zeros(RATE * 20, np.float32)
    x[RATE * 10 : RATE * 10 + 64] = 1.0  # one click
    spec = spectrogram(x, RATE, "linear", max_columns=200)
    assert spec.db.shape[0] <= 200
    assert spec.duration == pytest.approx(20.0, rel=0.02)
    loud = np.flatnonzero(spec.db.max(axis=1) > -60)
    assert loud.size and abs(loud.mean() * spec.seconds_per_column - 10.0) < 0.2
