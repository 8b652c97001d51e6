"""SNAC, the Multi-Scale Neural Audio Codec (Siuzdak et al. 2024; the codec of Orpheus TTS).

A DAC-style generator (Snake residual units, here with depthwise dilated convolutions) with
windowed self-attention at the latent rate in the encoder and the decoder, noise injection
after each decoder upsampling, and a residual quantizer whose codebooks run at different
temporal scales: codebook ``k`` quantizes the residual average-pooled over ``vq_strides[k]``
frames and its codeword is repeated over them. The module tree mirrors the official ``snac``
package attribute for attribute, so its ``pytorch_model.bin`` loads strictly (weight-norm
keys of either PyTorch spelling); the configuration comes from the ``config.json`` beside it.

Codes are handed out at the finest rate, ``[B, N, F]``: codebook ``k`` changes only every
``codebook_strides[k]`` frames and ``codes[:, k, ::stride]`` are the release's codes of scale k.

**Alignment.** The release pads the signal to a whole number of ``lcm(vq_strides[0], window)``
frames, its attention windows and pooling blocks are counted from the first frame. Encoding
zero-pads the same way (and returns the ``ceil(T / hop)`` frames that cover the signal: the
codes are the release's). The codes of the padding are not kept, so decoding pads the codes
by repeating the last frame: decoding the release's own (padded) codes gives its audio, and so
does a round trip of a signal that is a whole number of padding units long; otherwise only the
last unit differs, where the decoder renders repeated codes instead of the padding's.
:meth:`SNAC.chunk_alignment` asks the chunked engine for chunks, and the streamers
(:mod:`model.streaming`) for windows, that start on window and pooling boundaries, which makes
chunked and streamed inference exact.

**Noise.** The release draws ``torch.randn`` at every decode, so its output changes from call
to call. Here the noise is a counter-based generator keyed to the absolute sample position
and the block: ``n(p) = sqrt(-2 ln u1) cos(2 pi u2)`` with ``u1, u2`` integer hashes of
``p`` (mod 2**32) salted per block (:func:`positional_noise`). Decoding is deterministic and
the same for any chunking; each noise block scales it per sample by its learned 1x1
convolution of the signal (``linear``), so with those weights at zero the output is the
release's exactly. The same noise is used for every item of a batch. Training (``train()``
mode) draws fresh Gaussian noise per item and step, as the release does, so the network never
sees one fixed noise pattern.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from model.codec_network import ConvolutionalCodec
from model.dac import EncoderBlock, describe_dac_style, unit_stack
from model.family_config import ConfiguredWeights, FamilyConfig
from model.layers import Snake1d, WNConv1d, WNConvTranspose1d, from_fast_layout, to_fast_layout
from model.local_attention import LocalAttention
from model.quantize import FactorizedVectorQuantizer, QuantizerOutput, ResidualVectorQuantizer, StageOutput
from model.receptive_field import Span, decoder_margin_frames, encoder_margin_frames
from model.tiled import run_fast
from model.training.recipes import CPU_RUN, TINY_RUN, FamilyRecipes, TrainingPreset


@dataclass(frozen=True)
class SnacConfig(FamilyConfig):
    """Hyper-parameters, named as the release's ``config.json`` (``sampling_rate`` -> ``sample_rate``)."""

    sample_rate: int = 44100
    encoder_dim: int = 64
    encoder_rates: tuple[int, ...] = (3, 3, 7, 7)
    latent_dim: int | None = None
    decoder_dim: int = 1536
    decoder_rates: tuple[int, ...] = (7, 7, 3, 3)
    attn_window_size: int | None = 32
    codebook_size: int = 4096
    codebook_dim: int = 8
    vq_strides: tuple[int, ...] = (8, 4, 2, 1)
    noise: bool = True
    depthwise: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        if math.prod(self.decoder_rates) != self.hop_length:
            raise ValueError(f"the decoder upsamples by {math.prod(self.decoder_rates)}, "
                             f"the encoder downsamples by {self.hop_length}")
        if any(self.vq_strides[0] % s for s in self.vq_strides):
            raise ValueError(f"every vq stride must divide the first, got {list(self.vq_strides)}")

    @property
    def hop_length(self) -> int:
        return math.prod(self.encoder_rates)

    @property
    def n_codebooks(self) -> int:
        return len(self.vq_strides)

    @property
    def resolved_latent_dim(self) -> int:
        return self.latent_dim if self.latent_dim is not None else self.encoder_dim * 2 ** len(self.encoder_rates)

    @property
    def pad_frames(self) -> int:
        """The release pads the signal to a multiple of this many frames (its ``preprocess``)."""
        return math.lcm(self.vq_strides[0], self.attn_window_size or 1)


