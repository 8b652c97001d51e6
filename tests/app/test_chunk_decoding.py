"""Chunk decoding on its own: chunks with margins equal the whole-clip decode, in any order, and a
chunk whose codes are not final yet is refused."""
from collections import deque
from pathlib import Path

import numpy as np
import pytest
import torch

from app.studio import chunk_decoding
from app.studio.clip import StudioClip, chunk_grid
from app.studio.progressive_encode import EncodeState
from app.studio.render_cache import RenderCache
from model import load_codec
from model.audio_io import Audio
from model.compression import model_input
from synthetic_audio import music_clip

CHUNK_SECONDS = 0.25


@pytest.fixture(scope="module")
def codec():
    return load_codec("default")


@pytest.fixture(scope="module")
def encoded(codec):
    """``(samples [T, C] at the file's level, loudness, codes)`` of 1.5 s of stereo music."""
    audio = Audio(music_clip(1.5, codec.sample_rate, channels=2), codec.sample_rate)
    wave, loudness = model_input(codec, audio)
    assert loudness is not None  # loudness-normalised: decoding must undo that gain
    return np.ascontiguousarray(audio.samples.T), loudness, codec.encode(wave).numpy()


def new_clip(codec, encoded, frames_final: int | None = None) -> StudioClip:
    """A clip with an empty render cache whose leading ``frames_final`` frames (all by default) are final."""
    samples, loudness, codes = encoded
    grid = chunk_grid(samples.shape[0], codec.hop_length, codec.frame_rate, CHUNK_SECONDS)
    cache = RenderCache(grid, codec.n_codebooks, channels=samples.shape[1])
    state = EncodeState(grid.n_frames if frames_final is None else frames_final, grid.n_frames)
    return StudioClip(Path("music.wav"), codec.sample_rate, samples.shape[0], samples, loudness, codes, grid, cache,
                      state)


def test_chunks_decoded_in_any_order_equal_the_whole_clip_decode(codec, encoded):
    clip, n = new_clip(codec, encoded), 3
    assert codec.chunkable and clip.grid.n_chunks > 3
    times = deque()
    for chunk in reversed(range(clip.grid.n_chunks)):
        piece = chunk_decoding.decode_chunk(codec, clip, n, chunk, times)
        assert clip.cache.get(n, chunk) is not None and piece.shape == clip.cache.get(n, chunk).shape
    assert len(times) == clip.grid.n_chunks  # one network time per chunk, for the planner
    whole = codec.decode(torch.from_numpy(clip.codes[:, :n]))[:, 0, : clip.length].numpy().T
    np.testing.assert_allclose(clip.cache.assemble(n) * np.float32(clip.gain), whole, atol=1e-5)
    decoded_again = []
    rendering = chunk_decoding.full_rendering(clip, n, lambda *args: decoded_again.append(args))
    assert not decoded_again  # every chunk came from the cache
    np.testing.assert_array_equal(rendering, clip.cache.assemble(n))


def test_a_chunk_is_decoded_only_once_its_codes_and_margin_are_final(codec, encoded):
    grid = new_clip(codec, encoded).grid
    frames_final = grid.frames(1)[1]  # chunk 1's own frames are final, its right margin is not
    clip = new_clip(codec, encoded, frames_final)
    assert chunk_decoding.frames_needed(codec, grid, 1) == frames_final + codec.decoder_context
    last = chunk_decoding.last_decodable_chunk(codec, grid, frames_final)
    assert last < 1 and chunk_decoding.frames_needed(codec, grid, last + 1) > frames_final
    with pytest.raises(ValueError, match="chunk 1 cannot be decoded yet"):
        chunk_decoding.decode_chunk(codec, clip, 2, 1)
    assert not clip.cache.is_rendered(2, 1)
    assert chunk_decoding.last_decodable_chunk(codec, grid, grid.n_frames) == grid.n_chunks - 1


def test_chunks_of_an_aligned_codec_equal_its_whole_clip_decode():
    """SNAC's attention windows and position-keyed noise count from frame 0: chunks widen their
    context to whole windows and tell the decoder where they start."""
    snac = load_codec(Path(__file__).parent.parent / "fixtures" / "snac" / "snac44k")
    assert snac.chunk_alignment == 32
    audio = Audio(music_clip(1.5, snac.sample_rate, channels=1), snac.sample_rate)
    wave, loudness = model_input(snac, audio)
    clip, n = new_clip(snac, (np.ascontiguousarray(audio.samples.T), loudness, snac.encode(wave).numpy())), 3
    assert clip.grid.chunk_frames % 32 and clip.grid.n_chunks > 3  # chunks that are not whole windows
    for chunk in reversed(range(clip.grid.n_chunks)):
        chunk_decoding.decode_chunk(snac, clip, n, chunk)
    whole = snac.decode(torch.from_numpy(clip.codes[:, :n]))[:, 0, : clip.length].numpy().T
    np.testing.assert_allclose(clip.cache.assemble(n) * np.float32(clip.gain), whole, atol=1e-5)
