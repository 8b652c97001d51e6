"""The views of a rendering in progress say where the rendering is not there yet.

Unrendered chunks are zeros in the reconstruction, so the residual there is the original and
reads as "the codec removed everything". Every rendering snapshot lists the time spans not
rendered yet: the columns whose STFT windows reach into a chunk missing at n (or, for what
codebook n adds, at n - 1).
"""
import threading

import numpy as np

from app.studio.render_cache import ChunkGrid, RenderCache
from app.studio.rendering_spectrograms import RenderingSpectrograms
from app.studio.spectrogram import SpectrogramLayout

RATE = 44100
LENGTH = 2 * RATE + 1234


def spans_of(spec, layout):
    """The snapshot's not-yet spans as column ranges."""
    step = spec.seconds_per_column
    return [(round(a / step), round(b / step)) for a, b in spec.not_yet]


def test_not_yet_spans_are_the_columns_that_reach_into_a_missing_chunk():
    rng = np.random.default_rng(2)
    original = (0.3 * rng.standard_normal((LENGTH, 1))).astype(np.float32)
    grid = ChunkGrid(LENGTH, -(-LENGTH // 441), 441, 20)  # chunks of 8820 samples
    cache = RenderCache(grid, 3, channels=1)
    layout = SpectrogramLayout(LENGTH, RATE, "log")
    views = RenderingSpectrograms(original, cache, 3, layout)
    put = lambda n, c: cache.put(n, c, original[slice(*grid.samples(c))])  # noqa: E731
    for c in range(4, grid.n_chunks):
        put(3, c)
    for c in range(6, grid.n_chunks):
        put(2, c)
    shown = {view: spec for view, spec, _first, _end in views.update()}
    own_first, own_end = layout.columns_touching(0, grid.samples(3)[1])  # chunks 0-3 missing at n
    below_first, below_end = layout.columns_touching(0, grid.samples(5)[1])  # chunks 0-5 missing at n - 1
    assert spans_of(shown["reconstruction"], layout) == [(own_first, own_end)]
    assert spans_of(shown["residual"], layout) == [(own_first, own_end)]
    assert spans_of(shown["adds"], layout) == [(below_first, below_end)]

    for c in range(4):
        put(3, c)
    shown.update({view: spec for view, spec, _first, _end in views.update()})
    assert shown["reconstruction"].not_yet == () and shown["residual"].not_yet == ()
    assert spans_of(shown["adds"], layout) == [(below_first, below_end)]  # n - 1 still missing there


def test_the_session_marks_what_is_not_rendered_at_the_selected_count_until_it_is(qtbot, session, clip_path):
    worker, gates = session.worker, []

    def hold_worker(_clip):
        """Right after the encode: the worker waits at a gate, nothing more is rendered meanwhile."""
        held, gate = threading.Event(), threading.Event()
        worker.run_control(lambda: (held.set(), gate.wait(60)))
        assert held.wait(60)
        gates.append(gate)

    session.codesReady.connect(hold_worker)
    try:
        with qtbot.waitSignal(session.codesReady, timeout=60_000):
            session.open_file(clip_path)
        clip = session.clip
        n = next(k for k in range(1, clip.n_codebooks + 1) if not clip.cache.is_complete(k))
        with qtbot.waitSignal(session.spectrogramUpdated, timeout=60_000,
                              check_params_cb=lambda view, *_: view == "residual"):
            session.set_n(n)
        layout = SpectrogramLayout(clip.length, session.model.sample_rate, session.frequency_scale)
        missing = ~clip.cache.rendered_map(n)
        expected = []
        for c in np.flatnonzero(missing):
            first, end = layout.columns_touching(*clip.grid.samples(int(c)))
            if expected and first <= expected[-1][1]:
                expected[-1] = (expected[-1][0], max(end, expected[-1][1]))
            else:
                expected.append((first, end))
        assert expected  # the count chosen is not complete
        for view in ("reconstruction", "residual"):
            assert spans_of(session.spectrograms[view], layout) == expected, view
    finally:
        for gate in gates:
            gate.set()
    qtbot.waitUntil(lambda: clip.cache.is_complete(n) and (n == 1 or clip.cache.is_complete(n - 1)), timeout=60_000)
    qtbot.waitUntil(lambda: all(session.spectrograms[view].not_yet == ()
                                for view in ("reconstruction", "residual", "adds")), timeout=60_000)