# -- noise ------------------------------------------------------------------------------

_MASK32 = 0xFFFFFFFF


def _hash32(x: torch.Tensor) -> torch.Tensor:
    """An integer mixing function on 32-bit values held in int64 (products stay below 2**59)."""
    for _ in range(2):
        x = ((x ^ (x >> 16)) * 0x45D9F3B) & _MASK32
    return x ^ (x >> 16)


def positional_noise(first: int, length: int, stream: int, device: torch.device) -> torch.Tensor:
    """Standard Gaussian noise ``[length]`` for positions ``first ..``, a function of (position, stream) only."""
    pos = torch.arange(first, first + length, dtype=torch.int64, device=device) & _MASK32
    salt = _hash32(torch.tensor([2 * stream + 1, 2 * stream + 2], dtype=torch.int64, device=device))
    u1 = (_hash32(pos ^ salt[0]).double() + 0.5) / 2.0**32
    u2 = _hash32(pos ^ salt[1]).double() / 2.0**32
    return torch.sqrt(-2.0 * torch.log(u1)) * torch.cos(2.0 * math.pi * u2)


class NoiseBlock(nn.Module):
    """``x + noise * linear(x)``: noise whose per-sample scale the network learns."""

    def __init__(self, dim: int, stream: int) -> None:
        super().__init__()
        self.linear = WNConv1d(dim, dim, kernel_size=1, bias=False)
        self.stream = stream

    def receptive_span(self) -> Span:
        return Span()  # the 1x1 convolution and the noise are per sample

    def forward(self, x: torch.Tensor, first: int = 0) -> torch.Tensor:
        if self.training:  # fresh noise per item and step, as the release trains
            noise = torch.randn(x.shape[0], 1, x.shape[-1], device=x.device, dtype=x.dtype)
        else:
            noise = positional_noise(first, x.shape[-1], self.stream, x.device).to(x.dtype)
        return torch.addcmul(x, self.linear(x), noise)


# -- encoder and decoder ----------------------------------------------------------------

