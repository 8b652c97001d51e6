"""A codec with an unbounded receptive field (EnCodec's LSTM) renders whole, exactly, in the window."""
from pathlib import Path

import numpy as np
import torch

from model import load_codec

ENCODEC = str(Path(__file__).parent.parent / "fixtures" / "encodec" / "encodec24k.th")


def test_recurrent_codec_renders_the_whole_decode(qtbot, music_path):
    from ui.main_window import build_main_window

    window = build_main_window(str(music_path), model=ENCODEC, open_demo=False)
    qtbot.addWidget(window)
    try:
        qtbot.waitUntil(lambda: window.session.clip is not None, timeout=60_000)
        clip = window.session.clip
        n = window.session.n
        qtbot.waitUntil(lambda: clip.cache.is_complete(n), timeout=60_000)
        codec = load_codec(ENCODEC)
        assert not codec.chunkable
        whole = codec.decode(torch.from_numpy(clip.codes[:, :n]))[:, 0, : clip.length].numpy().T
        np.testing.assert_allclose(clip.cache.assemble(n) * np.float32(clip.gain), whole, atol=1e-5)
    finally:
        window.shutdown()
