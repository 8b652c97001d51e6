"""When another clip opens, panels showing the previous clip's figures empty at once and say "not yet"."""
from ui.codebook_panel import NOT_YET


def test_the_codebooks_tab_forgets_the_previous_clips_figures_as_soon_as_another_clip_opens(
        qtbot, studio, tmp_path):
    from synthetic_audio import write_music_clip

    panel = studio.codebooks
    qtbot.waitUntil(lambda: panel.stats is not None, timeout=60_000)
    first_stats = panel.stats
    seen = []
    studio.session.clipChanged.connect(lambda clip: seen.append(
        (clip.path.name, panel.stats, panel.image.image, len(panel.bars.opts["x"]), panel.summary.text())))
    other = write_music_clip(tmp_path / "other.wav", seconds=2.0, seed=3)
    with qtbot.waitSignal(studio.session.clipChanged, timeout=60_000):
        studio.open_file(str(other))
    assert seen == [("other.wav", None, None, 0, NOT_YET)]  # at the moment the clip changed
    qtbot.waitUntil(lambda: panel.stats is not None, timeout=60_000)
    assert panel.stats is not first_stats and panel.stats is studio.session.stats
    assert panel.summary.text() != NOT_YET