class Encoder(nn.Module):
    def __init__(self, c: SnacConfig) -> None:
        super().__init__()
        dim = c.encoder_dim
        layers: list[nn.Module] = [WNConv1d(1, dim, kernel_size=7, padding=3)]
        for stride in c.encoder_rates:
            dim *= 2
            layers.append(EncoderBlock(dim, stride, groups=dim // 2 if c.depthwise else 1))
        if c.attn_window_size is not None:
            layers.append(LocalAttention(dim, c.attn_window_size))
        layers.append(WNConv1d(dim, dim, kernel_size=7, padding=3, groups=dim if c.depthwise else 1))
        self.block = nn.Sequential(*layers)

    def infer(self, wave: torch.Tensor) -> torch.Tensor:
        """Inference (folded weights): the convolutions before the attention -- shift-invariant,
        where nearly all the time goes -- in the fast tiled layout (:mod:`model.tiled`)."""
        attention = next((i for i, m in enumerate(self.block) if isinstance(m, LocalAttention)), len(self.block))
        x = run_fast(self.block[:attention], wave)
        for layer in self.block[attention:]:
            x = layer(x)
        return x


class DecoderBlock(nn.Module):
    """Snake -> transposed conv (``L`` frames to exactly ``L * stride``) -> noise -> residual units."""

    def __init__(self, in_dim: int, out_dim: int, stride: int, noise_stream: int | None, groups: int) -> None:
        super().__init__()
        layers: list[nn.Module] = [
            Snake1d(in_dim),
            WNConvTranspose1d(in_dim, out_dim, kernel_size=2 * stride, stride=stride,
                              padding=math.ceil(stride / 2), output_padding=stride % 2),
        ]
        if noise_stream is not None:
            layers.append(NoiseBlock(out_dim, noise_stream))
        self.block = nn.Sequential(*layers, *unit_stack(out_dim, groups))
        self.stride = stride

    def forward(self, x: torch.Tensor, first: int = 0) -> torch.Tensor:
        """``first``: absolute position of the first *output* sample (keys the noise)."""
        for layer in self.block:
            x = layer(x, first) if isinstance(layer, NoiseBlock) else layer(x)
        return x


class Decoder(nn.Module):
    def __init__(self, c: SnacConfig) -> None:
        super().__init__()
        latent, dim = c.resolved_latent_dim, c.decoder_dim
        if c.depthwise:
            layers: list[nn.Module] = [WNConv1d(latent, latent, kernel_size=7, padding=3, groups=latent),
                                       WNConv1d(latent, dim, kernel_size=1)]
        else:
            layers = [WNConv1d(latent, dim, kernel_size=7, padding=3)]
        if c.attn_window_size is not None:
            layers.append(LocalAttention(dim, c.attn_window_size))
        out_dim = dim
        for i, stride in enumerate(c.decoder_rates):
            in_dim, out_dim = dim // 2**i, dim // 2 ** (i + 1)
            layers.append(DecoderBlock(in_dim, out_dim, stride, i if c.noise else None,
                                       out_dim if c.depthwise else 1))
        layers += [Snake1d(out_dim), WNConv1d(out_dim, 1, kernel_size=7, padding=3), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor, first_frame: int = 0, fast: bool = False) -> torch.Tensor:
        """Audio for latents ``z`` whose first frame is frame ``first_frame`` of the signal.

        ``fast`` (inference, folded weights): the upsampling blocks and the output layers run in
        the fast layout of :mod:`model.layers` (not tiled: the noise is keyed to positions).
        """
        position = first_frame
        for layer in self.model:
            if isinstance(layer, DecoderBlock):
                if fast and z.dim() == 3:
                    z = to_fast_layout(z)
                position *= layer.stride
                z = layer(z, position)
            else:
                z = layer(z)
        return from_fast_layout(z) if z.dim() == 4 else z


# -- multi-scale quantizer --------------------------------------------------------------

class StridedQuantizer(FactorizedVectorQuantizer):
    """DAC's factorised stage on the residual averaged over ``stride`` frames, repeated back.

    Indices come back at the input's rate (each repeated ``stride`` times); decoding reads
    every ``stride``-th index. A length that is not a whole number of blocks is pooled with
    a partial last block (the release accepts whole blocks only; for those it is the same).
    """

    def __init__(self, input_dim: int, codebook_size: int, codebook_dim: int, stride: int) -> None:
        super().__init__(input_dim, codebook_size, codebook_dim)
        self.stride = stride

    def _spread(self, x: torch.Tensor, length: int) -> torch.Tensor:
        return x.repeat_interleave(self.stride, dim=-1)[..., :length]

    def _pool(self, residual: torch.Tensor) -> torch.Tensor:
        return F.avg_pool1d(residual, self.stride, self.stride, ceil_mode=True) if self.stride > 1 else residual

    def code_vectors(self, residual: torch.Tensor) -> torch.Tensor:
        """One row per code (per block of ``stride`` frames), for dead-code revival."""
        return super().code_vectors(self._pool(residual))

    def forward(self, residual: torch.Tensor) -> StageOutput:
        length = residual.shape[-1]
        out = super().forward(self._pool(residual))
        if self.stride == 1:
            return out
        return StageOutput(self._spread(out.quantized, length), self._spread(out.indices, length),
                           out.commitment_loss, out.codebook_loss)

    def decode_indices(self, indices: torch.Tensor) -> torch.Tensor:
        return self._spread(super().decode_indices(indices[:, :: self.stride]), indices.shape[-1])


# -- the network ------------------------------------------------------------------------

class SNAC(ConvolutionalCodec):
    """The SNAC generator: encoder with windowed attention, multi-scale residual VQ, noisy decoder."""

    def __init__(self, config: SnacConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = Encoder(config)
        latent = config.resolved_latent_dim
        self.quantizer = ResidualVectorQuantizer([
            StridedQuantizer(latent, config.codebook_size, config.codebook_dim, s) for s in config.vq_strides])
        self.decoder = Decoder(config)

    @property
    def codebook_strides(self) -> list[int]:
        return list(self.config.vq_strides)

    def chunk_alignment(self) -> int:
        """Chunks must start on a multiple of this many frames (attention windows, pooling blocks)."""
        return math.lcm(self.config.pad_frames, *self.config.vq_strides)

    def encoder_stack(self) -> nn.Sequential:
        return self.encoder.block

    def decoder_stack(self) -> nn.Sequential:
        return self.decoder.model

    def context_frames(self) -> tuple[int | None, int | None]:
        pooling = max(self.config.vq_strides)  # a coarse code reads its whole block of frames
        return (encoder_margin_frames(self.encoder.block, self.hop_length) + pooling,
                decoder_margin_frames(self.decoder.model))

    def _padded(self, wave: torch.Tensor) -> torch.Tensor:
        return F.pad(wave, (0, -wave.shape[-1] % (self.hop_length * self.config.pad_frames)))

    def encode_codes(self, wave: torch.Tensor) -> torch.Tensor:
        frames = -(-wave.shape[-1] // self.hop_length)
        return self.quantizer(self.encoder.infer(self._padded(wave))).codes[..., :frames]

    def decode_codes(self, codes: torch.Tensor, first_frame: int = 0) -> torch.Tensor:
        """Audio of ``codes`` whose first frame is frame ``first_frame`` of the signal."""
        frames = codes.shape[-1]
        missing = -frames % self.config.pad_frames
        if missing:
            codes = torch.cat([codes, codes[..., -1:].expand(*codes.shape[:-1], missing)], dim=-1)
        return self.decoder(self.quantizer.decode(codes), first_frame, fast=True)[..., : frames * self.hop_length]

    def forward(self, wave: torch.Tensor, n_codebooks: int | None = None) -> tuple[torch.Tensor, QuantizerOutput]:
        """Training pass on ``[B, 1, T]``: padded as the release pads, trimmed back to T."""
        q = self.quantizer(self.encoder.block(self._padded(wave)), n_codebooks)
        return self.decoder(q.quantized)[..., : wave.shape[-1]], q

    def describe(self) -> dict:
        c = self.config
        return {**describe_dac_style("SNAC (multi-scale RVQ)", c), "vq_strides": list(c.vq_strides),
                "attn_window_size": c.attn_window_size}


# -- official release -------------------------------------------------------------------

_SIGNATURE = "quantizer.quantizers.0.codebook.weight"


def parse_official(obj: Any) -> tuple[dict, dict[str, torch.Tensor]] | None:
    """The Hugging Face release: ``pytorch_model.bin`` (a plain state dict) with its ``config.json``."""
    if isinstance(obj, ConfiguredWeights):
        config, state = obj.config, obj.weights
        if not (isinstance(state, dict) and _SIGNATURE in state and "vq_strides" in config):
            return None
        values = dict(config)
        if "sampling_rate" in values:
            values["sample_rate"] = values.pop("sampling_rate")
        return SnacConfig.from_dict(values).to_dict(), state
    if isinstance(obj, dict) and _SIGNATURE in obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ValueError("plain codec weights without their configuration: keep the config.json that came "
                         "with them in the same folder")
    return None


# -- named architectures and training recipes ---------------------------------------------

RELEASE_24KHZ = {  # hubertsiuzdak/snac_24khz: speech, 0.98 kbps
    "sample_rate": 24000, "encoder_dim": 48, "encoder_rates": [2, 4, 8, 8], "latent_dim": None,
    "decoder_dim": 1024, "decoder_rates": [8, 8, 4, 2], "attn_window_size": None, "codebook_size": 4096,
    "codebook_dim": 8, "vq_strides": [4, 2, 1], "noise": True, "depthwise": True,
}

RELEASE_24K = TrainingPreset(
    name="snac-24k",
    family="snac",
    architecture=dict(RELEASE_24KHZ),
    description="The SNAC 24 kHz speech release's architecture (3 scales of 4096 codes, 0.98 kbps) with the "
                "DAC recipe (a GPU job; the release's own training recipe is not published).",
)

SMALL = TrainingPreset(
    name="snac-small",
    family="snac",
    architecture={**RELEASE_24KHZ, "encoder_dim": 16, "decoder_dim": 256, "codebook_size": 1024},
    **CPU_RUN,
    description="A 1.6 M-parameter SNAC for a CPU: the 24 kHz release's structure (hop 512, codes at 12, 23 "
                "and 47 Hz, noise blocks, depthwise convolutions) at a sixth of its widths, 1024-entry "
                "codebooks (0.82 kbps), with the bundled default model's CPU run settings.",
)
"""Sized like the bundled default model (2.0 M parameters): on one core a step on 8 x 0.38 s takes
about 1.2 s without and 2.6 s with the adversarial loss (``python -m model.training.step_timing
--preset snac-small``), where the release's 19.8 M-parameter generator alone needs about 9 CPU
seconds for its forward and backward pass. Codebooks of 1024 entries rather than 4096: a batch
has 36 frames at the coarsest rate, so a 200-step revival window sees each of 1024 codes about
seven times if they are used evenly, and would see 4096 fewer than twice."""

TINY = TrainingPreset(
    name="snac-tiny",
    family="snac",
    architecture={
        "sample_rate": 16000, "encoder_dim": 8, "encoder_rates": [2, 4, 4], "latent_dim": None,
        "decoder_dim": 64, "decoder_rates": [4, 4, 2], "attn_window_size": 4, "codebook_size": 32,
        "codebook_dim": 4, "vq_strides": [4, 2, 1], "noise": True, "depthwise": True,
    },
    **TINY_RUN,
    description="A very small SNAC (attention, noise, three scales), for tests.",
)

RECIPES = FamilyRecipes((RELEASE_24K, SMALL, TINY), fine_tune="snac-24k", tiny="snac-tiny")
