"""Spectrogram views of a rendering in progress: per-chunk updates equal the whole computation."""
import numpy as np
import pytest

from app.studio.render_cache import ChunkGrid, RenderCache
from app.studio.rendering_spectrograms import VIEWS, RenderingSpectrograms
from app.studio.spectrogram import SpectrogramLayout, excerpt, spectrogram, to_mono

RATE = 44100
LENGTH = 2 * RATE + 1234  # not a whole number of chunks


@pytest.mark.parametrize("max_columns", [1600, 40])  # one STFT frame per column, or the loudest of several
def test_a_column_range_equals_those_columns_of_the_whole_and_depends_only_on_its_samples(max_columns):
    rng = np.random.default_rng(0)
    x = (0.3 * rng.standard_normal((LENGTH, 2))).astype(np.float32)
    layout = SpectrogramLayout(LENGTH, RATE, "mel", max_columns=max_columns)
    whole = spectrogram(x, RATE, "mel", max_columns=max_columns).db
    for first, end in [(0, 1), (3, 9), (layout.n_columns - 2, layout.n_columns)]:
        part = layout.columns(excerpt(to_mono(x), *layout.samples_of(first, end)), first, end)
        np.testing.assert_array_equal(part, whole[first:end])
    start, stop = 30_000, 38_820
    changed = x.copy()
    changed[start:stop] *= -0.5
    first, end = layout.columns_touching(start, stop)
    after = spectrogram(changed, RATE, "mel", max_columns=max_columns).db
    np.testing.assert_array_equal(after[:first], whole[:first])  # nothing outside the touched columns moved
    np.testing.assert_array_equal(after[end:], whole[end:])
    assert not np.array_equal(after[first], whole[first]) and not np.array_equal(after[end - 1], whole[end - 1])


def partial(cache, n, length, channels):
    """The rendering at ``n`` as the views define it: cached chunks, zeros elsewhere."""
    out = np.zeros((length, channels), np.float32)
    for c in range(cache.grid.n_chunks):
        piece = cache.get(n, c)
        if piece is not None:
            start, end = cache.grid.samples(c)
            out[start:end] = piece
    return out


@pytest.mark.parametrize("n, max_columns", [(2, 1600), (1, 40)])
def test_chunk_by_chunk_updates_equal_the_whole_computation_and_touch_only_the_new_chunks_columns(n, max_columns):
    rng = np.random.default_rng(1)
    original = (0.3 * rng.standard_normal((LENGTH, 2))).astype(np.float32)
    renderings = {m: (original + 0.1 * m * rng.standard_normal((LENGTH, 2))).astype(np.float32) for m in (1, 2)}
    grid = ChunkGrid(LENGTH, -(-LENGTH // 441), 441, 20)  # chunks of 8820 samples
    cache = RenderCache(grid, 2, channels=2)
    layout = SpectrogramLayout(LENGTH, RATE, "log", max_columns=max_columns)
    views = RenderingSpectrograms(original, cache, n, layout)
    shown = {}
    arrivals = [(n, 4), (n, 5), (n, 0), (1, 5), (n, grid.n_chunks - 1)] + \
        [(m, c) for m in (1, 2) for c in range(grid.n_chunks)]
    for step, batch in enumerate([arrivals[:1], arrivals[1:2], arrivals[2:4], arrivals[4:5], arrivals[5:]]):
        for m, c in batch:
            start, end = grid.samples(c)
            cache.put(m, c, renderings[m][start:end])
        updates = views.update()
        assert {u[0] for u in updates} <= set(VIEWS) and (step or len(updates) == 3)
        for view, spec, first, end in updates:
            if view in shown:  # outside the reported range the snapshot is the previous one, untouched
                before = shown[view].db
                np.testing.assert_array_equal(spec.db[:first], before[:first])
                np.testing.assert_array_equal(spec.db[end:], before[end:])
                assert spec.db is not before
            if step == 1:
                assert end - first < layout.n_columns / 4  # one chunk: a few columns, not the clip
            shown[view] = spec
        recon = partial(cache, n, LENGTH, 2)
        below = partial(cache, n - 1, LENGTH, 2) if n > 1 else np.zeros_like(recon)
        whole = {"reconstruction": recon, "residual": original - recon, "adds": recon - below}
        for view, signal in whole.items():
            np.testing.assert_array_equal(shown[view].db, spectrogram(signal, RATE, "log", max_columns=max_columns).db)
    assert views.update() == []  # nothing new


@pytest.mark.slow  # every count rendered whole (about 14 s): the fast suite keeps its ten-minute budget
def test_session_views_end_on_the_whole_computation_of_the_renderings(qtbot, session, open_encoded, clip_path):
    updates = []
    session.spectrogramUpdated.connect(lambda view, spec, first, end: updates.append((view, first, end)))
    clip = open_encoded(clip_path)
    n, rate = session.n, session.model.sample_rate
    qtbot.waitUntil(lambda: clip.cache.is_complete(n) and clip.cache.is_complete(n - 1), timeout=60_000)
    recon, below = clip.cache.assemble(n), clip.cache.assemble(n - 1)
    signals = {"reconstruction": recon, "residual": clip.samples - recon, "adds": recon - below}
    expected = {view: spectrogram(signal, rate, "log").db for view, signal in signals.items()}

    def views_are_whole():
        for view, db in expected.items():
            np.testing.assert_array_equal(session.spectrograms[view].db, db)

    qtbot.waitUntil(views_are_whole, timeout=60_000)
    columns = session.spectrograms["original"].db.shape[0]
    assert ("original", 0, columns) in updates and ("reconstruction", 0, columns) in updates  # first whole
