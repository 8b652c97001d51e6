"""Spectrograms computed a block of frames at a time equal the one-block computation, column for column."""
import numpy as np
import pytest

from app.studio import spectrogram as spectrogram_module
from app.studio.spectrogram import SpectrogramLayout, spectrogram
from synthetic_audio import music_clip


@pytest.mark.parametrize("max_columns", [1600, 50])  # one frame per column, and several (their maximum)
def test_blocks_of_frames_give_the_same_columns_as_one_block(monkeypatch, max_columns):
    samples = music_clip(3.0, 44100, channels=2).T
    whole = spectrogram(samples, 44100, "mel", max_columns=max_columns)
    monkeypatch.setattr(spectrogram_module, "BLOCK_FRAMES", 7)  # blocks that split columns' groups unevenly
    layout = SpectrogramLayout(samples.shape[0], 44100, "mel", max_columns=max_columns)
    assert len(layout.blocks(0, layout.n_columns)) > 10
    np.testing.assert_array_equal(spectrogram(samples, 44100, "mel", max_columns=max_columns).db, whole.db)


def test_blocks_cover_the_columns_in_order_with_at_least_one_column_each(monkeypatch):
    monkeypatch.setattr(spectrogram_module, "BLOCK_FRAMES", 5)
    layout = SpectrogramLayout(44100 * 60, 44100)  # 60 s: 3 frames a column, so one column a block
    blocks = layout.blocks(3, 20)
    assert blocks[0][0] == 3 and blocks[-1][1] == 20
    assert all(a[1] == b[0] and a[0] < a[1] for a, b in zip(blocks, blocks[1:]))
