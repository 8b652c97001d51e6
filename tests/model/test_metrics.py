"""model.metrics: SI-SDR against its closed form, spectral distances, code statistics, bitrate."""

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from model.metrics import (
    MetricInputError,
    bitrate_efficiency,
    codebook_entropy,
    kbps,
    mel_distance,
    si_sdr,
    spectral_distances,
    stft_distance,
)
from model.spectral import MelSpectrogramLoss, MultiScaleSTFTLoss


def _orthogonal_mix(gain: float, noise_scale: float, seed: int = 0):
    """Zero-mean reference and estimate = gain * reference + noise orthogonal to it."""
    rng = np.random.default_rng(seed)
    reference = rng.standard_normal(8000)
    reference -= reference.mean()
    noise = rng.standard_normal(8000)
    noise -= noise.mean()
    noise -= reference * (noise @ reference) / (reference @ reference)
    noise *= noise_scale
    return reference, gain * reference + noise, 10 * math.log10((gain**2 * reference @ reference) / (noise @ noise))


@pytest.mark.parametrize("gain,noise_scale", [(1.0, 0.1), (0.3, 0.5), (2.0, 2.0)])
def test_si_sdr_matches_closed_form(gain, noise_scale):
    reference, estimate, expected = _orthogonal_mix(gain, noise_scale)
    value = si_sdr(reference, estimate)
    assert value.shape == (1,)
    assert value.item() == pytest.approx(expected, abs=1e-3)


def test_si_sdr_is_scale_and_offset_invariant_and_depends_only_on_correlation():
    reference, estimate, _ = _orthogonal_mix(0.7, 0.5)
    base = si_sdr(reference, estimate).item()
    assert si_sdr(reference, 5.0 * estimate + 0.25).item() == pytest.approx(base, abs=1e-3)
    correlation = np.corrcoef(reference, estimate)[0, 1]
    assert base == pytest.approx(10 * math.log10(correlation**2 / (1 - correlation**2)), abs=1e-3)
    assert si_sdr(estimate, reference).item() == pytest.approx(base, abs=1e-3)


def test_si_sdr_per_item_pools_channels():
    items = [_orthogonal_mix(1.0, s, seed=i) for i, s in enumerate((0.1, 1.0))]
    reference = torch.tensor(np.stack([r for r, _, _ in items]), dtype=torch.float32).reshape(2, 2, 4000)
    estimate = torch.tensor(np.stack([e for _, e, _ in items]), dtype=torch.float32).reshape(2, 2, 4000)
    torch.testing.assert_close(
        si_sdr(reference, estimate), torch.tensor([expected for _, _, expected in items]), atol=1e-3, rtol=0
    )


def test_spectral_distances_are_the_release_losses_per_item():
    generator = torch.Generator().manual_seed(7)
    reference = torch.randn(2, 1, 4096, generator=generator)
    estimate = reference + 0.2 * torch.randn(2, 1, 4096, generator=generator)
    mel = mel_distance(reference.numpy(), estimate.numpy(), 16000)
    stft = stft_distance(reference, estimate)
    torch.testing.assert_close(mel, MelSpectrogramLoss(16000).per_item(estimate, reference))
    torch.testing.assert_close(stft, MultiScaleSTFTLoss().per_item(estimate, reference))
    shared_mel, shared_stft = spectral_distances(reference, estimate, 16000)
    torch.testing.assert_close(shared_mel, mel)
    torch.testing.assert_close(shared_stft, stft)
    assert mel_distance(reference, reference, 16000).tolist() == [0.0, 0.0]


def test_metric_shape_mismatch_raises():
    with pytest.raises(MetricInputError, match="differ in shape"):
        si_sdr(np.zeros(100), np.zeros(101))
    with pytest.raises(MetricInputError):
        si_sdr(np.zeros((1, 1, 1, 100)), np.zeros((1, 1, 1, 100)))


