"""The shape every convolutional family shares: encoder stack -> residual VQ -> decoder stack.

DAC, HiFi-Codec and SoundStream/EnCodec differ in their layers and quantizer stages, not
in how the pieces are put together, so the :class:`~model.codec.CodecNetwork` protocol
(geometry, chunking margins, inference and the training forward) is implemented once here.
A family builds ``encoder``, ``quantizer`` and ``decoder``, keeps its configuration in
``config`` (``sample_rate``, ``hop_length``, ``n_codebooks``, ``codebook_size``) and names
the two layer stacks; it overrides a method only where it really differs.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from model.quantize import QuantizerOutput, ResidualVectorQuantizer
from model.receptive_field import decoder_margin_frames, encoder_margin_frames
from model.streaming import StreamingPlan
from model.tiled import run_fast


class ConvolutionalCodec(nn.Module):
    config: Any
    quantizer: ResidualVectorQuantizer

    def encoder_stack(self) -> nn.Sequential:
        """The encoder as one sequence of layers (audio -> latent frames)."""
        raise NotImplementedError

    def decoder_stack(self) -> nn.Sequential:
        """The decoder as one sequence of layers (latent frames -> audio)."""
        raise NotImplementedError

    @property
    def sample_rate(self) -> int:
        return self.config.sample_rate

    @property
    def hop_length(self) -> int:
        return self.config.hop_length

    @property
    def n_codebooks(self) -> int:
        return self.config.n_codebooks

    @property
    def codebook_size(self) -> int:
        return self.config.codebook_size

    def codebook_groups(self) -> dict[str, list[int]] | None:
        return self.quantizer.codebook_groups()

    def context_frames(self) -> tuple[int | None, int | None]:
        return (encoder_margin_frames(self.encoder_stack(), self.hop_length),
                decoder_margin_frames(self.decoder_stack()))

    def streaming_plan(self) -> StreamingPlan:
        """Stream layer by layer (model/streaming.py), padding the signal to the hop as :meth:`encode_codes`'s
        chunked engine does."""
        return StreamingPlan(encoder=[self.encoder_stack()], quantize=self.quantizer.code_search(),
                             dequantize=self.quantizer.decode, decoder=[self.decoder_stack()], pad_to_hop=True)

    def encode_codes(self, wave: torch.Tensor) -> torch.Tensor:
        """Inference encode; stages run on cache-sized tiles (see :mod:`model.tiled`)."""
        return self.quantizer(run_fast(self.encoder_stack(), wave)).codes

    def decode_codes(self, codes: torch.Tensor) -> torch.Tensor:
        """Inference decode; stages run on cache-sized tiles (see :mod:`model.tiled`)."""
        return run_fast(self.decoder_stack(), self.quantizer.decode(codes))

    def plain_latents(self, wave: torch.Tensor) -> torch.Tensor:
        """Latents of a whole signal by the plain layers: no tiling, no fast layout.

        The formulation the fast paths equal, and the one graph exporters record (their graphs
        must not depend on the input's length the way tiling does).
        """
        return self.encoder_stack()(wave)

    def plain_audio(self, latents: torch.Tensor) -> torch.Tensor:
        """Audio of whole latents by the plain layers (see :meth:`plain_latents`)."""
        return self.decoder_stack()(latents)

    def forward(self, wave: torch.Tensor, n_codebooks: int | None = None) -> tuple[torch.Tensor, QuantizerOutput]:
        """Training pass on ``[B, 1, T]``: zero-padded to the hop, trimmed back to T."""
        length = wave.shape[-1]
        padded = nn.functional.pad(wave, (0, -length % self.hop_length))
        q = self.quantizer(self.encoder_stack()(padded), n_codebooks)
        return self.decoder_stack()(q.quantized)[..., :length], q
