"""Quality rows and the Opus reference: the bitrate asked for, output time-aligned."""
import numpy as np
import pytest
import torch

from app.studio.quality import opus_round_trip, rate_row
from synthetic_audio import music_clip
from model.metrics import si_sdr

RATE = 44100


@pytest.fixture(scope="module")
def reference():
    return music_clip(3.0, RATE, 1)[:, None, :]


def test_opus_bitrate_follows_each_codebook_count_closely_and_in_order(reference):
    """The default model's bitrates from 7 codebooks up: each Opus point within one byte per
    20 ms packet (0.4 kbit/s) of its target, strictly increasing, so no two counts share one."""
    targets = [10.34 * n / 12 for n in range(7, 13)]
    measured = [opus_round_trip(reference, RATE, kbps).measured_kbps for kbps in targets]
    assert measured == pytest.approx(targets, abs=0.4)
    assert all(a < b for a, b in zip(measured, measured[1:]))


def test_opus_codes_each_channel_at_the_bitrate_per_channel(reference):
    stereo = np.concatenate([reference, 0.5 * reference[:, :, ::-1]], axis=0)
    point = opus_round_trip(stereo, RATE, 12.0)
    mono = opus_round_trip(reference, RATE, 12.0)
    assert point.decoded.shape == stereo.shape
    assert point.measured_kbps == pytest.approx(12.0, abs=0.4)
    np.testing.assert_array_equal(point.decoded[0], mono.decoded[0])  # channels coded apart


def test_opus_lands_near_the_requested_bitrate_and_is_aligned(reference):
    point = opus_round_trip(reference, RATE, 24.0)
    assert point.decoded.shape == reference.shape
    assert point.measured_kbps == pytest.approx(24.0, abs=0.4)
    x, y = reference[0, 0].astype(np.float64), point.decoded[0, 0].astype(np.float64)
    lags = np.arange(-300, 301)
    corr = [np.dot(x[400:-400], y[400 + k : len(y) - 400 + k]) for k in lags]
    assert abs(lags[int(np.argmax(corr))]) <= 1  # the encoder's lookahead is removed: no delay
    assert float(si_sdr(x, y)) > 8.0


def test_no_opus_point_below_its_floor(reference):
    assert opus_round_trip(reference, RATE, 4.0) is None


def test_rate_row_matches_the_metric_functions(reference):
    rng = np.random.default_rng(0)
    noisy = (reference + 0.01 * rng.standard_normal(reference.shape)).astype(np.float32)
    row = rate_row(reference, noisy, RATE, 3, 2.5)
    assert (row.n_codebooks, row.kbps) == (3, 2.5)
    assert row.si_sdr == pytest.approx(float(si_sdr(torch.from_numpy(reference), torch.from_numpy(noisy))), abs=1e-4)
    assert rate_row(reference, reference, RATE, 3, 2.5).mel_distance < row.mel_distance
