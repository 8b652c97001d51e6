"""Tests for model.discriminators and model.adversarial_losses.

Shapes are checked against the convolution arithmetic, the STFT against an independent numpy
implementation of DAC's stride-matched STFT, the losses against DAC's two-pass formulation and
against a stub discriminator whose outputs are known in closed form.
"""
import math

import numpy as np
import pytest
import scipy.signal
import torch
from torch import nn

from model.adversarial_losses import (
    AdversarialLossInputError,
    discriminator_loss,
    feature_matching_loss,
    frozen_parameters,
    generator_losses,
)
from model.discriminators import (
    DEFAULT_BANDS,
    DEFAULT_FFT_SIZES,
    DEFAULT_PERIODS,
    PEAK_LEVEL,
    Discriminator,
    DiscriminatorInputError,
    MultiBandSTFTDiscriminator,
    PeriodDiscriminator,
    band_bin_ranges,
    complex_spectrogram,
    peak_normalise,
)

# 0.38 s training excerpts at 44.1, 24 and 16 kHz, plus lengths that are / are not multiples
# of the periods and hops.
EXCERPT_LENGTHS = [16758, 9120, 6080]
ODD_LENGTHS = [1155, 1980]


@pytest.fixture(scope="module")
def full_discriminator() -> Discriminator:
    torch.manual_seed(0)
    return Discriminator()


@pytest.fixture(scope="module")
def small_discriminator() -> Discriminator:
    """Same building blocks, fewer sub-discriminators: keeps gradient tests fast."""
    torch.manual_seed(0)
    return Discriminator(periods=(2, 3), fft_sizes=(512,))


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def expected_period_shapes(batch: int, length: int, period: int) -> list[tuple[int, ...]]:
    height = ceil_div(length, period)
    shapes = []
    for channels, stride in zip((32, 128, 512, 1024, 1024), (3, 3, 3, 3, 1)):
        height = ceil_div(height, stride)  # kernel 5, padding 2: out = ceil(in / stride)
        shapes.append((batch, channels, height, period))
    shapes.append((batch, 1, height, period))
    return shapes


