"""HiFi-Codec (Yang et al. 2023): HiFi-GAN generator and group-residual VQ.

Generator, as in the AcademiCodec release: the decoder is a HiFi-GAN generator
(transposed convolutions with rates 8, 5, 4, 2 and kernels 16, 11, 8, 4, each followed
by a multi-receptive-field fusion of residual blocks with kernels 3, 7, 11 and dilations
1, 3, 5, LeakyReLU 0.1, tanh output) and the encoder mirrors it with strided convolutions
into a 512-dimensional latent (hop 320: 75 frames per second at 24 kHz).

One deliberate departure: the release's encoder applies GroupNorm after each fusion
step. GroupNorm normalises over the whole time axis, so every code would depend on the
entire file and no chunk could be encoded on its own; without it every layer has a finite
receptive field and chunked encoding is exact. (Official HiFi-Codec checkpoints are
therefore not loadable; none is required.)

Quantizer: the latent is split into G groups of channels, each with its own residual VQ of
L levels (the paper: G = 2, L = 2, four 1024-entry codebooks, 2 kbps at 24 kHz), learned
by gradient with a codebook and a commitment loss (weights 1 and 0.25 in the release).

**Code order and "n codebooks".** The codes tensor holds the G*L codebooks in level-major
order: row ``l*G + g`` is level l of group g -- for the paper's setting (L0G0, L0G1, L1G0,
L1G1), the release's order too. The slider's n keeps the first n rows, as for every
family: n = G gives the coarse level of every group, n = 2G adds the first refinement,
and so on; a count that is not a multiple of G leaves the last groups one level coarser
(those groups decode from their earlier levels, or from zero at n < G). The quantizer
reports the group and level of every row (``codebook_groups()``, which any family with
channel groups shares) so the studio can show them, and quantizer dropout keeps whole levels.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from model.codec_network import ConvolutionalCodec
from model.family_config import FamilyConfig
from model.layers import ResidualUnit, WNConv1d, WNConvTranspose1d
from model.quantize import EuclideanVectorQuantizer, GroupSlice, ResidualVectorQuantizer
from model.receptive_field import Span, parallel_spans
from model.training.recipes import TINY_RUN, FamilyRecipes, TrainingPreset

LEAKY_SLOPE = 0.1  # inside the generator; the last activation of each stack uses PyTorch's 0.01


@dataclass(frozen=True)
class HifiCodecConfig(FamilyConfig):
    """Defaults: the release's 24 kHz, 320-hop model (``config_24k_320d.json``)."""

    sample_rate: int = 24000
    encoder_dim: int = 32
    latent_dim: int = 512
    decoder_dim: int = 512  # upsample_initial_channel
    rates: tuple[int, ...] = (8, 5, 4, 2)  # decoder order; the encoder uses them reversed
    kernel_sizes: tuple[int, ...] = (16, 11, 8, 4)
    resblock_kernel_sizes: tuple[int, ...] = (3, 7, 11)
    resblock_dilations: tuple[int, ...] = (1, 3, 5)
    n_groups: int = 2
    n_levels: int = 2
    codebook_size: int = 1024
    quantizer_dropout: float = 0.0

    @property
    def hop_length(self) -> int:
        return math.prod(self.rates)

    @property
    def n_codebooks(self) -> int:
        return self.n_groups * self.n_levels


class MultiReceptiveField(nn.ModuleList):
    """HiFi-GAN's fusion: the mean of parallel residual stacks with different kernels."""

    def __init__(self, channels: int, kernels: tuple[int, ...], dilations: tuple[int, ...]) -> None:
        super().__init__([_resblock(channels, k, dilations) for k in kernels])

    def receptive_span(self) -> Span:
        return parallel_spans(list(self))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branches = iter(self)
        out = next(branches)(x)
        for branch in branches:
            out = out + branch(x)
        return out / len(self)


