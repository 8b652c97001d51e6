"""The residual's level is measured at every count whose rendering completes, whoever decoded its last chunk.

The residual is heard lifted to the original's level once the rendering at n is complete. An
export asked for during the encode decodes the rest of the rendering at n itself; those
chunks were not announced, so the level at n was never measured (and R played unlifted).
"""
N = 9


def test_the_residual_level_is_measured_when_an_export_completes_the_rendering(qtbot, session, clip_path, tmp_path):
    asked = []

    def export_during_the_encode(clip):
        assert not clip.encoding.complete
        session.export_reconstruction(tmp_path / "reconstruction.wav")
        asked.append(clip)

    session.set_n(N)
    session.clipChanged.connect(export_during_the_encode)
    with qtbot.waitSignal(session.exported, timeout=60_000):
        session.open_file(clip_path)
    session.clipChanged.disconnect(export_during_the_encode)
    assert asked and session.clip.cache.is_complete(N)
    qtbot.waitUntil(lambda: session.residual_gain_db is not None, timeout=30_000)
    assert session.n == N
