"""Piecewise encoding gives exactly the codes of one whole-clip encode."""
import numpy as np
import pytest
import torch

from app.progressive_encode import EncodeState, ProgressiveEncode
from app.synthetic_audio import music_clip
from model import load_codec


@pytest.fixture(scope="module")
def codec():
    return load_codec("default")


@pytest.mark.parametrize("piece_seconds", [0.3, 1.0])
def test_pieces_equal_the_whole_encode(codec, piece_seconds):
    wave = torch.from_numpy(music_clip(2.3, codec.sample_rate, 2)[:, None, :])  # not a whole number of hops
    whole = codec.encode(wave).numpy()
    codes = np.full_like(whole, -1)
    state = EncodeState(0, whole.shape[-1])
    encoder = ProgressiveEncode(codec, wave, codes, state, piece_seconds)
    published = []
    while not encoder.done:
        encoder.step()
        published.append(state.frames)
        assert (codes[..., : state.frames] == whole[..., : state.frames]).all()
    assert state.complete and published == sorted(published) and len(published) > 1
    np.testing.assert_array_equal(codes, whole)
