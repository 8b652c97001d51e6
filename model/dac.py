"""Improved RVQGAN (Kumar et al. 2023, "High-Fidelity Audio Compression with Improved RVQGAN").

The module tree mirrors the official Descript Audio Codec release attribute for attribute
(``encoder.block.N``, ``decoder.model.N``, ``quantizer.quantizers.N.in_proj``...), because the
state-dict keys *are* the file format of the official weights: with the same tree, official
checkpoints load strictly with no renaming table to maintain.

The module also holds the family's named architectures (the bundled default model's, the
44.1 kHz release's) and its training recipes.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from model.codec_network import ConvolutionalCodec
from model.family_config import FamilyConfig
from model.layers import ResidualUnit, Snake1d, WNConv1d, WNConvTranspose1d
from model.quantize import FactorizedVectorQuantizer, ResidualVectorQuantizer
from model.training.recipes import CPU_RUN, TINY_RUN, FamilyRecipes, TrainingPreset


@dataclass(frozen=True)
class DacConfig(FamilyConfig):
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

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "DacConfig":
        """As every family's, and the official metadata's spellings too: rates as any integers,
        ``quantizer_dropout`` as the flag old releases stored."""
        values = dict(values)
        for key in ("encoder_rates", "decoder_rates"):
            if key in values:
                values[key] = [int(r) for r in values[key]]
        if isinstance(values.get("quantizer_dropout"), bool):
            values["quantizer_dropout"] = 1.0 if values["quantizer_dropout"] else 0.0
        return super().from_dict(values)


def _residual_unit(dim: int, dilation: int, groups: int = 1) -> ResidualUnit:
    """Snake -> dilated conv k7 -> Snake -> conv k1, added to the input (length preserved).

    ``groups`` makes the dilated convolution grouped (SNAC's depthwise units: ``groups=dim``)."""
    return ResidualUnit(nn.Sequential(
        Snake1d(dim),
        WNConv1d(dim, dim, kernel_size=7, dilation=dilation, padding=3 * dilation, groups=groups),
        Snake1d(dim),
        WNConv1d(dim, dim, kernel_size=1),
    ))


def unit_stack(dim: int, groups: int = 1) -> list[nn.Module]:
    """The three residual units (dilations 1, 3, 9) of every DAC-style block."""
    return [_residual_unit(dim, d, groups) for d in (1, 3, 9)]


class EncoderBlock(nn.Module):
    def __init__(self, dim: int, stride: int, groups: int = 1) -> None:
        super().__init__()
        self.block = nn.Sequential(
            *unit_stack(dim // 2, groups),
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
            *unit_stack(out_dim),
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
        return describe_dac_style("Improved RVQGAN (DAC)", self.config)


def describe_dac_style(architecture: str, c: Any) -> dict:
    """The architecture summary of a DAC-style configuration (widths, rates, code dimension)."""
    return {
        "architecture": architecture,
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


def parse_official(obj: Any) -> tuple[dict, dict[str, torch.Tensor]] | None:
    """The Descript release layout: ``{'state_dict': ..., 'metadata': {'kwargs': {...}}}``."""
    if not (isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict)):
        return None
    metadata = obj.get("metadata")
    if not (isinstance(metadata, dict) and isinstance(metadata.get("kwargs"), dict)):
        return None
    state = obj["state_dict"]
    if not any(k.startswith("quantizer.quantizers.") for k in state):
        return None
    return DacConfig.from_dict(metadata["kwargs"]).to_dict(), state


# -- named architectures and training recipes ---------------------------------------------

# The bundled default: DAC-style, 44.1 kHz mono, hop 512, 12 x 1024 codes of dimension 8
# (0.86 to 10.3 kbps). Cost lives at the high-rate ends (the first encoder block and the
# last decoder block run at 44.1 kHz), so the widths there are what set the speed: these
# run about 10x real time per CPU core for both encoding and decoding
# (benchmarks/bench_default_speed.py).
DEFAULT_MODEL_ARCHITECTURE = {
    "encoder_dim": 12,
    "encoder_rates": [2, 4, 8, 8],
    "latent_dim": 256,
    "decoder_dim": 192,
    "decoder_rates": [8, 8, 4, 2],
    "n_codebooks": 12,
    "codebook_size": 1024,
    "codebook_dim": 8,
    "quantizer_dropout": 0.5,
    "sample_rate": 44100,
}

# The official Descript Audio Codec 44.1 kHz 8 kbps release.
RELEASE_44KHZ_8KBPS = {
    "encoder_dim": 64, "encoder_rates": [2, 4, 8, 8], "decoder_dim": 1536, "decoder_rates": [8, 8, 4, 2],
    "n_codebooks": 9, "codebook_size": 1024, "codebook_dim": 8, "quantizer_dropout": 0.5, "sample_rate": 44100,
}

RELEASE_44K = TrainingPreset(
    name="dac-44k",
    family="dac",
    architecture=dict(RELEASE_44KHZ_8KBPS),
    description="The DAC paper's 44.1 kHz 8 kbps model and recipe (batch 72, 400 k steps; a GPU job).",
)

DEFAULT = TrainingPreset(
    name="default",
    family="dac",
    architecture=dict(DEFAULT_MODEL_ARCHITECTURE),
    **CPU_RUN,
    description="The bundled default model: a 2 M-parameter codec sized to train on a CPU.",
)
"""The recipe of the bundled default model, chosen for the most learning per CPU-second.

Measured with ``benchmarks/bench_training.py`` on one thread of a 2-core CPU, in CPU seconds (CPU
time, so that other work on the machine does not count), batch 8 x 0.38 s (docs/benchmarks.md):

* Discriminator width.  With DAC's full discriminator (42.5 M parameters) a GAN step costs
  25.2 CPU s against 2.3 s for the generator's mel-only step: 91 % of the time would go to the
  critic of a 2 M-parameter generator.  At width 1/4 (2.7 M parameters, the generator's size)
  a GAN step costs 6.2 s (4.1 s with ``--compile``), so the critic takes 57 %.  1/4 keeps the
  game balanced at a cost a CPU can carry.
* GAN warm-up.  A mel-only step costs 2.7 s (1.5 s compiled), about 40 % of a GAN step, and
  early on the discriminator has nothing useful to say about reconstructions that are still
  poor.  The first 10 000 steps (4 to 8 CPU-hours) train reconstruction only, as many CPU
  codec recipes do; adversarial losses join afterwards.
* Learning rate.  Paired runs on the same 150 batches of the corpus (mel-only, same seed,
  compiled), mean training mel loss over steps 101-125 / 126-150: lr 1e-4 4.28 / 4.15,
  3e-4 3.79 / 3.71, 1e-3 4.49 / 4.53 (stalls).  3e-4, three times the release's rate for a
  ninth of its batch.
* Batch 8 x 0.38 s: the paper's excerpt length and a ninth of its batch, so that a step
  takes seconds, not a minute.
* Validation on 24 fixed 2 s excerpts every 1000 steps takes about 1.5 minutes (a few % of
  the time); a checkpoint every 200 steps (5 to 10 minutes) bounds the work lost to a crash.
* Dead-code revival every 200 steps (:mod:`model.training.code_revival`): a window is 52 800
  frames, about 52 per code if usage were uniform; codes used fewer than 3 times are moved onto
  latents of the batch.  Without it, the first 4 000 steps left 300-600 of each codebook's
  1 024 codes unused on validation and the lowest codebook entropy falling (5.4 to 4.2 bits).
"""

TINY = TrainingPreset(
    name="tiny",
    family="dac",
    architecture={
        "encoder_dim": 2, "encoder_rates": [2, 4, 4], "latent_dim": 16, "decoder_dim": 16,
        "decoder_rates": [4, 4, 2], "n_codebooks": 3, "codebook_size": 32, "codebook_dim": 4,
        "quantizer_dropout": 0.5, "sample_rate": 16000,
    },
    **TINY_RUN,
    description="A very small codec and discriminator, for tests: a step takes a few milliseconds.",
)

RECIPES = FamilyRecipes((DEFAULT, RELEASE_44K, TINY), fine_tune="default", tiny="tiny")
