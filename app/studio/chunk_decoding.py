"""Decoding one chunk of a clip's codes into its render cache, sample for sample as the whole clip.

A chunk's frames ``[start, end)`` are decoded with the decoder's context margin on both
sides, ``[start - m, end + m)``, and only the central part is kept: that gives exactly the
samples of the whole-clip decode, so chunks decoded in any order, at any time, join without
seams. Codecs with an unbounded receptive field (recurrent ones) have no such margin: the
first request at a count decodes the whole clip and caches every chunk of it. A codec of
independent segments with side information (EnCodec 48 kHz) decodes a chunk from the
segments that reach it (:mod:`app.studio.segmented`). A codec coding stereo jointly decodes
``[items, 2, T]``: its channels are the clip's.

A chunk is decoded only once the codes under it and its margin are final: the codes of a
clip still being encoded are zeros past :attr:`StudioClip.encoding`, and a chunk decoded from
them would be cached -- and heard, measured, exported -- as if it were the reconstruction.

Nothing here knows about threads: the inference worker
(:mod:`app.studio.inference_worker`) decides which chunk to decode when, and calls these
functions on the thread that owns the codec.
"""
from __future__ import annotations

import time
from collections.abc import Callable, MutableSequence

import numpy as np
import torch

from app.studio import segmented
from app.studio.clip import StudioClip
from app.studio.render_cache import ChunkGrid
from model.codec import Codec, EncodedAudio


def frames_needed(codec: Codec, grid: ChunkGrid, chunk: int) -> int:
    """How many leading frames must have final codes before ``chunk`` can be decoded (margin included)."""
    if codec.side_info and codec.segments(0) is not None:  # segments: those before the chunk's end
        return grid.frames(chunk)[1]
    if not codec.chunkable:
        return grid.n_frames
    return _context_frames(codec, grid, chunk)[1]


def _context_frames(codec: Codec, grid: ChunkGrid, chunk: int) -> tuple[int, int]:
    """The frames decoded for ``chunk``: its own and the decoder's margin on both sides, widened
    to the codec's :attr:`~model.codec.Codec.chunk_alignment` (windows counted from frame 0)."""
    start, end = grid.frames(chunk)
    step = codec.chunk_alignment or 1
    lo = max(0, start - codec.decoder_context) // step * step
    return lo, min(grid.n_frames, -(-(end + codec.decoder_context) // step) * step)


def last_decodable_chunk(codec: Codec, grid: ChunkGrid, frames_final: int) -> int:
    """The last chunk decodable while the leading ``frames_final`` frames are final; -1 for none."""
    last = -1
    while last + 1 < grid.n_chunks and frames_needed(codec, grid, last + 1) <= frames_final:
        last += 1
    return last


def decode_chunk(codec: Codec, clip: StudioClip, n: int, chunk: int,
                 decode_times: MutableSequence[float] | None = None) -> np.ndarray:
    """Decode ``chunk`` at ``n`` codebooks, store it in the clip's cache and return it (``[samples, C]``).

    ``decode_times`` receives the network's time for a chunked decode (the planner's estimate
    of what the next chunk costs); a whole-clip decode is not a chunk's cost and is not added.
    Raises ValueError while the codes the chunk depends on are not final yet.
    """
    _require_codes(clip, chunk, frames_needed(codec, clip.grid, chunk))
    grid = clip.grid
    s_start, s_end = grid.samples(chunk)
    started = time.perf_counter()
    if codec.side_info:
        piece = segmented.decode_samples(codec, clip, n, s_start, s_end)
    elif codec.chunkable:
        start = grid.frames(chunk)[0]
        lo, hi = _context_frames(codec, grid, chunk)
        codes = torch.from_numpy(clip.codes[:, :n, lo:hi])
        wave = _channels(codec.decode(codes, chunk_seconds=(hi - lo + 1) / codec.frame_rate, first_frame=lo))
        first = (start - lo) * grid.hop_length
        piece = wave[:, first : first + (s_end - s_start)]
        piece = np.pad(piece, ((0, 0), (0, s_end - s_start - piece.shape[1])))
    else:
        piece = None
    if piece is None:
        return _decode_whole(codec, clip, n, chunk)
    if decode_times is not None:
        decode_times.append(time.perf_counter() - started)
    piece = piece.T / np.float32(clip.gain)
    clip.cache.put(n, chunk, piece)
    return piece


def _decode_whole(codec: Codec, clip: StudioClip, n: int, chunk: int) -> np.ndarray:
    """Decode the whole clip at ``n`` (chunks of an unbounded receptive field are not exact), cache
    every chunk of it and return ``chunk``; later requests at the same ``n`` are cache hits."""
    grid = clip.grid
    side = {name: torch.from_numpy(value) for name, value in clip.side.items()}
    wave = _channels(codec.decode(EncodedAudio(torch.from_numpy(clip.codes[:, :n]), side)))
    total = grid.samples(grid.n_chunks - 1)[1]
    if wave.shape[1] < total:
        wave = np.pad(wave, ((0, 0), (0, total - wave.shape[1])))
    wanted = None
    for c in range(grid.n_chunks):
        s_start, s_end = grid.samples(c)
        piece = wave[:, s_start:s_end].T / np.float32(clip.gain)
        clip.cache.put(n, c, piece)
        if c == chunk:
            wanted = piece
    return wanted


def _channels(wave: torch.Tensor) -> np.ndarray:
    """``[items, channels, T]`` decoded -> the clip's ``[C, T]`` (a joint stereo item is two channels)."""
    return wave.reshape(-1, wave.shape[-1]).numpy()


def full_rendering(clip: StudioClip, n: int, decode: Callable[[StudioClip, int, int], np.ndarray]) -> np.ndarray:
    """``[T, C]`` reconstruction at ``n``: cached chunks as they are, missing ones by ``decode(clip, n, chunk)``."""
    pieces = []
    for c in range(clip.grid.n_chunks):
        piece = clip.cache.get(n, c)
        pieces.append(piece if piece is not None else decode(clip, n, c))
    return np.concatenate(pieces, axis=0)


def _require_codes(clip: StudioClip, chunk: int, frames: int) -> None:
    """Refuse to decode ``chunk`` before the leading ``frames`` codes it depends on are final."""
    encoded = clip.encoding.frames
    if encoded < frames:
        raise ValueError(f"chunk {chunk} cannot be decoded yet: it needs the codes of frames 0-{frames - 1}, and only "
                         f"{encoded} of {clip.encoding.total} frames are encoded")
