"""Discriminators of the Improved RVQGAN (DAC) codec: multi-period + multi-band complex STFT.

Why these two families (Kumar et al., 2023, "High-Fidelity Audio Compression with Improved
RVQGAN"): the multi-period discriminator (from HiFi-GAN) folds the waveform into a 2-D
[time / period, period] grid so its convolutions see samples that are exactly one period
apart, which punishes periodic (pitch) artefacts; the multi-band multi-scale STFT
discriminator looks at the *complex* spectrogram (real and imaginary part as two channels)
at three resolutions and gives every frequency band its own convolution stack, which
punishes high-frequency and phase artefacts that the waveform discriminators miss.

Design decisions:
- Layer shapes follow the DAC release exactly (``dac/model/discriminator.py``), and so does the
  module nesting (``convs.<i>.0`` = weight-normalised conv, ``convs.<i>.1`` = LeakyReLU(0.1);
  ``band_convs.<b>.<i>``; ``conv_post``), so the state-dict keys follow the naming of a DAC
  training checkpoint made with ``torch.nn.utils.parametrizations.weight_norm``.
- Our own STFT on top of ``torch.stft`` instead of audiotools: DAC's "match_stride" STFT
  reflect-pads by ``3 * window / 8`` on both sides (plus the tail up to a multiple of the hop),
  runs a centred STFT and then drops the first two and last two frames.  The frames it keeps
  never touch the centring pad, so one reflect pad followed by an uncentred STFT computes exactly
  those frames while skipping four wasted frames and a second pad.  Result: ``ceil(T / hop)``
  frames, frame ``k`` centred on sample ``k * hop + hop / 2`` (window lengths must be multiples
  of 8 for this alignment).  The window is a periodic Hann window (scipy's
  ``get_window("hann")``, audiotools' default).
- No sample-rate argument: band edges are fractions of Nyquist and no layer depends on the
  rate, which is why DAC uses the same discriminator configuration for its 16, 24 and 44.1 kHz
  models.  Any rate works as long as the input has at least ``min_length`` samples (the reflect
  pad of the largest STFT needs that much signal: 1153 samples for a 2048-point STFT, i.e. 26 ms
  at 44.1 kHz or 72 ms at 16 kHz).
- The multi-period discriminator reflect-pads to the *next* multiple of the period.  The DAC
  release pads by ``period - T % period`` and so adds a whole extra period when ``T`` is already
  a multiple; we do not copy that quirk (it only changes the folded height in that case).
- ``Discriminator`` removes the DC offset and peak-normalises every example to 0.8 before the
  sub-discriminators, as the release does, so the adversarial game is about timbre and not about
  loudness.  Every operation is per example (no batch statistics), so running real and fake audio
  as one concatenated batch gives the same outputs as two separate passes.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.parametrizations import weight_norm

FeatureMaps = list[list[Tensor]]
"""Per sub-discriminator, its intermediate activations; the last entry is the logit map."""

DEFAULT_PERIODS: tuple[int, ...] = (2, 3, 5, 7, 11)
DEFAULT_FFT_SIZES: tuple[int, ...] = (2048, 1024, 512)
DEFAULT_BANDS: tuple[tuple[float, float], ...] = (
    (0.0, 0.1),
    (0.1, 0.25),
    (0.25, 0.5),
    (0.5, 0.75),
    (0.75, 1.0),
)

LEAKY_RELU_SLOPE = 0.1
PEAK_LEVEL = 0.8
_PEAK_EPS = 1e-9

_PERIOD_CHANNELS = (1, 32, 128, 512, 1024, 1024)
_BAND_CHANNELS = 32


class DiscriminatorInputError(ValueError):
    """Raised for audio or configuration a discriminator cannot handle."""


def scaled_channels(channels: int, width: float) -> int:
    """``channels * width`` rounded, at least 1: the width multiplier of every hidden layer."""
    if not width > 0:
        raise DiscriminatorInputError(f"width must be positive, got {width}")
    return max(1, round(channels * width))


def _wn_conv2d(
    in_channels: int,
    out_channels: int,
    kernel_size: tuple[int, int],
    stride: tuple[int, int],
    padding: tuple[int, int],
    activate: bool = True,
) -> nn.Module:
    """Weight-normalised Conv2d, followed by LeakyReLU(0.1) unless ``activate`` is False."""
    conv = weight_norm(nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding))
    if not activate:
        return conv
    return nn.Sequential(conv, nn.LeakyReLU(LEAKY_RELU_SLOPE))


def _check_audio(x: Tensor, min_length: int) -> None:
    if x.dim() != 3 or x.shape[1] != 1:
        raise DiscriminatorInputError(
            f"expected mono audio shaped [batch, 1, samples], got {tuple(x.shape)}"
        )
    if not x.is_floating_point():
        raise DiscriminatorInputError(f"expected floating-point audio, got {x.dtype}")
    if x.shape[-1] < min_length:
        raise DiscriminatorInputError(
            f"audio has {x.shape[-1]} samples; this discriminator needs at least {min_length}"
        )


class PeriodDiscriminator(nn.Module):
    """HiFi-GAN/DAC period discriminator: fold the waveform by ``period``, then (5, 1) convs."""

    def __init__(self, period: int, width: float = 1.0) -> None:
        super().__init__()
        if period < 1:
            raise DiscriminatorInputError(f"period must be a positive integer, got {period}")
        self.period = period
        channels = (1, *(scaled_channels(c, width) for c in _PERIOD_CHANNELS[1:]))
        pairs = list(zip(channels[:-1], channels[1:]))
        strides = [(3, 1)] * (len(pairs) - 1) + [(1, 1)]
        self.convs = nn.ModuleList(
            _wn_conv2d(c_in, c_out, (5, 1), stride, (2, 0))
            for (c_in, c_out), stride in zip(pairs, strides)
        )
        self.conv_post = _wn_conv2d(channels[-1], 1, (3, 1), (1, 1), (1, 0), activate=False)

    @property
    def min_length(self) -> int:
        """Shortest input: reflect padding needs more samples than it adds."""
        return self.period

    def fold(self, x: Tensor) -> Tensor:
        """[B, 1, T] -> [B, 1, ceil(T / period), period], reflect-padding the tail."""
        tail = (-x.shape[-1]) % self.period
        if tail:
            x = F.pad(x, (0, tail), mode="reflect")
        return x.reshape(x.shape[0], 1, -1, self.period)

    def forward(self, x: Tensor) -> list[Tensor]:
        _check_audio(x, self.min_length)
        h = self.fold(x)
        feature_maps = []
        for layer in self.convs:
            h = layer(h)
            feature_maps.append(h)
        feature_maps.append(self.conv_post(h))
        return feature_maps


def band_bin_ranges(
    bands: Sequence[tuple[float, float]], window_length: int
) -> list[tuple[int, int]]:
    """STFT bin ranges [lo, hi) of ``bands`` (fractions of Nyquist), rounded down as DAC does."""
    n_bins = window_length // 2 + 1
    ranges = [(int(lo * n_bins), int(hi * n_bins)) for lo, hi in bands]
    for (lo, hi), (lo_bin, hi_bin) in zip(bands, ranges):
        if not 0.0 <= lo < hi <= 1.0:
            raise DiscriminatorInputError(f"band ({lo}, {hi}) is not inside [0, 1] with lo < hi")
        if hi_bin <= lo_bin:
            raise DiscriminatorInputError(
                f"band ({lo}, {hi}) holds no bin of a {window_length}-point STFT"
            )
    return ranges


def complex_spectrogram(x: Tensor, window: Tensor) -> Tensor:
    """DAC's stride-matched STFT of [B, 1, T] audio as [B, 2 (real, imag), frames, bins].

    ``frames == ceil(T / hop)`` with ``hop = len(window) // 4``; see the module docstring for why
    one reflect pad plus an uncentred STFT equals the audiotools "match_stride" recipe.
    """
    window_length = window.shape[-1]
    hop = window_length // 4
    samples = x.shape[-1]
    side = (window_length - hop) // 2
    tail = math.ceil(samples / hop) * hop - samples
    padded = F.pad(x, (side, side + tail), mode="reflect").squeeze(1)
    spec = torch.stft(
        padded,
        n_fft=window_length,
        hop_length=hop,
        window=window,
        center=False,
        return_complex=True,
    )  # [B, bins, frames]
    return torch.view_as_real(spec).permute(0, 3, 2, 1)


class MultiBandSTFTDiscriminator(nn.Module):
    """DAC's "MRD": complex STFT at one resolution, one conv stack per frequency band."""

    def __init__(
        self,
        window_length: int,
        bands: Sequence[tuple[float, float]] = DEFAULT_BANDS,
        width: float = 1.0,
    ) -> None:
        super().__init__()
        if window_length < 8 or window_length % 8:
            # Multiples of 8 make the side pad exactly 1.5 hops, hence ceil(T / hop) frames.
            raise DiscriminatorInputError(
                f"window_length must be a positive multiple of 8, got {window_length}"
            )
        self.window_length = window_length
        self.hop_length = window_length // 4
        self.bin_ranges = band_bin_ranges(bands, window_length)
        self.register_buffer(
            "window", torch.hann_window(window_length, periodic=True), persistent=False
        )
        ch = scaled_channels(_BAND_CHANNELS, width)
        self.band_convs = nn.ModuleList(
            nn.ModuleList(
                [
                    _wn_conv2d(2, ch, (3, 9), (1, 1), (1, 4)),
                    _wn_conv2d(ch, ch, (3, 9), (1, 2), (1, 4)),
                    _wn_conv2d(ch, ch, (3, 9), (1, 2), (1, 4)),
                    _wn_conv2d(ch, ch, (3, 9), (1, 2), (1, 4)),
                    _wn_conv2d(ch, ch, (3, 3), (1, 1), (1, 1)),
                ]
            )
            for _ in self.bin_ranges
        )
        self.conv_post = _wn_conv2d(ch, 1, (3, 3), (1, 1), (1, 1), activate=False)

    @property
    def min_length(self) -> int:
        """Shortest length from which on every input works.

        Reflect padding needs more samples than the right pad ``side + tail`` with
        ``side = (window - hop) // 2`` and ``tail = ceil(T / hop) * hop - T``.  Above three hops
        this always holds; between two and three hops it needs ``2 T > side + 3 hop``.
        """
        side = (self.window_length - self.hop_length) // 2
        return (side + 3 * self.hop_length) // 2 + 1

    def forward(self, x: Tensor) -> list[Tensor]:
        _check_audio(x, self.min_length)
        spec = complex_spectrogram(x, self.window.to(x.dtype))
        feature_maps = []
        band_outputs = []
        for (lo, hi), stack in zip(self.bin_ranges, self.band_convs):
            h = spec[..., lo:hi]
            for layer in stack:
                h = layer(h)
                feature_maps.append(h)
            band_outputs.append(h)
        feature_maps.append(self.conv_post(torch.cat(band_outputs, dim=-1)))
        return feature_maps


