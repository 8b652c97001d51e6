"""DAC's spectral losses (multi-scale mel and multi-scale STFT), differentiable, in pure torch.

Why our own: the DAC release computes these through descript-audiotools' ``AudioSignal``,
which drags in librosa, torchaudio, scipy and a large object model.  We only need the
arithmetic, and we need it batched, float32 and with the STFT of each window length
computed once per call and shared between the mel and the STFT loss (the trainer logs
both on every step; they share the 512 and 2048 windows).

Framing reproduces ``AudioSignal.stft`` with the defaults DAC uses (``match_stride=False``,
so no extra padding; ``torch.stft(center=True)`` with reflect padding; periodic Hann
window computed in float64 like ``scipy.signal.get_window`` and cast to float32;
hop = window // 4).  Mel spectra are Slaney filterbank (``model.mel``, identical to
librosa's) times STFT magnitude.  Each scale contributes
``log_weight * L1(log10(clamp(S, eps) ** pow)) + mag_weight * L1(S)``, L1 being the mean
absolute difference over channels, bins and frames; scales are summed.

Inputs are ``[B, T]`` or ``[B, C, T]`` tensors; ``per_item`` returns one value per batch
item (for metrics) and ``forward`` their mean, which equals audiotools' scalar because
every item has the same number of elements.  Reflect padding needs
``T > max(window) // 2`` samples; shorter input raises ``SpectralInputError``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import torch
from torch import nn

from model.mel import mel_filterbank

DAC_MEL_N_MELS = (5, 10, 20, 40, 80, 160, 320)
DAC_MEL_WINDOW_LENGTHS = (32, 64, 128, 256, 512, 1024, 2048)
DAC_STFT_WINDOW_LENGTHS = (2048, 512)

Magnitudes = Mapping[int, torch.Tensor]


class SpectralInputError(ValueError):
    """Audio given to a spectral loss has an unusable shape or length."""


def as_batch(audio: torch.Tensor) -> torch.Tensor:
    """View ``[B, T]`` or ``[B, C, T]`` audio as float32 ``[B, C, T]``."""
    if audio.dim() == 2:
        audio = audio.unsqueeze(1)
    if audio.dim() != 3:
        raise SpectralInputError(f"audio must be [B, T] or [B, C, T], got shape {tuple(audio.shape)}")
    return audio.to(torch.float32)


def stft_magnitudes(audio: torch.Tensor, window_lengths: Iterable[int]) -> dict[int, torch.Tensor]:
    """|STFT| of ``[B, C, T]`` audio for each window length: ``{w: [B, C, w//2+1, frames]}``.

    Hann window, hop ``w // 4``, centred frames with reflect padding (audiotools framing).
    """
    windows = sorted(set(int(w) for w in window_lengths))
    batch, channels, length = audio.shape
    if windows and length <= windows[-1] // 2:
        raise SpectralInputError(
            f"audio of {length} samples is too short for a {windows[-1]}-sample window "
            f"(need more than {windows[-1] // 2})"
        )
    flat = audio.reshape(batch * channels, length)
    magnitudes = {}
    for window_length in windows:
        window = torch.hann_window(window_length, periodic=True, dtype=torch.float64)
        spectrum = torch.stft(
            flat,
            n_fft=window_length,
            hop_length=window_length // 4,
            window=window.to(device=flat.device, dtype=flat.dtype),
            center=True,
            pad_mode="reflect",
            return_complex=True,
        )
        magnitudes[window_length] = spectrum.abs().reshape(batch, channels, *spectrum.shape[-2:])
    return magnitudes


class _MultiScaleMagnitudeLoss(nn.Module):
    """Shared log/linear L1 comparison of per-scale magnitude features."""

    def __init__(
        self,
        window_lengths: Sequence[int],
        clamp_eps: float,
        mag_weight: float,
        log_weight: float,
        pow: float,
    ) -> None:
        super().__init__()
        if any(int(w) < 2 or int(w) % 2 for w in window_lengths):
            raise SpectralInputError(f"window lengths must be even and >= 2, got {list(window_lengths)}")
        self.window_lengths = tuple(int(w) for w in window_lengths)
        self.clamp_eps = float(clamp_eps)
        self.mag_weight = float(mag_weight)
        self.log_weight = float(log_weight)
        self.pow = float(pow)

    def features(self, magnitude: torch.Tensor, window_length: int) -> torch.Tensor:
        """Map ``|STFT|`` of one scale to the quantity being compared."""
        raise NotImplementedError

    def _item_l1(self, estimate: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        return (estimate - reference).abs().flatten(1).mean(dim=1)

    def per_item_from_magnitudes(self, estimate: Magnitudes, reference: Magnitudes) -> torch.Tensor:
        """Loss per batch item, ``[B]``, from precomputed ``stft_magnitudes`` of both signals."""
        total = None
        for window_length in self.window_lengths:
            est = self.features(estimate[window_length], window_length)
            ref = self.features(reference[window_length], window_length)
            term = self.log_weight * self._item_l1(
                est.clamp(min=self.clamp_eps).pow(self.pow).log10(),
                ref.clamp(min=self.clamp_eps).pow(self.pow).log10(),
            )
            if self.mag_weight:
                term = term + self.mag_weight * self._item_l1(est, ref)
            total = term if total is None else total + term
        return total

    def per_item(self, estimate: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        """Loss per batch item, ``[B]``."""
        return spectral_losses_per_item(estimate, reference, [self])[0]

    def forward(self, estimate: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        """Scalar loss: mean over the batch of ``per_item``."""
        return self.per_item(estimate, reference).mean()


class MultiScaleSTFTLoss(_MultiScaleMagnitudeLoss):
    """DAC release multi-scale STFT loss (windows 2048 and 512, |S|^2 log + |S| linear)."""

    def __init__(
        self,
        window_lengths: Sequence[int] = DAC_STFT_WINDOW_LENGTHS,
        clamp_eps: float = 1e-5,
        mag_weight: float = 1.0,
        log_weight: float = 1.0,
        pow: float = 2.0,
    ) -> None:
        super().__init__(window_lengths, clamp_eps, mag_weight, log_weight, pow)

    def features(self, magnitude: torch.Tensor, window_length: int) -> torch.Tensor:
        return magnitude


class MelSpectrogramLoss(_MultiScaleMagnitudeLoss):
    """DAC release multi-scale mel loss (7 scales, 5..320 mels, log10 L1 only)."""

    def __init__(
        self,
        sample_rate: int,
        n_mels: Sequence[int] = DAC_MEL_N_MELS,
        window_lengths: Sequence[int] = DAC_MEL_WINDOW_LENGTHS,
        clamp_eps: float = 1e-5,
        mag_weight: float = 0.0,
        log_weight: float = 1.0,
        pow: float = 1.0,
        fmin: float = 0.0,
        fmax: float | None = None,
    ) -> None:
        super().__init__(window_lengths, clamp_eps, mag_weight, log_weight, pow)
        if len(n_mels) != len(self.window_lengths):
            raise SpectralInputError(
                f"need one n_mels per window length ({len(n_mels)} vs {len(self.window_lengths)})"
            )
        self.sample_rate = int(sample_rate)
        for window_length, bands in zip(self.window_lengths, n_mels):
            filters = mel_filterbank(self.sample_rate, window_length, int(bands), fmin, fmax)
            self.register_buffer(f"filters_{window_length}", filters, persistent=False)

    def features(self, magnitude: torch.Tensor, window_length: int) -> torch.Tensor:
        filters = getattr(self, f"filters_{window_length}")
        return torch.matmul(filters.to(magnitude.dtype), magnitude)


def spectral_losses_per_item(
    estimate: torch.Tensor,
    reference: torch.Tensor,
    losses: Sequence[_MultiScaleMagnitudeLoss],
) -> list[torch.Tensor]:
    """Evaluate several spectral losses per item, computing each window's STFT only once."""
    estimate, reference = as_batch(estimate), as_batch(reference)
    if estimate.shape != reference.shape:
        raise SpectralInputError(
            f"estimate {tuple(estimate.shape)} and reference {tuple(reference.shape)} differ in shape"
        )
    windows = {w for loss in losses for w in loss.window_lengths}
    both = stft_magnitudes(torch.cat([estimate, reference]), windows)  # one STFT call per window
    batch = estimate.shape[0]
    est_mags = {w: mag[:batch] for w, mag in both.items()}
    ref_mags = {w: mag[batch:] for w, mag in both.items()}
    return [loss.per_item_from_magnitudes(est_mags, ref_mags) for loss in losses]