def expected_band_shapes(batch: int, length: int, window: int) -> list[tuple[int, ...]]:
    frames = ceil_div(length, window // 4)
    shapes, logit_width = [], 0
    for lo, hi in band_bin_ranges(DEFAULT_BANDS, window):
        width = hi - lo
        for stride in (1, 2, 2, 2, 1):  # kernel 9 pad 4 / kernel 3 pad 1: out = ceil(in / stride)
            width = ceil_div(width, stride)
            shapes.append((batch, 32, frames, width))
        logit_width += width
    shapes.append((batch, 1, frames, logit_width))
    return shapes


# ---------------------------------------------------------------- multi-period discriminator


@pytest.mark.parametrize("length", EXCERPT_LENGTHS + ODD_LENGTHS)
def test_period_discriminator_feature_map_shapes(length):
    torch.manual_seed(1)
    x = torch.randn(2, 1, length)
    for period in DEFAULT_PERIODS:
        with torch.no_grad():
            maps = PeriodDiscriminator(period)(x)
        assert [tuple(m.shape) for m in maps] == expected_period_shapes(2, length, period)


def test_fold_reflect_pads_tail_to_next_multiple_of_period():
    x = torch.arange(7.0).reshape(1, 1, 7)
    folded = PeriodDiscriminator(3).fold(x)
    expected = np.pad(np.arange(7.0), (0, 2), mode="reflect").reshape(1, 1, 3, 3)
    np.testing.assert_array_equal(folded.numpy(), expected)
    # Already a multiple: folded without padding (the DAC release would add one more period).
    x6 = torch.arange(6.0).reshape(1, 1, 6)
    np.testing.assert_array_equal(
        PeriodDiscriminator(3).fold(x6).numpy(), np.arange(6.0).reshape(1, 1, 2, 3)
    )


def test_period_discriminator_sees_samples_one_period_apart():
    # Column j of the folded grid holds samples j, j + p, j + 2p, ...: a pulse train with
    # period p lands in a single column.
    period = 5
    x = torch.zeros(1, 1, 50)
    x[..., 2::period] = 1.0
    folded = PeriodDiscriminator(period).fold(x)[0, 0]
    assert torch.all(folded[:, 2] == 1.0)
    assert torch.count_nonzero(folded) == 10


# ----------------------------------------------------------------------- complex STFT


def numpy_match_stride_stft(x: np.ndarray, window_length: int) -> np.ndarray:
    """DAC/audiotools recipe in numpy: reflect pad, centred STFT, drop 2 frames each side.

    Returns [frames, bins] complex for a 1-D signal.
    """
    hop = window_length // 4
    side = (window_length - hop) // 2
    tail = math.ceil(len(x) / hop) * hop - len(x)
    padded = np.pad(x, (side, side + tail), mode="reflect")
    centred = np.pad(padded, window_length // 2, mode="reflect")
    window = scipy.signal.get_window("hann", window_length)
    n_frames = 1 + (len(centred) - window_length) // hop
    frames = np.stack([centred[k * hop : k * hop + window_length] for k in range(n_frames)])
    return np.fft.rfft(frames * window, axis=-1)[2:-2]


@pytest.mark.parametrize("window_length", DEFAULT_FFT_SIZES)
@pytest.mark.parametrize("length", [6080, 4096, 3001])
def test_complex_spectrogram_matches_audiotools_recipe(window_length, length):
    rng = np.random.default_rng(length + window_length)
    audio = rng.standard_normal((2, length))
    window = torch.hann_window(window_length, periodic=True, dtype=torch.float64)
    spec = complex_spectrogram(torch.from_numpy(audio).unsqueeze(1), window).numpy()
    assert spec.shape == (2, 2, ceil_div(length, window_length // 4), window_length // 2 + 1)
    for b in range(2):
        reference = numpy_match_stride_stft(audio[b], window_length)
        np.testing.assert_allclose(spec[b, 0], reference.real, atol=1e-9)
        np.testing.assert_allclose(spec[b, 1], reference.imag, atol=1e-9)


def test_band_bin_ranges_follow_dac_rounding_and_tile_the_spectrum():
    # 2048-point STFT: 1025 bins; DAC takes int(fraction * 1025) at each edge.
    assert band_bin_ranges(DEFAULT_BANDS, 2048) == [
        (0, 102), (102, 256), (256, 512), (512, 768), (768, 1025)
    ]
    for window_length in DEFAULT_FFT_SIZES:
        ranges = band_bin_ranges(DEFAULT_BANDS, window_length)
        assert ranges[0][0] == 0 and ranges[-1][1] == window_length // 2 + 1
        assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:]))


@pytest.mark.parametrize("bands", [[(0.5, 0.25)], [(0.0, 1.5)], [(0.0, 0.001)]])
def test_bad_bands_are_rejected(bands):
    with pytest.raises(DiscriminatorInputError):
        MultiBandSTFTDiscriminator(512, bands)


@pytest.mark.parametrize("window_length", [0, 100, 1004])
def test_window_lengths_that_break_frame_alignment_are_rejected(window_length):
    with pytest.raises(DiscriminatorInputError, match="multiple of 8"):
        MultiBandSTFTDiscriminator(window_length, [(0.0, 1.0)])


@pytest.mark.parametrize("length", EXCERPT_LENGTHS + ODD_LENGTHS)
def test_multiband_discriminator_feature_map_shapes(length):
    torch.manual_seed(2)
    x = torch.randn(2, 1, length)
    for window in DEFAULT_FFT_SIZES:
        with torch.no_grad():
            maps = MultiBandSTFTDiscriminator(window)(x)
        assert [tuple(m.shape) for m in maps] == expected_band_shapes(2, length, window)


# ---------------------------------------------------------------------- the full wrapper


@pytest.mark.parametrize("length", EXCERPT_LENGTHS)
def test_discriminator_returns_feature_maps_per_sub_discriminator(full_discriminator, length):
    torch.manual_seed(3)
    with torch.no_grad():
        outputs = full_discriminator(torch.randn(2, 1, length))
    expected = [expected_period_shapes(2, length, p) for p in DEFAULT_PERIODS]
    expected += [expected_band_shapes(2, length, n) for n in DEFAULT_FFT_SIZES]
    assert [[tuple(m.shape) for m in maps] for maps in outputs] == expected
    assert all(torch.isfinite(m).all() for maps in outputs for m in maps)


def test_parameter_counts_match_the_dac_layer_list(full_discriminator):
    def conv(c_in, c_out, kh, kw):  # weight + bias + weight-norm magnitude per output channel
        return c_in * c_out * kh * kw + 2 * c_out

    channels = (1, 32, 128, 512, 1024, 1024)
    period = sum(conv(a, b, 5, 1) for a, b in zip(channels, channels[1:])) + conv(1024, 1, 3, 1)
    band = conv(2, 32, 3, 9) + 3 * conv(32, 32, 3, 9) + conv(32, 32, 3, 3)
    stft = 5 * band + conv(32, 1, 3, 3)
    counts = [sum(p.numel() for p in d.parameters()) for d in full_discriminator.discriminators]
    assert counts == [period] * 5 + [stft] * 3
    assert (period, stft) == (8_221_154, 471_330)
    assert sum(counts) == 42_519_760  # ~42.5 M, as in the DAC release


def test_width_scales_every_hidden_channel_count():
    quarter = Discriminator(width=0.25)

    def conv(c_in, c_out, kh, kw):
        return c_in * c_out * kh * kw + 2 * c_out

    channels = (1, 8, 32, 128, 256, 256)
    period = sum(conv(a, b, 5, 1) for a, b in zip(channels, channels[1:])) + conv(256, 1, 3, 1)
    band = conv(2, 8, 3, 9) + 3 * conv(8, 8, 3, 9) + conv(8, 8, 3, 3)
    stft = 5 * band + conv(8, 1, 3, 3)
    counts = [sum(p.numel() for p in d.parameters()) for d in quarter.discriminators]
    assert counts == [period] * 5 + [stft] * 3
    maps = quarter(torch.randn(2, 1, 4096))
    assert [len(m) for m in maps] == [6] * 5 + [26] * 3


def test_non_positive_width_is_rejected():
    with pytest.raises(DiscriminatorInputError, match="width"):
        Discriminator(width=0.0)


def test_state_dict_keys_line_up_with_dac_checkpoints(full_discriminator):
    keys = set(full_discriminator.state_dict())
    for key in (
        "discriminators.0.convs.0.0.parametrizations.weight.original0",
        "discriminators.4.conv_post.parametrizations.weight.original1",
        "discriminators.5.band_convs.4.4.0.bias",
        "discriminators.7.conv_post.bias",
    ):
        assert key in keys
    assert not any("window" in k for k in keys)  # the STFT window is derived, not learned


def test_peak_normalise_removes_dc_and_sets_peak():
    x = torch.stack([torch.linspace(-1.0, 3.0, 100), torch.zeros(100)]).unsqueeze(1)
    y = peak_normalise(x)
    assert torch.allclose(y[0].mean(), torch.tensor(0.0), atol=1e-6)
    assert torch.isclose(y[0].abs().max(), torch.tensor(PEAK_LEVEL))
    assert torch.equal(y[1], torch.zeros(1, 100))  # silence stays silent, no NaN


def test_discriminator_ignores_gain_and_dc_offset(small_discriminator):
    torch.manual_seed(4)
    x = torch.randn(2, 1, 3000)
    with torch.no_grad():
        plain = small_discriminator(x)
        shifted = small_discriminator(3.0 * x + 0.25)
    for a, b in zip(plain, shifted):
        torch.testing.assert_close(a[-1], b[-1], rtol=1e-4, atol=1e-5)


def test_concatenated_batch_equals_separate_passes(small_discriminator):
    torch.manual_seed(5)
    a, b = torch.randn(2, 1, 3000), torch.randn(3, 1, 3000)
    with torch.no_grad():
        together = small_discriminator(torch.cat([a, b]))
        first, second = small_discriminator(a), small_discriminator(b)
    for joint, sa, sb in zip(together, first, second):
        for m, ma, mb in zip(joint, sa, sb):
            torch.testing.assert_close(m, torch.cat([ma, mb]), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("window_length", [16, 24, 512, 2048])
def test_min_length_is_where_every_longer_input_works(window_length):
    shortest = MultiBandSTFTDiscriminator(window_length, [(0.0, 1.0)]).min_length
    window = torch.hann_window(window_length)
    hop = window_length // 4
    for length in range(shortest, shortest + 4 * hop):
        spec = complex_spectrogram(torch.zeros(1, 1, length), window)
        assert spec.shape[2] == ceil_div(length, hop)
    with pytest.raises(RuntimeError, match="[Pp]adding"):  # torch's reflect pad refuses
        complex_spectrogram(torch.zeros(1, 1, shortest - 1), window)


def test_too_short_audio_gets_a_clear_error(full_discriminator):
    shortest = full_discriminator.min_length  # set by the 2048-point STFT: 1153 samples
    with torch.no_grad():
        maps = full_discriminator(torch.randn(1, 1, shortest))
    assert maps[5][-1].shape[2] == ceil_div(shortest, 512)
    with pytest.raises(DiscriminatorInputError, match=f"at least {shortest}"):
        full_discriminator(torch.randn(1, 1, shortest - 1))


@pytest.mark.parametrize(
    "bad",
    [torch.randn(1, 2, 2000), torch.randn(1, 2000), torch.zeros(1, 1, 2000, dtype=torch.int16)],
)
def test_bad_audio_is_rejected(small_discriminator, bad):
    with pytest.raises(DiscriminatorInputError):
        small_discriminator(bad)


# ------------------------------------------------------------------------------ losses


class MeanLogitDiscriminator(nn.Module):
    """Stub with closed-form outputs: per sub-discriminator, features ``scale * x`` and the
    logit ``mean_t(x)`` per example.  On real = ones and fake = zeros it is a perfect
    discriminator (logit 1 on real, 0 on fake)."""

    def __init__(self, n_subs: int) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(n_subs))

    def forward(self, x):
        return [[s * x, x.mean(dim=-1, keepdim=True)] for s in self.scale]


def test_perfect_discriminator_has_zero_loss_and_generator_pays_in_full():
    n_subs, batch, length = 3, 2, 50
    stub = MeanLogitDiscriminator(n_subs)
    real, fake = torch.ones(batch, 1, length), torch.zeros(batch, 1, length)
    assert discriminator_loss(stub, real, fake).item() == 0.0
    # Swapped roles: (0 - 1)^2 + 1^2 per sub-discriminator.
    assert discriminator_loss(stub, fake, real).item() == 2.0 * n_subs
    losses = generator_losses(stub, real, fake)
    assert losses.adversarial.item() == 1.0 * n_subs  # (1 - 0)^2 each
    assert losses.feature_matching.item() == 1.0 * n_subs  # |0 - 1| each, logits excluded


def test_generator_gradient_reaches_fake_audio_in_closed_form():
    n_subs, batch, length = 2, 3, 40
    stub = MeanLogitDiscriminator(n_subs)
    real = torch.ones(batch, 1, length)
    fake = torch.rand(batch, 1, length, generator=torch.Generator().manual_seed(6))
    fake.requires_grad_(True)
    generator_losses(stub, real, fake).adversarial.backward()
    # L = n * mean_b (1 - m_b)^2 with m_b = mean_t fake_b  =>  dL/dfake = -2 n (1 - m_b) / (B T)
    m = fake.detach().mean(dim=-1, keepdim=True)
    expected = -2.0 * n_subs * (1.0 - m) / (batch * length) * torch.ones_like(fake)
    torch.testing.assert_close(fake.grad, expected)
    assert stub.scale.grad is None  # the generator step leaves discriminator gradients alone
    assert stub.scale.requires_grad  # ...and unfreezes the parameters afterwards


def test_discriminator_loss_does_not_reach_fake_audio(small_discriminator):
    torch.manual_seed(7)
    real = torch.randn(2, 1, 2000)
    fake = torch.randn(2, 1, 2000, requires_grad=True)
    small_discriminator.zero_grad(set_to_none=True)
    discriminator_loss(small_discriminator, real, fake).backward()
    assert fake.grad is None
    grads = [p.grad for p in small_discriminator.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert all(g.abs().sum() > 0 for g in grads)


def test_generator_loss_reaches_fake_audio_only(small_discriminator):
    torch.manual_seed(8)
    real = torch.randn(2, 1, 2000, requires_grad=True)
    fake = torch.randn(2, 1, 2000, requires_grad=True)
    small_discriminator.zero_grad(set_to_none=True)
    losses = generator_losses(small_discriminator, real, fake)
    (losses.adversarial + losses.feature_matching).backward()
    assert fake.grad is not None and torch.isfinite(fake.grad).all()
    assert fake.grad.abs().sum() > 0
    assert real.grad is None  # real feature maps are targets
    assert all(p.grad is None for p in small_discriminator.parameters())
    assert all(p.requires_grad for p in small_discriminator.parameters())


def test_losses_equal_dac_two_pass_formulation(small_discriminator):
    """Reference: DAC's GANLoss, i.e. separate full passes on fake and real audio."""
    torch.manual_seed(9)
    real = torch.randn(2, 1, 2500)
    fake_ref = torch.randn(2, 1, 2500, requires_grad=True)
    fake = fake_ref.detach().clone().requires_grad_(True)

    d_fake, d_real = small_discriminator(fake_ref), small_discriminator(real)
    ref_d = sum(
        torch.mean(f[-1] ** 2) + torch.mean((1 - r[-1]) ** 2) for f, r in zip(d_fake, d_real)
    )
    ref_adv = sum(torch.mean((1 - f[-1]) ** 2) for f in d_fake)
    ref_fm = sum(
        torch.nn.functional.l1_loss(f[j], r[j].detach())
        for f, r in zip(d_fake, d_real)
        for j in range(len(f) - 1)
    )
    (ref_adv + 2.0 * ref_fm).backward()

    ours = generator_losses(small_discriminator, real, fake)
    (ours.adversarial + 2.0 * ours.feature_matching).backward()
    torch.testing.assert_close(discriminator_loss(small_discriminator, real, fake), ref_d)
    torch.testing.assert_close(ours.adversarial, ref_adv)
    torch.testing.assert_close(ours.feature_matching, ref_fm)
    torch.testing.assert_close(fake.grad, fake_ref.grad, rtol=1e-4, atol=1e-7)


def test_feature_matching_is_zero_for_identical_inputs(full_discriminator):
    torch.manual_seed(10)
    audio = torch.randn(2, 1, 6080)
    losses = generator_losses(full_discriminator, audio, audio.clone())
    assert losses.feature_matching.item() == 0.0
    with torch.no_grad():
        maps = full_discriminator(audio)
    assert feature_matching_loss(maps, maps).item() == 0.0


def test_mismatched_real_and_fake_are_rejected(small_discriminator):
    with pytest.raises(AdversarialLossInputError, match="same shape"):
        discriminator_loss(small_discriminator, torch.randn(2, 1, 2000), torch.randn(2, 1, 2001))
    with pytest.raises(AdversarialLossInputError, match="same shape"):
        generator_losses(small_discriminator, torch.randn(1, 1, 2000), torch.randn(2, 1, 2000))


def test_frozen_parameters_restores_only_what_it_froze():
    layer = nn.Linear(2, 2)
    layer.bias.requires_grad_(False)
    with frozen_parameters(layer):
        assert not layer.weight.requires_grad
    assert layer.weight.requires_grad and not layer.bias.requires_grad


# ----------------------------------------------------------------------- optimisation


def sine_batch(batch: int, length: int, sample_rate: int, gen: torch.Generator) -> torch.Tensor:
    freq = 200.0 + 800.0 * torch.rand(batch, 1, 1, generator=gen)
    phase = 2 * math.pi * torch.rand(batch, 1, 1, generator=gen)
    t = torch.arange(length) / sample_rate
    return torch.sin(2 * math.pi * freq * t + phase)


def logit_margins(discriminator: Discriminator, length: int, gen: torch.Generator) -> list[float]:
    """Per sub-discriminator: mean logit on fresh sines minus mean logit on fresh noise."""
    with torch.no_grad():
        real_maps = discriminator(sine_batch(4, length, 44100, gen))
        fake_maps = discriminator(torch.randn(4, 1, length, generator=gen))
    return [r[-1].mean().item() - f[-1].mean().item() for r, f in zip(real_maps, fake_maps)]


def check_training_separates_sine_from_noise(discriminator: Discriminator, steps: int, length: int):
    """A few AdamW steps (DAC's betas, 3x DAC's learning rate) must lower the loss and widen every
    sub-discriminator's real-minus-fake logit margin (about 0 at initialisation)."""
    gen = torch.Generator().manual_seed(11)
    before = logit_margins(discriminator, length, gen)
    opt = torch.optim.AdamW(discriminator.parameters(), lr=3e-4, betas=(0.8, 0.99))
    history = []
    for _ in range(steps):
        real = sine_batch(4, length, 44100, gen)
        fake = torch.randn(4, 1, length, generator=gen)
        loss = discriminator_loss(discriminator, real, fake)
        opt.zero_grad()
        loss.backward()
        opt.step()
        history.append(loss.item())
    after = logit_margins(discriminator, length, gen)
    assert np.mean(history[-3:]) < 0.75 * np.mean(history[:3])
    assert all(a > b + 0.05 for a, b in zip(after, before)), (before, after)


def test_discriminator_training_separates_sine_from_noise():
    torch.manual_seed(12)
    check_training_separates_sine_from_noise(
        Discriminator(periods=(2,), fft_sizes=(512,)), steps=12, length=1024
    )


@pytest.mark.slow
def test_full_discriminator_training_separates_sine_from_noise():
    torch.manual_seed(13)
    check_training_separates_sine_from_noise(Discriminator(), steps=8, length=4096)
