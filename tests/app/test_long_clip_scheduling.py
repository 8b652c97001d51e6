"""A long clip on a busy machine: the views keep up with the rendering, measurements give way.

What the user looks at comes first: the views of the rendering follow what is rendered
within a bounded delay even while the Opus and quality rows of a three-minute clip are being
measured, with another process burning a core; and opening another file abandons the first
clip's measurements, so the new clip's original spectrogram appears at once.
"""
import subprocess
import sys
import time

import pytest

from synthetic_audio import write_music_clip

LONG_SECONDS = 180.0
VIEW_DELAY_S = 5.0  # the throttle (0.4 s), one piece of a measurement and the update itself, on a busy core
EDGE_S = 1.0  # columns straddling the edge of a rendered run are not yet drawn: a few of them per run
SAMPLES = 3
TIMEOUT_MS = 300_000


@pytest.fixture
def busy_core():
    """Another process burning a core for the length of the test."""
    burner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        yield burner
    finally:
        burner.kill()
        burner.wait()


@pytest.fixture(scope="module")
def long_clip_path(tmp_path_factory):
    return write_music_clip(tmp_path_factory.mktemp("long") / "long.wav", seconds=LONG_SECONDS, channels=1)


def covered_seconds(spec) -> float:
    """Seconds of a rendering view that show the rendering (not marked not yet)."""
    return spec.duration - sum(end - start for start, end in spec.not_yet)


@pytest.mark.slow
def test_views_follow_the_rendering_of_a_long_clip_while_its_measurements_run_on_a_busy_machine(
        qtbot, busy_core, session, long_clip_path, clip_path):
    with qtbot.waitSignal(session.codesReady, timeout=TIMEOUT_MS):
        session.open_file(long_clip_path)
    clip, n, rate = session.clip, session.n, session.model.sample_rate
    chunk_s = clip.grid.chunk_samples / rate
    for _ in range(SAMPLES):
        assert session.analysis.pending_measurements(), "the Opus rows are still being measured meanwhile"
        rendered_s = float(clip.cache.rendered_map(n).sum()) * chunk_s
        qtbot.wait(int(VIEW_DELAY_S * 1000))
        shown_s = covered_seconds(session.spectrograms["reconstruction"])
        assert shown_s >= min(rendered_s, LONG_SECONDS) - EDGE_S, (shown_s, rendered_s)
    assert rendered_s > 10 * chunk_s  # the rendering went on meanwhile: the views had something to follow

    assert session.analysis.pending_measurements()  # the long clip's measurements are still under way...
    shown = {}

    def note_original(view, spec, _first, _end):
        if view == "original" and session.clip is not clip:
            shown.setdefault("original", time.monotonic())

    session.spectrogramUpdated.connect(note_original)
    with qtbot.waitSignal(session.clipChanged, timeout=TIMEOUT_MS):
        session.open_file(clip_path)
    opened = time.monotonic()
    assert session.analysis.pending_measurements() == []  # ...and are abandoned with their clip
    qtbot.waitUntil(lambda: "original" in shown, timeout=TIMEOUT_MS)
    assert shown["original"] - opened < VIEW_DELAY_S


@pytest.mark.slow  # a long clip's rows (about 13 s): the fast suite keeps its ten-minute budget
def test_quality_rows_come_before_the_other_counts_are_rendered_whole(qtbot, session, tmp_path):
    """A row needs a bounded part of its count's rendering: it is gathered as soon as the
    selected count is rendered, not after every count has been rendered speculatively
    (on a three-minute clip, minutes of decoding before the first row)."""
    path = write_music_clip(tmp_path / "half_minute.wav", seconds=24.0, channels=1, seed=5)
    with qtbot.waitSignal(session.codesReady, timeout=TIMEOUT_MS):
        session.open_file(path)
    clip = session.clip
    complete_at_rows = []
    session.qualityChanged.connect(lambda: complete_at_rows.append(
        (len(session.quality), sum(clip.cache.is_complete(k) for k in range(1, clip.n_codebooks + 1)))))
    qtbot.waitUntil(lambda: len(session.quality) >= 2, timeout=TIMEOUT_MS)
    rows, complete = next(entry for entry in complete_at_rows if entry[0] >= 2)
    assert complete < clip.n_codebooks - 2, complete_at_rows  # most counts were still being rendered
