"""An ``.ecdc`` file of the encodec package opens in the studio: the clip is the package's decompression of
it, the codes are the file's own (no re-encoding), and another release's file is refused in one line."""
from pathlib import Path

import numpy as np
import pytest

from app.playback.audio_output import ManualOutputStream
from app.studio.session import StudioSession

TIMEOUT_MS = 60_000
FIXTURES = Path(__file__).parents[1] / "fixtures" / "encodec"


def studio_with(qtbot, model: str) -> StudioSession:
    session = StudioSession(ManualOutputStream)
    with qtbot.waitSignal(session.modelChanged, timeout=TIMEOUT_MS):
        session.load_model(str(FIXTURES / model))
    return session


@pytest.fixture
def session(qtbot):
    session = studio_with(qtbot, "encodec48k.th")
    yield session
    session.close()


def open_coded(qtbot, session, name: str):
    with qtbot.waitSignal(session.codesReady, timeout=TIMEOUT_MS) as ready:
        session.open_file(FIXTURES / name)
    return ready.args[0]


@pytest.mark.slow
def test_an_ecdc_file_opens_as_its_decompression_with_its_own_codes(qtbot, session):
    reference = np.load(FIXTURES / "encodec48k_expected.npz")
    messages = []
    session.message.connect(lambda level, text: messages.append((level, text)))
    clip = open_coded(qtbot, session, "encodec48k.ecdc")
    length = clip.length
    assert length == 52320 and clip.channels == 2 and clip.loudness_lufs is None
    np.testing.assert_array_equal(clip.codes, reference["codes"])
    np.testing.assert_array_equal(clip.side["scales"], reference["scales"])
    assert np.abs(clip.samples.T - reference["decoded"][0, :, :length]).max() < 1e-4
    stored = clip.codes.shape[1]
    qtbot.waitUntil(lambda: clip.cache.is_complete(stored), timeout=TIMEOUT_MS)
    np.testing.assert_allclose(clip.cache.assemble(stored), clip.samples, atol=1e-6)  # its own decoding

    with qtbot.waitSignal(session.message, timeout=TIMEOUT_MS,
                          check_params_cb=lambda level, text: level == "error"):
        session.open_file(FIXTURES / "encodec24k_8codebooks.ecdc")
    text = messages[-1][1]
    assert "\n" not in text and "was written by encodec_24khz" in text and "The previous clip stays open" in text
    assert session.clip is clip


def test_the_slider_offers_the_codebooks_an_ecdc_file_stores(qtbot):
    session = studio_with(qtbot, "encodec24k.th")
    try:
        clip = open_coded(qtbot, session, "encodec24k_8codebooks.ecdc")
        expected = np.load(FIXTURES / "encodec24k_expected.npz")["decoded_from_8_codebooks"][0, 0]
        assert clip.samples.shape == (9483, 1) and np.abs(clip.samples[:, 0] - expected[:9483]).max() < 1e-4
        assert clip.n_codebooks == session.n_codebooks == session.n == 8 < session.model.n_codebooks
        session.set_n(9)
        assert session.n == 8
    finally:
        session.close()


def test_opening_an_ecdc_file_can_stop_between_its_pieces():
    """The decode runs segment by segment with a hook between them, where the studio's worker
    stops a cancelled open; uninterrupted, the pieces make the whole decompression."""
    from app.studio.coded_files import read_coded_file
    from model.loading import load_codec

    codec = load_codec(str(FIXTURES / "encodec48k.th"))
    reference = np.load(FIXTURES / "encodec48k_expected.npz")
    calls = []

    class Stop(Exception):
        pass

    def stop_at_first():
        calls.append(1)
        raise Stop

    with pytest.raises(Stop):
        read_coded_file(codec, FIXTURES / "encodec48k.ecdc", stop_at_first)
    assert calls == [1]
    counted = []
    coded = read_coded_file(codec, FIXTURES / "encodec48k.ecdc", lambda: counted.append(1))
    assert len(counted) == len(codec.segments(coded.samples.shape[0])) > 1
    length = coded.samples.shape[0]
    assert np.abs(coded.samples.T - reference["decoded"][0, :, :length]).max() < 1e-4
