"""Exact chunked encoding and decoding for signals of any length.

Each chunk is computed with enough context on both sides (at least the receptive field,
see :mod:`model.receptive_field`) that its central part equals the whole-signal
computation; only that central part is kept. Chunk boundaries are aligned to the hop, and
the first and last chunks contain the true signal edges, so the zero padding the layers see
there is the same as in one whole-signal pass. Codes therefore never depend on the chunk
size (unlike the reference ``compress``, whose codes change with its window length), and
memory stays bounded by the chunk size for files of any length.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator

import torch


def chunk_plan(n_frames: int, chunk_frames: int, margin_frames: int) -> Iterator[tuple[int, int, int, int]]:
    """Yield ``(start, end, ctx_start, ctx_end)`` frame ranges covering ``0..n_frames``."""
    if chunk_frames < 1:
        raise ValueError("chunk_frames must be positive")
    for start in range(0, n_frames, chunk_frames):
        end = min(n_frames, start + chunk_frames)
        yield start, end, max(0, start - margin_frames), min(n_frames, end + margin_frames)


def encode_chunked(
    encode: Callable[[torch.Tensor], torch.Tensor],
    wave: torch.Tensor,
    hop_length: int,
    margin_frames: int,
    chunk_frames: int,
    progress: Callable[[int, int], None] | None = None,
    pad_end: bool = True,
) -> torch.Tensor:
    """Codes ``[B, N, F]`` for ``wave [B, 1, T]``, ``F = ceil(T / hop)``, computed chunk-wise.

    ``encode`` maps a hop-aligned excerpt ``[B, 1, k*hop]`` to codes ``[B, N, k]``. With
    ``pad_end=False`` the last excerpt ends at the true end of the signal instead of being
    zero-padded to the hop, for networks that pad their own layers (EnCodec's convolutions
    complete the last window by reflection); ``encode`` must then map any length ``L`` to
    ``ceil(L / hop)`` frames. Works for any frame-rate output ``[B, C, k]``, not only codes.
    """
    length = wave.shape[-1]
    n_frames = -(-length // hop_length)
    pad = n_frames * hop_length - length
    pieces = []
    for start, end, ctx_start, ctx_end in chunk_plan(n_frames, chunk_frames, margin_frames):
        excerpt = wave[..., ctx_start * hop_length : min(length, ctx_end * hop_length)]
        if ctx_end == n_frames and pad and pad_end:
            excerpt = torch.nn.functional.pad(excerpt, (0, pad))
        codes = encode(excerpt)
        pieces.append(codes[..., start - ctx_start : end - ctx_start])
        if progress is not None:
            progress(end, n_frames)
    if not pieces:
        raise ValueError("cannot encode an empty signal")
    return torch.cat(pieces, dim=-1)


def decode_chunked(
    decode: Callable[[torch.Tensor], torch.Tensor],
    codes: torch.Tensor,
    hop_length: int,
    margin_frames: int,
    chunk_frames: int,
    progress: Callable[[int, int], None] | None = None,
) -> torch.Tensor:
    """Waveform for ``codes [B, n, F]``, computed chunk-wise; equal to ``decode(codes)``.

    Sample ``j`` of the output belongs to frame ``j // hop``. The last chunk keeps whatever
    length the decoder produces at the true end of the signal, so output-length quirks of a
    family (e.g. DAC's odd-stride transposed convolutions) are reproduced exactly.
    """
    n_frames = codes.shape[-1]
    if n_frames == 0:
        raise ValueError("cannot decode zero frames")
    pieces = []
    for start, end, ctx_start, ctx_end in chunk_plan(n_frames, chunk_frames, margin_frames):
        wave = decode(codes[..., ctx_start:ctx_end])
        first = (start - ctx_start) * hop_length
        last = None if end == n_frames else (end - ctx_start) * hop_length
        pieces.append(wave[..., first:last])
        if progress is not None:
            progress(end, n_frames)
    return torch.cat(pieces, dim=-1)
