"""model.spectral: DAC's mel / multi-scale STFT losses -- framing, invariances, gradients."""

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from model.mel import mel_filterbank
from model.spectral import (
    DAC_MEL_N_MELS,
    DAC_MEL_WINDOW_LENGTHS,
    DAC_STFT_WINDOW_LENGTHS,
    MelSpectrogramLoss,
    MultiScaleSTFTLoss,
    SpectralInputError,
    spectral_losses_per_item,
    stft_magnitudes,
)

SAMPLE_RATE = 24000


@pytest.fixture
def noise():
    generator = torch.Generator().manual_seed(1234)
    reference = torch.randn(3, 2, 6000, generator=generator)
    estimate = reference + 0.3 * torch.randn(3, 2, 6000, generator=generator)
    return estimate, reference


def test_framing_is_centred_with_quarter_window_hop():
    audio = torch.randn(2, 1, 5000)
    for window, magnitude in stft_magnitudes(audio, [32, 512, 2048]).items():
        assert magnitude.shape == (2, 1, window // 2 + 1, 5000 // (window // 4) + 1)
    # A unit impulse at sample t appears in frame t / hop with magnitude w[n_fft/2] = 1 (Hann peak).
    impulse = torch.zeros(1, 1, 4096)
    impulse[..., 1024] = 1.0
    magnitude = stft_magnitudes(impulse, [512])[512][0, 0]
    torch.testing.assert_close(magnitude[:, 1024 // 128], torch.ones(257))


@pytest.mark.parametrize("loss", [MelSpectrogramLoss(SAMPLE_RATE), MultiScaleSTFTLoss()], ids=["mel", "stft"])
def test_zero_for_identical_and_symmetric(loss, noise):
    estimate, reference = noise
    assert loss(reference, reference).item() == 0.0
    assert loss(estimate, reference).item() > 0.1
    torch.testing.assert_close(loss.per_item(estimate, reference), loss.per_item(reference, estimate))


def test_mel_loss_of_gain_is_log_gain_per_scale(noise):
    # pow=1, log10, L1: a gain g shifts every log-mel value by log10(g) on each of the 7 scales.
    _, reference = noise
    loss = MelSpectrogramLoss(SAMPLE_RATE)
    for gain in (0.5, 3.0):
        expected = len(DAC_MEL_WINDOW_LENGTHS) * abs(math.log10(gain))
        assert loss(gain * reference, reference).item() == pytest.approx(expected, rel=1e-4)


def test_stft_loss_of_gain_splits_into_log_and_linear_terms(noise):
    _, reference = noise
    gain = 2.0
    log_only = MultiScaleSTFTLoss(mag_weight=0.0)(gain * reference, reference).item()
    assert log_only == pytest.approx(2 * 2 * math.log10(gain), rel=1e-4)  # 2 scales, pow 2
    mags = stft_magnitudes(reference, [2048, 512])
    linear = sum((gain - 1) * mags[w].mean().item() for w in (2048, 512))
    assert MultiScaleSTFTLoss()(gain * reference, reference).item() == pytest.approx(log_only + linear, rel=1e-4)


def test_quiet_signals_are_floored_by_clamp_eps():
    # Below clamp_eps both spectra clamp to eps, so two different near-silent signals compare equal.
    a = 1e-9 * torch.randn(1, 1, 4096)
    b = 1e-9 * torch.randn(1, 1, 4096)
    assert MelSpectrogramLoss(SAMPLE_RATE)(a, b).item() == 0.0


def test_batch_items_are_independent_and_forward_is_their_mean(noise):
    estimate, reference = noise
    loss = MelSpectrogramLoss(SAMPLE_RATE)
    per_item = loss.per_item(estimate, reference)
    assert per_item.shape == (3,)
    for i in range(3):
        torch.testing.assert_close(per_item[i : i + 1], loss.per_item(estimate[i : i + 1], reference[i : i + 1]))
    torch.testing.assert_close(loss(estimate, reference), per_item.mean())


def test_shared_stft_evaluation_equals_separate_losses(noise):
    estimate, reference = noise
    mel, stft = MelSpectrogramLoss(SAMPLE_RATE), MultiScaleSTFTLoss()
    shared = spectral_losses_per_item(estimate, reference, [mel, stft])
    torch.testing.assert_close(shared[0], mel.per_item(estimate, reference))
    torch.testing.assert_close(shared[1], stft.per_item(estimate, reference))


def test_mono_two_dim_input_equals_single_channel(noise):
    estimate, reference = noise
    loss = MultiScaleSTFTLoss()
    torch.testing.assert_close(loss(estimate[:, 0], reference[:, 0]), loss(estimate[:, :1], reference[:, :1]))


@pytest.mark.parametrize("loss", [MelSpectrogramLoss(SAMPLE_RATE), MultiScaleSTFTLoss()], ids=["mel", "stft"])
def test_gradient_reaches_estimate_and_descends(loss, noise):
    estimate, reference = noise
    estimate = estimate.clone().requires_grad_(True)
    value = loss(estimate, reference)
    value.backward()
    assert torch.isfinite(estimate.grad).all() and estimate.grad.abs().sum() > 0
    with torch.no_grad():
        stepped = estimate - 1e-1 * estimate.grad / estimate.grad.norm()
    assert loss(stepped, reference).item() < value.item()


@pytest.mark.parametrize("loss", [MelSpectrogramLoss(SAMPLE_RATE), MultiScaleSTFTLoss()], ids=["mel", "stft"])
def test_gradient_is_finite_for_exactly_silent_estimate(loss, noise):
    _, reference = noise
    silent = torch.zeros_like(reference, requires_grad=True)
    loss(silent, reference).backward()
    assert torch.isfinite(silent.grad).all()


def test_float64_input_is_computed_in_float32(noise):
    estimate, reference = noise
    value = MelSpectrogramLoss(SAMPLE_RATE)(estimate.double(), reference.double())
    assert value.dtype == torch.float32


def test_mel_filters_follow_module_device_and_stay_out_of_state_dict():
    loss = MelSpectrogramLoss(SAMPLE_RATE)
    assert dict(loss.state_dict()) == {}
    assert len(list(loss.buffers())) == len(DAC_MEL_WINDOW_LENGTHS)


def test_bad_inputs_raise_clear_errors():
    loss = MultiScaleSTFTLoss()
    with pytest.raises(SpectralInputError, match="too short"):
        loss(torch.zeros(1, 1, 1024), torch.zeros(1, 1, 1024))
    with pytest.raises(SpectralInputError, match="differ in shape"):
        loss(torch.zeros(1, 1, 4096), torch.zeros(1, 2, 4096))
    with pytest.raises(SpectralInputError, match=r"\[B, T\]"):
        loss(torch.zeros(4096), torch.zeros(4096))
    with pytest.raises(SpectralInputError, match="one n_mels per window"):
        MelSpectrogramLoss(SAMPLE_RATE, n_mels=[80], window_lengths=[512, 1024])
    with pytest.raises(SpectralInputError, match="even"):
        MultiScaleSTFTLoss(window_lengths=[511])


# ---- values recorded from the DAC release / descript-audiotools (scripts/make_metric_fixtures.py)

AUDIOTOOLS_FIXTURE = Path(__file__).parents[1] / "fixtures" / "metrics" / "audiotools_metrics.npz"


@pytest.fixture(scope="module")
def audiotools_values():
    with np.load(AUDIOTOOLS_FIXTURE, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def test_mel_spectrogram_and_filters_equal_audiotools(audiotools_values):
    sample_rate = int(audiotools_values["sample_rate"])
    filters = mel_filterbank(sample_rate, 2048, 80)
    np.testing.assert_array_equal(filters.numpy(), audiotools_values["mel_filterbank_2048_80"])
    for name in ("reference", "degraded"):
        magnitude = stft_magnitudes(torch.from_numpy(audiotools_values[name]), [2048])[2048]
        expected = audiotools_values[f"mel_2048_80_{name}"]
        np.testing.assert_allclose((filters @ magnitude).numpy(), expected, rtol=1e-4, atol=1e-6)


def test_losses_equal_audiotools_per_scale_and_in_total(audiotools_values):
    sample_rate = int(audiotools_values["sample_rate"])
    estimate = torch.from_numpy(audiotools_values["degraded"])
    reference = torch.from_numpy(audiotools_values["reference"])
    n_mels, mel_windows = audiotools_values["mel_n_mels"].tolist(), audiotools_values["mel_window_lengths"].tolist()
    assert (tuple(n_mels), tuple(mel_windows)) == (DAC_MEL_N_MELS, DAC_MEL_WINDOW_LENGTHS)
    assert tuple(audiotools_values["stft_window_lengths"].tolist()) == DAC_STFT_WINDOW_LENGTHS
    mel_total = MelSpectrogramLoss(sample_rate)(estimate, reference).item()
    stft_total = MultiScaleSTFTLoss()(estimate, reference).item()
    assert mel_total == pytest.approx(float(audiotools_values["mel_loss"]), rel=1e-4)
    assert stft_total == pytest.approx(float(audiotools_values["stft_loss"]), rel=1e-4)
    for bands, window, expected in zip(n_mels, mel_windows, audiotools_values["mel_loss_per_scale"]):
        value = MelSpectrogramLoss(sample_rate, n_mels=[bands], window_lengths=[window])(estimate, reference)
        assert value.item() == pytest.approx(float(expected), rel=1e-4)
    for window, expected in zip(DAC_STFT_WINDOW_LENGTHS, audiotools_values["stft_loss_per_scale"]):
        value = MultiScaleSTFTLoss(window_lengths=[window])(estimate, reference)
        assert value.item() == pytest.approx(float(expected), rel=1e-4)