def _resblock(channels: int, kernel: int, dilations: tuple[int, ...]) -> nn.Sequential:
    """HiFi-GAN ResBlock1: per dilation, LReLU -> dilated conv -> LReLU -> conv, residual."""
    return nn.Sequential(*(ResidualUnit(nn.Sequential(
        nn.LeakyReLU(LEAKY_SLOPE),
        WNConv1d(channels, channels, kernel, dilation=d, padding=d * (kernel - 1) // 2),
        nn.LeakyReLU(LEAKY_SLOPE),
        WNConv1d(channels, channels, kernel, padding=(kernel - 1) // 2),
    )) for d in dilations))


def _encoder(c: HifiCodecConfig) -> nn.Sequential:
    layers: list[nn.Module] = [WNConv1d(1, c.encoder_dim, 7, padding=3)]
    dim = c.encoder_dim
    for rate, kernel in zip(reversed(c.rates), reversed(c.kernel_sizes)):
        layers += [nn.LeakyReLU(LEAKY_SLOPE), WNConv1d(dim, 2 * dim, kernel, rate, padding=(kernel - rate) // 2),
                   MultiReceptiveField(2 * dim, c.resblock_kernel_sizes, c.resblock_dilations)]
        dim *= 2
    layers += [nn.LeakyReLU(), WNConv1d(dim, c.latent_dim, 3, padding=1)]
    return nn.Sequential(*layers)


def _decoder(c: HifiCodecConfig) -> nn.Sequential:
    layers: list[nn.Module] = [WNConv1d(c.latent_dim, c.decoder_dim, 7, padding=3)]
    dim = c.decoder_dim
    for rate, kernel in zip(c.rates, c.kernel_sizes):
        layers += [nn.LeakyReLU(LEAKY_SLOPE),
                   WNConvTranspose1d(dim, dim // 2, kernel, rate, padding=(kernel - rate) // 2),
                   MultiReceptiveField(dim // 2, c.resblock_kernel_sizes, c.resblock_dilations)]
        dim //= 2
    layers += [nn.LeakyReLU(), WNConv1d(dim, 1, 7, padding=3), nn.Tanh()]
    return nn.Sequential(*layers)


def group_residual_quantizer(c: HifiCodecConfig) -> ResidualVectorQuantizer:
    """G groups x L levels of Euclidean VQ, in level-major order (see the module docstring)."""
    if c.latent_dim % c.n_groups:
        raise ValueError(f"latent_dim {c.latent_dim} does not split into {c.n_groups} groups")
    width = c.latent_dim // c.n_groups
    stages = [GroupSlice(EuclideanVectorQuantizer(width, c.codebook_size), g * width, (g + 1) * width, c.latent_dim)
              for _ in range(c.n_levels) for g in range(c.n_groups)]
    return ResidualVectorQuantizer(stages, c.quantizer_dropout, dropout_step=c.n_groups)


class HifiCodec(ConvolutionalCodec):
    def __init__(self, config: HifiCodecConfig) -> None:
        super().__init__()
        if len(config.rates) != len(config.kernel_sizes):
            raise ValueError("rates and kernel_sizes must have the same length")
        if config.decoder_dim % 2 ** len(config.rates):
            raise ValueError(f"decoder_dim {config.decoder_dim} must be divisible by 2**{len(config.rates)}")
        self.config = config
        self.encoder = _encoder(config)
        self.quantizer = group_residual_quantizer(config)
        self.decoder = _decoder(config)

    def encoder_stack(self) -> nn.Sequential:
        return self.encoder

    def decoder_stack(self) -> nn.Sequential:
        return self.decoder

    def describe(self) -> dict:
        c = self.config
        return {
            "architecture": "HiFi-Codec (HiFi-GAN generator, group-residual VQ)",
            "encoder_dim": c.encoder_dim,
            "latent_dim": c.latent_dim,
            "decoder_dim": c.decoder_dim,
            "rates": list(c.rates),
            "groups": {
                "n_groups": c.n_groups,
                "n_levels": c.n_levels,
                "channels_per_group": c.latent_dim // c.n_groups,
                "order": "level-major",
                **self.codebook_groups(),
            },
        }


RELEASE_24K = TrainingPreset(
    name="hificodec-24k",
    family="hificodec",
    architecture=HifiCodecConfig().to_dict(),
    lr=2e-4,
    betas=(0.5, 0.9),
    weight_decay=0.0,
    batch_size=16,
    excerpt_seconds=16000 / 24000,
    steps=600_000,
    description="HiFi-Codec's 24 kHz, 320-hop release (HiFi-GAN generator, 2 groups x 2 levels of "
                "1024 codes: 3 kbps), its optimiser (Adam 2e-4, betas 0.5/0.9) and 16000-sample "
                "excerpts; codebook and commitment weights 1 and 0.25 as the release. A GPU job.",
)

TINY = TrainingPreset(
    name="hificodec-tiny",
    family="hificodec",
    architecture=HifiCodecConfig(sample_rate=16000, encoder_dim=2, latent_dim=8, decoder_dim=16,
                                 rates=(4, 4, 2), kernel_sizes=(8, 8, 4), resblock_kernel_sizes=(3, 5),
                                 resblock_dilations=(1, 3), codebook_size=32).to_dict(),
    **TINY_RUN,
    description="A very small HiFi-Codec (2 groups x 2 levels), for tests.",
)

RECIPES = FamilyRecipes((RELEASE_24K, TINY), fine_tune="hificodec-24k", tiny="hificodec-tiny")