def peak_normalise(x: Tensor) -> Tensor:
    """Remove each example's DC offset and scale its peak to ``PEAK_LEVEL`` (silence stays 0)."""
    x = x - x.mean(dim=-1, keepdim=True)
    return PEAK_LEVEL * x / (x.abs().amax(dim=-1, keepdim=True) + _PEAK_EPS)


class Discriminator(nn.Module):
    """All sub-discriminators of DAC: period ones first, then the multi-band STFT ones.

    ``forward`` maps [B, 1, T] audio to ``FeatureMaps``: one list per sub-discriminator whose last
    element is its logit map.  ``width`` multiplies every hidden channel count (1.0 is DAC's);
    the cost of the wide inner layers falls with its square, which is what makes adversarial
    training of small codecs affordable on a CPU.
    """

    def __init__(
        self,
        periods: Sequence[int] = DEFAULT_PERIODS,
        fft_sizes: Sequence[int] = DEFAULT_FFT_SIZES,
        bands: Sequence[tuple[float, float]] = DEFAULT_BANDS,
        width: float = 1.0,
    ) -> None:
        super().__init__()
        subs: list[nn.Module] = [PeriodDiscriminator(p, width) for p in periods]
        subs += [MultiBandSTFTDiscriminator(n, bands, width) for n in fft_sizes]
        if not subs:
            raise DiscriminatorInputError("a discriminator needs at least one period or FFT size")
        self.discriminators = nn.ModuleList(subs)

    @property
    def min_length(self) -> int:
        """Shortest input every sub-discriminator accepts."""
        return max(d.min_length for d in self.discriminators)

    def forward(self, x: Tensor) -> FeatureMaps:
        _check_audio(x, self.min_length)
        x = peak_normalise(x)
        return [d(x) for d in self.discriminators]
