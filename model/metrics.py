"""Evaluation metrics for codec output and codes: SI-SDR, spectral distances, code statistics.

Conventions: waveform metrics take ``(reference, estimate)`` as numpy arrays or tensors of
shape ``[T]`` (one item), ``[B, T]`` or ``[B, C, T]`` and return a float32 tensor ``[B]``
(one value per item; channels are pooled, as in the DAC evaluation).  They run without
autograd -- for training use ``model.spectral`` directly.

``si_sdr`` reproduces audiotools' ``SISDRLoss(scaling=True, zero_mean=True)`` (negated),
including where its ``eps = 1e-8`` enters, so our numbers line up with the DAC paper's.
``mel_distance`` / ``stft_distance`` are the DAC release losses evaluated per item.

``kbps`` is the nominal bitrate ``n_codebooks * log2(codebook_size) * frame_rate``
(information content of uniformly used codes, as quoted for DAC: 9 x 10 bits x 86.13 Hz =
7.75 kbps); the ``.rvq`` container's raw mode stores ``ceil(log2(codebook_size))`` bits.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from model.spectral import MelSpectrogramLoss, MultiScaleSTFTLoss, spectral_losses_per_item

_SI_SDR_EPS = 1e-8


class MetricInputError(ValueError):
    """Arguments to a metric are malformed."""


def _as_items(audio: np.ndarray | torch.Tensor) -> torch.Tensor:
    """``[T]``, ``[B, T]`` or ``[B, C, T]`` -> float32 ``[B, C, T]``."""
    tensor = torch.as_tensor(audio).detach().to(torch.float32)
    if tensor.dim() == 1:
        return tensor.reshape(1, 1, -1)
    if tensor.dim() == 2:
        return tensor.unsqueeze(1)
    if tensor.dim() == 3:
        return tensor
    raise MetricInputError(f"audio must be [T], [B, T] or [B, C, T], got shape {tuple(tensor.shape)}")


def paired_items(
    reference: np.ndarray | torch.Tensor, estimate: np.ndarray | torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Both signals as float32 ``[B, C, T]``, checked to have the same shape."""
    ref, est = _as_items(reference), _as_items(estimate)
    if ref.shape != est.shape:
        raise MetricInputError(f"reference {tuple(ref.shape)} and estimate {tuple(est.shape)} differ in shape")
    return ref, est


