"""The "where it breaks" lane: per-window mel distances of the rendering at n, filled in chunk by
chunk on the view thread, equal to model.windowed_quality on the whole rendering."""
import numpy as np
import pytest

from app.studio.where_it_breaks import LaneFigures
from model.windowed_quality import windowed_mel_distance, worst_windows

TIMEOUT_MS = 120_000


def complete(session, n):
    lane = session.lane(n)
    return lane is not None and not np.isnan(lane.values).any()


def test_the_lane_is_windowed_quality_of_the_rendering(qtbot, session, open_encoded, clip_path):
    clip = open_encoded(clip_path)
    n = session.n
    qtbot.waitUntil(lambda: clip.cache.is_complete(n), timeout=TIMEOUT_MS)
    qtbot.waitUntil(lambda: complete(session, n), timeout=TIMEOUT_MS)
    rate, gain = session.model.sample_rate, clip.gain
    rendering = clip.cache.assemble(n)
    windows = windowed_mel_distance((clip.samples * gain).T[None], (rendering * gain).T[None], rate)
    lane = session.lane(n)
    np.testing.assert_allclose(lane.values, [w.mel_distance for w in windows], rtol=1e-5)
    figures = lane.update()
    assert [(s, e) for s, e, _ in figures.worst(3)] == [(w.start, w.end) for w in worst_windows(windows, 3)]


@pytest.mark.slow  # two counts' lanes measured whole (about 15 s): the fast suite keeps its ten-minute budget
def test_a_slider_move_measures_the_new_count_and_keeps_the_old(qtbot, session, open_encoded, clip_path):
    clip = open_encoded(clip_path)
    first = session.n
    qtbot.waitUntil(lambda: complete(session, first), timeout=TIMEOUT_MS)
    kept = session.lane(first)
    shown = []
    session.laneChanged.connect(shown.append)
    session.set_n(1)
    qtbot.waitUntil(lambda: complete(session, 1), timeout=TIMEOUT_MS)
    # the view thread fills the lane before its last figures reach the window through the queue
    qtbot.waitUntil(lambda: shown and not np.isnan(shown[-1].values).any(), timeout=TIMEOUT_MS)
    assert session.lane(first) is kept
    assert all(isinstance(f, LaneFigures) for f in shown) and shown[-1].n == 1


def test_windows_not_rendered_are_not_yet(qtbot, session, open_encoded, clip_path):
    clip = open_encoded(clip_path)
    n = session.n
    qtbot.waitUntil(lambda: complete(session, n), timeout=TIMEOUT_MS)
    lane = session.lane(n)
    from app.studio.where_it_breaks import BreakLane
    rendered = clip.cache.rendered_map(n).copy()
    rendered[len(rendered) // 2:] = False  # as if the second half were not rendered yet

    class HalfCache:
        grid = clip.cache.grid

        @staticmethod
        def rendered_map(count):
            return rendered

        @staticmethod
        def get(count, chunk):
            return clip.cache.get(count, chunk) if rendered[chunk] else None

    half = BreakLane(clip.samples, clip.gain, HalfCache, n, session.model.sample_rate)
    while (figures := half.update()).more:
        pass
    measured = ~np.isnan(figures.values)
    assert measured.any() and not measured.all()
    half_seconds = clip.grid.samples(len(rendered) // 2)[0] / session.model.sample_rate
    assert (figures.ends[measured] <= half_seconds + 1e-9).all()
    np.testing.assert_allclose(figures.values[measured], lane.values[measured], rtol=1e-5)


@pytest.mark.slow
def test_a_three_minute_clip_fills_its_lane_while_playing(qtbot, session, open_encoded, tmp_path):
    """A rendering of a long clip never sits whole in the cache: the lane fills as chunks arrive."""
    from synthetic_audio import write_music_clip

    path = write_music_clip(tmp_path / "long.wav", seconds=180.0, channels=2)
    clip = open_encoded(path)
    session.player.play()
    n, rate = session.n, session.model.sample_rate
    qtbot.waitUntil(lambda: session.lane(n) is not None and (~np.isnan(session.lane(n).values)).sum() >= 10,
                    timeout=TIMEOUT_MS)
    lane = session.lane(n)
    for i in np.flatnonzero(~np.isnan(lane.values))[:10]:
        start, end = lane.bounds[i]
        first, last = clip.grid.chunk_at(start), clip.grid.chunk_at(end - 1)
        chunks = [clip.cache.get(n, c) for c in range(first, last + 1)]
        if any(chunk is None for chunk in chunks):
            continue  # evicted since: nothing to compare with
        offset = start - clip.grid.samples(first)[0]
        rendering = np.concatenate(chunks)[offset:offset + end - start]
        (window,) = windowed_mel_distance((clip.samples[start:end] * clip.gain).T[None],
                                          (rendering * clip.gain).T[None], rate)
        assert lane.values[i] == pytest.approx(window.mel_distance, rel=1e-5)
    session.player.pause()
