"""A codec family that exists only in the tests, built from the shared layers.

Registering it in :data:`model.registry.FAMILIES` (and nowhere else) must be enough for
loading, saving, chunking and the CLI: that is the promise that a new family is one module
plus one registry entry.
"""
from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from model.codec_network import ConvolutionalCodec
from model.family_config import FamilyConfig
from model.layers import ResidualUnit, Snake1d, WNConv1d, WNConvTranspose1d
from model.quantize import EuclideanVectorQuantizer, ResidualVectorQuantizer
from model.registry import FAMILIES, Family
from model.training.recipes import TINY_RUN, FamilyRecipes, TrainingPreset

KEY = "throwaway"


@dataclass(frozen=True)
class ThrowawayConfig(FamilyConfig):
    sample_rate: int = 8000
    hop_length: int = 4
    dim: int = 6
    n_codebooks: int = 3
    codebook_size: int = 16


class ThrowawayCodec(ConvolutionalCodec):
    """Conv + residual unit + strided conv, Euclidean residual VQ, and the mirror image."""

    def __init__(self, config: ThrowawayConfig) -> None:
        super().__init__()
        self.config = config
        d, hop = config.dim, config.hop_length
        self.encoder = nn.Sequential(
            WNConv1d(1, d, 5, padding=2), _unit(d), Snake1d(d),
            WNConv1d(d, d, 2 * hop, stride=hop, padding=hop // 2))
        self.quantizer = ResidualVectorQuantizer(
            [EuclideanVectorQuantizer(d, config.codebook_size) for _ in range(config.n_codebooks)])
        for stage in self.quantizer.quantizers:  # spread over the latents, so the codes vary
            nn.init.normal_(stage.codebook.weight, std=0.3)
        self.decoder = nn.Sequential(
            WNConvTranspose1d(d, d, 2 * hop, stride=hop, padding=hop // 2), _unit(d), Snake1d(d),
            WNConv1d(d, 1, 5, padding=2), nn.Tanh())

    def encoder_stack(self) -> nn.Sequential:
        return self.encoder

    def decoder_stack(self) -> nn.Sequential:
        return self.decoder

    def describe(self) -> dict:
        return {"architecture": "throwaway test codec", "dim": self.config.dim}


def _unit(dim: int) -> ResidualUnit:
    return ResidualUnit(nn.Sequential(Snake1d(dim), WNConv1d(dim, dim, 3, dilation=2, padding=2)))


TINY = TrainingPreset(name="throwaway-tiny", family=KEY, architecture=ThrowawayConfig().to_dict(), **TINY_RUN)

FAMILY = Family(KEY, "Throwaway", ThrowawayConfig, ThrowawayCodec,
                FamilyRecipes((TINY,), fine_tune=TINY.name, tiny=TINY.name))


def register(monkeypatch) -> Family:
    """Put the family in the registry for the duration of one test (``monkeypatch`` undoes it)."""
    monkeypatch.setitem(FAMILIES, KEY, FAMILY)
    return FAMILY