@torch.no_grad()
def si_sdr(reference: np.ndarray | torch.Tensor, estimate: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Scale-invariant signal-to-distortion ratio in dB per item (zero-mean, channels pooled)."""
    ref, est = paired_items(reference, estimate)
    ref = ref.flatten(1)
    est = est.flatten(1)
    ref = ref - ref.mean(dim=1, keepdim=True)
    est = est - est.mean(dim=1, keepdim=True)
    scale = ((est * ref).sum(dim=1, keepdim=True) + _SI_SDR_EPS) / (
        (ref**2).sum(dim=1, keepdim=True) + _SI_SDR_EPS
    )
    target = scale * ref
    residual = est - target
    return 10 * torch.log10((target**2).sum(dim=1) / (residual**2).sum(dim=1) + _SI_SDR_EPS)


@torch.no_grad()
def spectral_distances(
    reference: np.ndarray | torch.Tensor, estimate: np.ndarray | torch.Tensor, sample_rate: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(mel_distance, stft_distance)`` per item, sharing the STFTs between both."""
    ref, est = paired_items(reference, estimate)
    mel, stft = spectral_losses_per_item(est, ref, [MelSpectrogramLoss(sample_rate), MultiScaleSTFTLoss()])
    return mel, stft


@torch.no_grad()
def mel_distance(
    reference: np.ndarray | torch.Tensor, estimate: np.ndarray | torch.Tensor, sample_rate: int
) -> torch.Tensor:
    """DAC multi-scale mel distance per item (release loss settings)."""
    ref, est = paired_items(reference, estimate)
    return MelSpectrogramLoss(sample_rate).per_item(est, ref)


@torch.no_grad()
def stft_distance(reference: np.ndarray | torch.Tensor, estimate: np.ndarray | torch.Tensor) -> torch.Tensor:
    """DAC multi-scale STFT distance per item (release loss settings)."""
    ref, est = paired_items(reference, estimate)
    return MultiScaleSTFTLoss().per_item(est, ref)


def codebook_entropy(codes: torch.Tensor, codebook_size: int, strides: Sequence[int] | None = None) -> torch.Tensor:
    """Entropy in bits of each codebook's code-usage histogram; ``codes`` is ``[B, N, F]``.

    Returns a float64 tensor ``[N]``; a codebook with no codes (``B * F == 0``) has entropy 0.
    ``strides`` (a multi-scale codec's ``codebook_strides``) counts each code of codebook k
    once, from ``codes[:, k, ::strides[k]]``, not once per frame it is repeated over.
    """
    codes = torch.as_tensor(codes)
    if codes.dim() != 3 or codes.dtype.is_floating_point or codes.dtype.is_complex:
        raise MetricInputError(f"codes must be an integer tensor [B, N, F], got {codes.dtype} {tuple(codes.shape)}")
    if codebook_size < 1:
        raise MetricInputError(f"codebook_size must be positive, got {codebook_size}")
    if codes.numel() and (int(codes.min()) < 0 or int(codes.max()) >= codebook_size):
        found = f"[{int(codes.min())}, {int(codes.max())}]"
        raise MetricInputError(f"codes must lie in [0, {codebook_size}), found {found}")
    if strides is not None and any(s != 1 for s in strides):
        counts = torch.stack([torch.bincount(codes[:, k, ::s].flatten().to(torch.int64), minlength=codebook_size)
                              for k, s in zip(range(codes.shape[1]), strides)]).to(torch.float64)
    else:
        per_codebook = codes.transpose(0, 1).reshape(codes.shape[1], -1).to(torch.int64)
        offsets = torch.arange(codes.shape[1], dtype=torch.int64).unsqueeze(1) * codebook_size
        counts = torch.bincount((per_codebook + offsets).flatten(), minlength=codes.shape[1] * codebook_size)
        counts = counts.reshape(codes.shape[1], codebook_size).to(torch.float64)
    totals = counts.sum(dim=1, keepdim=True).clamp(min=1.0)
    probs = counts / totals
    return -(probs * torch.log2(probs.where(probs > 0, torch.ones_like(probs)))).sum(dim=1)


def bitrate_efficiency(entropies: torch.Tensor | np.ndarray, codebook_size: int,
                       strides: Sequence[int] | None = None) -> float:
    """Fraction of the nominal bitrate actually used: ``sum(H) / (N * log2(codebook_size))``.

    With ``strides`` each codebook weighs by its code rate ``1 / stride`` (multi-scale codecs).
    """
    entropies = torch.as_tensor(entropies, dtype=torch.float64).flatten()
    if codebook_size < 2 or entropies.numel() == 0:
        raise MetricInputError("need codebook_size >= 2 and at least one codebook entropy")
    rates = torch.tensor([1.0 / s for s in strides] if strides is not None else [1.0] * entropies.numel(),
                         dtype=torch.float64)
    return float((entropies * rates).sum() / (rates.sum() * math.log2(codebook_size)))


def kbps(n_codebooks: int, codebook_size: int, sample_rate: int, hop_length: int) -> float:
    """Nominal bitrate in kbit/s of ``n_codebooks`` codes per frame at ``sample_rate / hop_length`` Hz."""
    if n_codebooks < 0 or codebook_size < 1 or sample_rate <= 0 or hop_length <= 0:
        raise MetricInputError(
            f"invalid bitrate arguments (n_codebooks={n_codebooks}, codebook_size={codebook_size}, "
            f"sample_rate={sample_rate}, hop_length={hop_length})"
        )
    return n_codebooks * math.log2(codebook_size) * sample_rate / hop_length / 1000.0