def test_codebook_entropy_known_distributions():
    size = 8
    uniform = torch.arange(size).repeat(3).reshape(1, 1, -1)  # every entry equally often
    constant = torch.full((1, 1, 3 * size), 5)
    two_values = (torch.arange(3 * size) % 2).reshape(1, 1, -1) * 7
    codes = torch.cat([uniform, constant, two_values], dim=1)  # [B=1, N=3, F=24]
    entropy = codebook_entropy(codes, size)
    torch.testing.assert_close(entropy, torch.tensor([3.0, 0.0, 1.0], dtype=torch.float64))


def test_codebook_entropy_pools_batch_and_frames_per_codebook():
    rng = np.random.default_rng(3)
    codes = rng.integers(0, 16, size=(4, 2, 50))
    entropy = codebook_entropy(torch.from_numpy(codes), 16)
    for n in range(2):
        counts = np.bincount(codes[:, n].ravel(), minlength=16)
        probs = counts[counts > 0] / counts.sum()
        assert entropy[n].item() == pytest.approx(-(probs * np.log2(probs)).sum(), abs=1e-12)


def test_codebook_entropy_rejects_bad_codes():
    with pytest.raises(MetricInputError, match="lie in"):
        codebook_entropy(torch.tensor([[[0, 8]]]), 8)
    with pytest.raises(MetricInputError, match="integer"):
        codebook_entropy(torch.zeros(1, 1, 4), 8)
    assert codebook_entropy(torch.zeros(2, 3, 0, dtype=torch.long), 8).tolist() == [0.0, 0.0, 0.0]


def test_bitrate_efficiency():
    assert bitrate_efficiency(torch.tensor([10.0, 10.0]), 1024) == pytest.approx(1.0)
    assert bitrate_efficiency(np.array([5.0, 10.0, 0.0]), 1024) == pytest.approx(0.5)
    with pytest.raises(MetricInputError):
        bitrate_efficiency(torch.tensor([]), 1024)


def test_kbps():
    assert kbps(9, 1024, 44100, 512) == pytest.approx(7.751953125)  # DAC 44 kHz "8 kbps"
    assert kbps(32, 1024, 24000, 320) == pytest.approx(24.0)
    assert kbps(1, 1000, 1000, 1) == pytest.approx(math.log2(1000))
    with pytest.raises(MetricInputError):
        kbps(9, 1024, 44100, 0)


def test_si_sdr_and_distances_equal_audiotools_fixture():
    # Recorded from the DAC release (scripts/make_metric_fixtures.py); SISDRLoss is minus SI-SDR.
    fixture = Path(__file__).parents[1] / "fixtures" / "metrics" / "audiotools_metrics.npz"
    with np.load(fixture, allow_pickle=False) as data:
        reference, degraded = data["reference"], data["degraded"]
        expected_sisdr, expected_mel, expected_stft = -data["sisdr_loss"], data["mel_loss"], data["stft_loss"]
        sample_rate = int(data["sample_rate"])
    assert si_sdr(reference, degraded).item() == pytest.approx(float(expected_sisdr), rel=1e-4)
    mel, stft = spectral_distances(reference, degraded, sample_rate)
    assert mel.item() == pytest.approx(float(expected_mel), rel=1e-4)
    assert stft.item() == pytest.approx(float(expected_stft), rel=1e-4)


def test_codebook_entropy_and_efficiency_count_multi_scale_codes_once():
    """A code held for ``stride`` frames counts once: the entropy of the codebook's own codes."""
    rng = np.random.default_rng(4)
    coarse = rng.integers(0, 16, size=(2, 7))
    codes = np.stack([np.repeat(coarse, 4, axis=1)[:, :25], rng.integers(0, 16, size=(2, 25))], axis=1)
    entropy = codebook_entropy(torch.from_numpy(codes), 16, strides=[4, 1])
    torch.testing.assert_close(entropy[0], codebook_entropy(torch.from_numpy(coarse[:, None]), 16)[0])
    torch.testing.assert_close(entropy[1], codebook_entropy(torch.from_numpy(codes[:, 1:]), 16)[0])
    expected = (entropy[0] / 4 + entropy[1]) / (1.25 * 4)
    assert bitrate_efficiency(entropy, 16, strides=[4, 1]) == pytest.approx(float(expected))
