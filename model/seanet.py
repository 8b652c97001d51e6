"""SEANet encoder/decoder and the codec network built on it (SoundStream and EnCodec).

SoundStream and EnCodec share one generator design (SEANet: self-padding convolutions,
ELU, residual blocks, strided down/up-sampling, optionally an LSTM at the frame rate) and
one quantizer design (residual VQ over EMA codebooks); what differs is configuration. So
both families are a :class:`SeanetCodec` and their modules hold only their settings,
their recipes (sharing :data:`EMA_PAPER_RUN`) and (EnCodec) the official checkpoint layout.

The module tree mirrors the EnCodec release (``encoder.model.N``, ``decoder.model.N``,
``block.1`` / ``block.3`` / ``shortcut`` in residual blocks, ``lstm``), so its state-dict
keys differ from the official ones only by the release's extra wrapper levels.

Chunked inference: without an LSTM every layer has a finite receptive field and the
generic engine chunks the whole network (:meth:`SeanetCodec.context_frames`). An LSTM
makes every output depend on the whole past, so no chunk of codes can be computed from a
window of audio. Such a network therefore reports no context (``None``) and is always run
on the whole signal -- but only its frame-rate part (the LSTM and the layers after it in
the encoder, before it in the decoder: ``2**len(ratios) * n_filters`` channels at the
frame rate, about 150 kB per second of audio for EnCodec 24 kHz) is computed in one piece. The
audio-rate convolution stacks, where the memory is, run in exact chunks of
:attr:`SeanetCodec.inference_chunk_frames` with receptive-field margins, so memory stays
bounded by the chunk size plus the frame-rate tensors. Results equal the one-piece
computation up to float summation order.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from model.chunked import decode_chunked, encode_chunked
from model.codec_network import ConvolutionalCodec
from model.graph_capture import capturing_graph, opaque_lstm, stacked_lstm_weights
from model.family_config import FamilyConfig
from model.layers import FiLM, PaddedConv1d, PaddedConvTranspose1d, ResidualUnit
from model.ema_quantize import ema_residual_quantizer
from model.quantize import QuantizerOutput
from model.receptive_field import Span, UnboundedReceptiveField, decoder_margin_frames, encoder_margin_frames
from model.streaming import StreamingPlan
from model.tiled import run_fast
from model.training.recipes import LossWeights

FILM_SIDES = (None, "encoder", "decoder")

# The training run of the EMA families' full-size recipes: the EnCodec paper's optimiser and data
# (Adam 3e-4, betas 0.5/0.9, 64 x 1 s excerpts). Like every family they train with the trainer's
# DAC losses and discriminator, not each paper's own. EMA codebooks follow moving averages, so
# there is no codebook loss; the commitment loss weighs 1, as in the EnCodec release.
EMA_LOSS_WEIGHTS = LossWeights(codebook=0.0, commitment=1.0)
EMA_PAPER_RUN = dict(weights=EMA_LOSS_WEIGHTS, batch_size=64, excerpt_seconds=1.0, steps=600_000,
                     lr=3e-4, betas=(0.5, 0.9), weight_decay=0.0, lr_gamma=1.0)


@dataclass(frozen=True)
class SeanetConfig(FamilyConfig):
    """SEANet generator settings, named as in the EnCodec release (defaults: its 24 kHz model)."""

    channels: int = 1
    dimension: int = 128
    n_filters: int = 32
    ratios: tuple[int, ...] = (8, 5, 4, 2)  # decoder order; the encoder uses them reversed
    n_residual_layers: int = 1
    residual_kernel_size: int = 3
    dilation_base: int = 2
    compress: int = 2
    true_skip: bool = False
    kernel_size: int = 7
    encoder_last_kernel_size: int = 7
    decoder_last_kernel_size: int = 7
    lstm_layers: int = 2
    causal: bool = True
    pad_mode: str = "reflect"
    norm: str = "weight_norm"  # or "time_group_norm" (EnCodec 48 kHz; not causal)
    trim_right_ratio: float = 1.0
    final_tanh: bool = False

    @property
    def hop_length(self) -> int:
        return math.prod(self.ratios)


@dataclass(frozen=True)
class SeanetCodecConfig(SeanetConfig):
    """A SEANet generator plus its EMA residual quantizer and optional FiLM conditioning."""

    sample_rate: int = 24000
    codebook_size: int = 1024
    ema_decay: float = 0.99
    ema_epsilon: float = 1e-5
    kmeans_iters: int = 50
    # A code is restarted when its moving average of assignments per training step (summed
    # over all processes) falls below this; 2 is EnCodec's value, sensible when a step holds
    # several times more frames than there are codes (64 x 1 s x 75 frames for 1024 codes).
    dead_code_threshold: float = 2.0
    quantizer_dropout: float = 0.0
    film: str | None = None  # None, "encoder" or "decoder": FiLM on the denoising flag

    @property
    def frame_rate(self) -> float:
        return self.sample_rate / self.hop_length


class SkipLSTM(nn.Module):
    """Multi-layer LSTM over time added to its input, on ``[B, C, T]`` tensors."""

    def __init__(self, dim: int, num_layers: int) -> None:
        super().__init__()
        self.lstm = nn.LSTM(dim, dim, num_layers)

    def receptive_span(self) -> Span:
        raise UnboundedReceptiveField("an LSTM has an unbounded receptive field")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        steps = x.permute(2, 0, 1)
        if capturing_graph():
            return (opaque_lstm(steps, *stacked_lstm_weights(self.lstm)) + steps).permute(1, 2, 0)
        out, _ = self.lstm(steps)
        return (out + steps).permute(1, 2, 0)


def _residual_block(c: SeanetConfig, dim: int, dilation: int) -> ResidualUnit:
    hidden = dim // c.compress
    conv = dict(causal=c.causal, pad_mode=c.pad_mode, norm=c.norm)
    block = nn.Sequential(
        nn.ELU(),
        PaddedConv1d(dim, hidden, c.residual_kernel_size, dilation=dilation, **conv),
        nn.ELU(),
        PaddedConv1d(hidden, dim, 1, **conv),
    )
    return ResidualUnit(block, None if c.true_skip else PaddedConv1d(dim, dim, 1, **conv))


def _residual_stack(c: SeanetConfig, dim: int) -> list[nn.Module]:
    return [_residual_block(c, dim, c.dilation_base**j) for j in range(c.n_residual_layers)]


class SeanetEncoder(nn.Module):
    def __init__(self, c: SeanetConfig) -> None:
        super().__init__()
        conv = dict(causal=c.causal, pad_mode=c.pad_mode, norm=c.norm)
        dim = c.n_filters
        layers: list[nn.Module] = [PaddedConv1d(c.channels, dim, c.kernel_size, **conv)]
        for ratio in reversed(c.ratios):
            layers += _residual_stack(c, dim)
            layers += [nn.ELU(), PaddedConv1d(dim, 2 * dim, 2 * ratio, stride=ratio, **conv)]
            dim *= 2
        if c.lstm_layers:
            layers.append(SkipLSTM(dim, c.lstm_layers))
        layers += [nn.ELU(), PaddedConv1d(dim, c.dimension, c.encoder_last_kernel_size, **conv)]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class SeanetDecoder(nn.Module):
    def __init__(self, c: SeanetConfig) -> None:
        super().__init__()
        conv = dict(causal=c.causal, pad_mode=c.pad_mode, norm=c.norm)
        dim = c.n_filters * 2 ** len(c.ratios)
        layers: list[nn.Module] = [PaddedConv1d(c.dimension, dim, c.kernel_size, **conv)]
        if c.lstm_layers:
            layers.append(SkipLSTM(dim, c.lstm_layers))
        for ratio in c.ratios:
            up = PaddedConvTranspose1d(dim, dim // 2, 2 * ratio, ratio, causal=c.causal,
                                       trim_right_ratio=c.trim_right_ratio, norm=c.norm)
            layers += [nn.ELU(), up, *_residual_stack(c, dim // 2)]
            dim //= 2
        layers += [nn.ELU(), PaddedConv1d(dim, c.channels, c.decoder_last_kernel_size, **conv)]
        if c.final_tanh:
            layers.append(nn.Tanh())
        self.model = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.model(z)


def _split_at_recurrence(stack: nn.Sequential, audio_first: bool) -> tuple[nn.Sequential, nn.Sequential]:
    """``(audio-rate part, frame-rate part)`` of a recurrent encoder (``audio_first``) or decoder.

    The frame-rate part holds the LSTM and everything on its side of it. (Built on demand:
    stored as attributes, the views would enter the state dict a second time.)
    """
    lstm = [i for i, m in enumerate(stack) if isinstance(m, SkipLSTM)]
    if audio_first:
        return stack[: lstm[0]], stack[lstm[0]:]
    return stack[lstm[-1] + 1:], stack[: lstm[-1] + 1]


class SeanetCodec(ConvolutionalCodec):
    """SEANet encoder, residual VQ, SEANet decoder; optional FiLM conditioning at the bottleneck.

    FiLM (SoundStream's denoising mode) modulates the latent by a binary flag: on the
    encoder side (before quantization: the codes depend on the flag) or on the decoder side
    (after it: one set of codes, decoded with or without denoising). At inference the flag
    is :attr:`denoise`; the training forward takes it per item. The configuration of a
    concrete family provides ``n_codebooks``.
    """

    def __init__(self, config: SeanetCodecConfig) -> None:
        super().__init__()
        if config.film not in FILM_SIDES:
            raise ValueError(f"film must be one of {FILM_SIDES}, got {config.film!r}")
        self.config = config
        self.encoder = SeanetEncoder(config)
        self.quantizer = ema_residual_quantizer(
            config.n_codebooks, config.quantizer_dropout, dim=config.dimension,
            codebook_size=config.codebook_size, decay=config.ema_decay, epsilon=config.ema_epsilon,
            kmeans_iters=config.kmeans_iters, dead_code_threshold=config.dead_code_threshold)
        self.decoder = SeanetDecoder(config)
        self.film = FiLM(2, config.dimension) if config.film else None
        self.denoise = False
        self.recurrent = config.lstm_layers > 0
        self.inference_chunk_frames = max(1, round(10 * config.frame_rate))

    @property
    def channels(self) -> int:
        """Audio channels coded jointly (2: one stereo signal per batch item)."""
        return self.config.channels

    def encoder_stack(self) -> nn.Sequential:
        return self.encoder.model

    def decoder_stack(self) -> nn.Sequential:
        return self.decoder.model

    def context_frames(self) -> tuple[int | None, int | None]:
        return (None, None) if self.recurrent else super().context_frames()

    def streaming_plan(self) -> StreamingPlan:
        """Layer by layer (model/streaming.py), the LSTM carrying its state; a recurrent network's
        layers complete the last window themselves, others get the signal padded to the hop."""
        if self.recurrent:
            encoder_audio, encoder_frames = _split_at_recurrence(self.encoder.model, audio_first=True)
            decoder_audio, decoder_frames = _split_at_recurrence(self.decoder.model, audio_first=False)
            encoder, decoder = [encoder_audio, *encoder_frames], [*decoder_frames, decoder_audio]
        else:
            encoder, decoder = [self.encoder.model], [self.decoder.model]
        search = self.quantizer.code_search()
        return StreamingPlan(
            encoder=encoder, quantize=lambda z: search(self._modulate(z, "encoder")),
            dequantize=lambda codes: self._modulate(self.quantizer.decode(codes), "decoder"),
            decoder=decoder, pad_to_hop=not self.recurrent)

    def describe(self) -> dict:
        c = self.config
        return {
            "base_channels": c.n_filters,
            "ratios": list(c.ratios),
            "latent_dim": c.dimension,
            "causal": c.causal,
            "lstm_layers": c.lstm_layers,
            "film": c.film or "none",
            "chunking": "whole signal (recurrent layers)" if self.recurrent else "exact chunks",
        }

    def _modulate(self, x: torch.Tensor, side: str, denoise: bool | torch.Tensor | None = None) -> torch.Tensor:
        if self.film is None or self.config.film != side:
            return x
        flag = self.denoise if denoise is None else denoise
        condition = torch.as_tensor(flag, device=x.device).long().expand(x.shape[0])
        return self.film(x, condition)

    def plain_latents(self, wave: torch.Tensor) -> torch.Tensor:
        return self._modulate(super().plain_latents(wave), "encoder")

    def plain_audio(self, latents: torch.Tensor) -> torch.Tensor:
        return super().plain_audio(self._modulate(latents, "decoder"))

    def encode_codes(self, wave: torch.Tensor) -> torch.Tensor:
        """Inference: ``[B, 1, T]`` -> codes ``[B, N, ceil(T / hop)]``.

        A recurrent network accepts any T (its layers complete the last window themselves)
        and runs its audio-rate stack in internal chunks; otherwise T is hop-aligned (the
        chunked engine pads it).
        """
        if self.recurrent:
            audio_part, frame_part = _split_at_recurrence(self.encoder.model, audio_first=True)
            features = encode_chunked(
                lambda x: run_fast(audio_part, x), wave, self.hop_length,
                encoder_margin_frames(audio_part, self.hop_length), self.inference_chunk_frames,
                pad_end=False)
            latents = frame_part(features)
        else:
            latents = run_fast(self.encoder.model, wave)
        return self.quantizer(self._modulate(latents, "encoder")).codes

    def decode_codes(self, codes: torch.Tensor) -> torch.Tensor:
        z = self._modulate(self.quantizer.decode(codes), "decoder")
        if not self.recurrent:
            return run_fast(self.decoder.model, z)
        audio_part, frame_part = _split_at_recurrence(self.decoder.model, audio_first=False)
        return decode_chunked(
            lambda f: run_fast(audio_part, f), frame_part(z), self.hop_length,
            decoder_margin_frames(audio_part), self.inference_chunk_frames)

    def forward(
        self,
        wave: torch.Tensor,
        n_codebooks: int | None = None,
        denoise: bool | torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, QuantizerOutput]:
        """Training pass on ``[B, 1, T]`` (any T: the layers pad themselves); trimmed to T."""
        latents = self._modulate(self.encoder(wave), "encoder", denoise)
        q = self.quantizer(latents, n_codebooks)
        z = self._modulate(q.quantized, "decoder", denoise)
        return self.decoder(z)[..., : wave.shape[-1]], q
