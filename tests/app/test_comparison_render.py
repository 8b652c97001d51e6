"""The second model's worker plans from the studio's playhead as the studio's own does:
told whether the player moves and when it was where it was."""


def test_the_comparison_follows_the_playing_playhead(qtbot, session, open_encoded, clip_path):
    clip = open_encoded(clip_path)
    qtbot.waitUntil(lambda: clip.cache.is_complete(session.n), timeout=60_000)
    session.compare_with("default")
    try:
        qtbot.waitUntil(lambda: session.comparison.worker.isRunning(), timeout=60_000)
        session.seek_seconds(1.0)
        session.toggle_play()
        session.tick()
        worker = session.comparison.worker
        assert worker.playing and worker.playhead == session.player.position
        assert worker.playhead_at is not None and worker.selected_n == session.n
        session.toggle_play()
        session.tick()
        assert not worker.playing
    finally:
        session.compare_with(None)
