"""Improved RVQGAN (Kumar et al. 2023, "High-Fidelity Audio Compression with Improved RVQGAN").

The module tree mirrors the official Descript Audio Codec release attribute for attribute
(``encoder.block.N``, ``decoder.model.N``, ``quantizer.quantizers.N.in_proj``...), because the
state-dict keys *are* the file format of the official weights: with the same tree, official
checkpoints load strictly with no renaming table to maintain.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn

from model.codec_network import ConvolutionalCodec
from model.layers import ResidualUnit, Snake1d, WNConv1d, WNConvTranspose1d
from model.quantize import FactorizedVectorQuantizer, ResidualVectorQuantizer


@dataclass(frozen=True)
class DacConfig:
    """Hyper-parameters, named as the official ``metadata['kwargs']``."""

    encoder_dim: int = 64
    encoder_rates: tuple[int, ...] = (2, 4, 8, 8)
    latent_dim: int | None = None
    decoder_dim: int = 1536
    decoder_rates: tuple[int, ...] = (8, 8, 4, 2)
    n_codebooks: int = 9
    codebook_size: int = 1024
    codebook_dim: int = 8
    quantizer_dropout: float = 0.0
    sample_rate: int = 44100

    @property
    def resolved_latent_dim(self) -> int:
        return self.latent_dim if self.latent_dim is not None else self.encoder_dim * 2 ** len(self.encoder_rates)

    @property
    def hop_length(self) -> int:
        return math.prod(self.encoder_rates)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["encoder_rates"], d["decoder_rates"] = list(self.encoder_rates), list(self.decoder_rates)
        return d

    @classmethod
    def from_kwargs(cls, kwargs: dict) -> "DacConfig":
        """Build from official metadata kwargs; unknown keys are an error, missing ones default."""
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(kwargs) - known)
        if unknown:
            raise ValueError(f"unknown DAC configuration keys: {', '.join(unknown)}")
        values = dict(kwargs)
        for key in ("encoder_rates", "decoder_rates"):
            if key in values:
                values[key] = tuple(int(r) for r in values[key])
        if isinstance(values.get("quantizer_dropout"), bool):  # old releases stored a flag
            values["quantizer_dropout"] = 1.0 if values["quantizer_dropout"] else 0.0
        return cls(**values)


def _residual_unit(dim: int, dilation: int) -> ResidualUnit:
    """Snake -> dilated conv k7 -> Snake -> conv k1, added to the input (length preserved)."""
    return ResidualUnit(nn.Sequential(
        Snake1d(dim),
        WNConv1d(dim, dim, kernel_size=7, dilation=dilation, padding=3 * dilation),
        Snake1d(dim),
        WNConv1d(dim, dim, kernel_size=1),
    ))


def _unit_stack(dim: int) -> list[nn.Module]:
    return [_residual_unit(dim, d) for d in (1, 3, 9)]


class EncoderBlock(nn.Module):
    def __init__(self, dim: int, stride: int) -> None:
        super().__init__()
        self.block = nn.Sequential(
            *_unit_stack(dim // 2),
            Snake1d(dim // 2),
            WNConv1d(dim // 2, dim, kernel_size=2 * stride, stride=stride, padding=math.ceil(stride / 2)),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x)


class Encoder(nn.Module):
    def __init__(self, dim: int, rates: tuple[int, ...], latent_dim: int) -> None:
        super().__init__()
        layers: list[nn.Module] = [WNConv1d(1, dim, kernel_size=7, padding=3)]
        for stride in rates:
            dim *= 2
            layers.append(EncoderBlock(dim, stride))
        layers += [Snake1d(dim), WNConv1d(dim, latent_dim, kernel_size=3, padding=1)]
        self.block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x)


class DecoderBlock(nn.Module):
    def __init__(self, in_dim: int, out_dim: int, stride: int) -> None:
        super().__init__()
        self.block = nn.Sequential(
            Snake1d(in_dim),
            WNConvTranspose1d(in_dim, out_dim, kernel_size=2 * stride, stride=stride, padding=math.ceil(stride / 2)),
            *_unit_stack(out_dim),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x)


class Decoder(nn.Module):
    def __init__(self, latent_dim: int, dim: int, rates: tuple[int, ...]) -> None:
        super().__init__()
        layers: list[nn.Module] = [WNConv1d(latent_dim, dim, kernel_size=7, padding=3)]
        out_dim = dim
        for i, stride in enumerate(rates):
            in_dim, out_dim = dim // 2**i, dim // 2 ** (i + 1)
            layers.append(DecoderBlock(in_dim, out_dim, stride))
        layers += [Snake1d(out_dim), WNConv1d(out_dim, 1, kernel_size=7, padding=3), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.model(z)


class DAC(ConvolutionalCodec):
    """The Improved RVQGAN generator: encoder, residual factorised VQ, decoder."""

    def __init__(self, config: DacConfig) -> None:
        super().__init__()
        self.config = config
        latent = config.resolved_latent_dim
        self.encoder = Encoder(config.encoder_dim, config.encoder_rates, latent)
        stages = [
            FactorizedVectorQuantizer(latent, config.codebook_size, config.codebook_dim)
            for _ in range(config.n_codebooks)
        ]
        self.quantizer = ResidualVectorQuantizer(stages, config.quantizer_dropout)
        self.decoder = Decoder(latent, config.decoder_dim, config.decoder_rates)
        self.apply(_init_weights)

    def encoder_stack(self) -> nn.Sequential:
        return self.encoder.block

    def decoder_stack(self) -> nn.Sequential:
        return self.decoder.model

    def describe(self) -> dict:
        c = self.config
        return {
            "architecture": "Improved RVQGAN (DAC)",
            "encoder_dim": c.encoder_dim,
            "encoder_rates": list(c.encoder_rates),
            "latent_dim": c.resolved_latent_dim,
            "decoder_dim": c.decoder_dim,
            "decoder_rates": list(c.decoder_rates),
            "codebook_dim": c.codebook_dim,
        }


def _init_weights(m: nn.Module) -> None:
    """The release's *effective* initialisation: PyTorch's default weights, zero conv biases.

    The release calls ``trunc_normal_(conv.weight, std=0.02)`` after wrapping its convolutions
    in ``weight_norm``; there ``weight`` is a tensor derived from ``weight_g`` / ``weight_v``
    that the pre-forward hook recomputes, so the call changes nothing and the convolutions keep
    PyTorch's default (Kaiming-uniform) weights, which our layers already start from.  Truly
    applying std 0.02 shrinks every layer (the first encoder conv 10x), and a fresh model then
    maps all audio onto one code per codebook and takes hundreds of steps to recover.
    """
    if isinstance(m, WNConv1d) and m.bias is not None:
        with torch.no_grad():
            m.bias.zero_()
