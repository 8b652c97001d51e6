"""model.mel: equality with librosa's filterbank (stored fixture) and Slaney-scale geometry."""

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from model.mel import MelFilterbankError, hz_to_mel, mel_filterbank, mel_to_hz

FIXTURE = Path(__file__).parents[1] / "fixtures" / "metrics" / "librosa_mel.npz"


def _fixture_cases():
    with np.load(FIXTURE, allow_pickle=False) as data:
        for index, (sr, n_fft, n_mels, fmin, fmax) in enumerate(data["configs"]):
            yield (int(sr), int(n_fft), int(n_mels), float(fmin), None if math.isnan(fmax) else float(fmax)), data[
                f"fb_{index}"
            ]


CASES = list(_fixture_cases())


@pytest.mark.parametrize("args,expected", CASES, ids=[str(args) for args, _ in CASES])
def test_matches_librosa_filters_mel(args, expected):
    ours = mel_filterbank(*args)
    assert ours.dtype == torch.float32
    assert tuple(ours.shape) == expected.shape == (args[2], args[1] // 2 + 1)
    np.testing.assert_allclose(ours.numpy(), expected, rtol=0, atol=1e-6)


def test_slaney_scale_anchor_points():
    # Linear at 200/3 Hz per mel up to 1 kHz (= 15 mel); 27 mel per factor 6.4 above.
    np.testing.assert_allclose(hz_to_mel(np.array([0.0, 200.0 / 3, 500.0, 1000.0, 6400.0])), [0, 1, 7.5, 15, 42])
    freqs = np.array([0.0, 10.0, 999.0, 1000.0, 1001.0, 8000.0, 22050.0])
    np.testing.assert_allclose(mel_to_hz(hz_to_mel(freqs)), freqs, rtol=1e-12)


def test_triangles_peak_at_slaney_centres_and_have_unit_area():
    sample_rate, n_fft, n_mels = 16000, 8192, 40
    filters = mel_filterbank(sample_rate, n_fft, n_mels).double().numpy()
    bin_hz = sample_rate / n_fft
    freqs = np.arange(n_fft // 2 + 1) * bin_hz
    edges = mel_to_hz(np.linspace(0.0, hz_to_mel(sample_rate / 2), n_mels + 2))
    for i, row in enumerate(filters):
        lower, centre, upper = edges[i : i + 3]
        support = np.flatnonzero(row)
        assert freqs[support[0]] > lower and freqs[support[-1]] < upper
        peak = int(np.argmax(row))
        assert abs(freqs[peak] - centre) <= bin_hz
        rising, falling = np.diff(row[support[0] : peak + 1]), np.diff(row[peak : support[-1] + 1])
        assert (rising >= 0).all() and (falling <= 0).all()
        # Slaney norm: each triangle integrates to 1 (height 2 / (upper - lower)).
        assert row.sum() * bin_hz == pytest.approx(1.0, rel=0.02)


def test_cached_result_cannot_be_corrupted_by_callers():
    first = mel_filterbank(24000, 512, 80)
    reference = first.clone()
    first.mul_(0)
    assert torch.equal(mel_filterbank(24000, 512, 80), reference)


@pytest.mark.parametrize(
    "args", [(0, 512, 80), (16000, 0, 80), (16000, 512, 0), (16000, 512, 80, 9000.0), (16000, 512, 80, 100.0, 50.0)]
)
def test_invalid_parameters_raise(args):
    with pytest.raises(MelFilterbankError):
        mel_filterbank(*args)
