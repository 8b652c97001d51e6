"""The studio's second model (Base / Fine-tuned A/B) runs in fast mode when the studio's does,
and is loaded again when fast mode is switched."""
import pytest
from synthetic_audio import write_music_clip
from tiny_codecs import tiny_network, tiny_recipe

from app.playback.audio_output import ManualOutputStream
from app.studio.session import StudioSession
from model.export import save_model_file

WAIT_MS = 60_000


@pytest.mark.slow  # two model loads, a clip encoded twice: over a second
def test_the_second_model_follows_the_studios_fast_mode(qtbot, tmp_path):
    model = str(tmp_path / "tiny.safetensors")
    save_model_file(tiny_network("dac"), model, family="dac", config=tiny_recipe("dac").architecture, name="tiny")
    session = StudioSession(ManualOutputStream)
    try:
        session.fast_mode = True
        with qtbot.waitSignal(session.modelChanged, timeout=WAIT_MS):
            session.load_model(model)
        assert session.model.fast_mode.startswith("fast mode (bf16)")
        with qtbot.waitSignal(session.codesReady, timeout=WAIT_MS):
            session.open_file(write_music_clip(tmp_path / "clip.wav", 1.0, session.model.sample_rate))
        comparison = session.comparison
        session.compare_with(model)
        qtbot.waitUntil(lambda: comparison.model is not None and comparison.clip is not None, timeout=WAIT_MS)
        assert comparison.model.fast_mode.startswith("fast mode (bf16)")

        session.fast_mode = False  # View > Fast mode off: the studio's model is loaded again, and the second
        with qtbot.waitSignal(session.modelChanged, timeout=WAIT_MS):
            session.load_model(model)
        qtbot.waitUntil(lambda: comparison.model is not None and comparison.model.fast_mode == ""
                        and comparison.clip is not None, timeout=WAIT_MS)
    finally:
        session.close()
