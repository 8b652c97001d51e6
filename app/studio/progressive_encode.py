"""Encoding a clip piece by piece, so its start can be heard before its end is encoded.

The first encode of a 30 s clip takes seconds; waiting for all of it before decoding
anything made "open a file, hear it" slow. The worker instead encodes in pieces of a few
seconds and, between pieces, decodes what is already possible around the playhead. Each
piece is encoded with the encoder's context on both sides and only its centre kept -- the
rule of :func:`model.chunked.encode_chunked` -- so the codes equal those of one
``codec.encode`` of the whole clip, whatever the piece size: bit for bit where the CPU's
convolution kernels round alike for every input length, and otherwise but for the rare
decision float32 cannot make (two codewords equally near to about 1e-6).

:class:`EncodeState` is the part the other threads read: how many leading frames have
final codes. Codes are written in place into the clip's array, always ahead of that count.
A codec coding independent segments with side information is encoded segment by segment
instead (:mod:`app.studio.segmented`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from model.chunked import chunk_plan
from model.codec import Codec


@dataclass
class EncodeState:
    """Leading ``frames`` of ``total`` have their final codes (single int writes: no lock)."""

    frames: int
    total: int
    code_frames: int | None = None  # final frames of ``codes`` where they are not ``frames`` (segments)

    @property
    def complete(self) -> bool:
        return self.frames >= self.total


class ProgressiveEncode:
    """Fills ``codes`` ``[C, N, F]`` from ``wave`` ``[C, 1, T]`` one piece per :meth:`step`."""

    def __init__(self, codec: Codec, wave: torch.Tensor, codes: np.ndarray, state: EncodeState,
                 piece_seconds: float) -> None:
        self.codec, self.wave, self.codes, self.state = codec, wave, codes, state
        piece_frames = max(1, round(piece_seconds * codec.frame_rate))
        if not codec.chunkable:  # recurrent codecs: pieces would not be exact; one piece
            piece_frames = max(1, state.total)
        self._plan = list(chunk_plan(state.total, piece_frames, codec.encoder_context or 0, codec.chunk_alignment or 1))
        self._next = 0

    @property
    def done(self) -> bool:
        return self._next >= len(self._plan)

    def step(self) -> None:
        """Encode the next piece and publish its frames."""
        start, end, ctx_start, ctx_end = self._plan[self._next]
        hop, length = self.codec.hop_length, self.wave.shape[-1]
        excerpt = self.wave[..., ctx_start * hop : min(length, ctx_end * hop)]
        codes = self.codec.encode(excerpt, chunk_seconds=(ctx_end - ctx_start + 1) / self.codec.frame_rate)
        self.codes[:, :, start:end] = codes[..., start - ctx_start : end - ctx_start].numpy()
        self._next += 1
        self.state.frames = end
