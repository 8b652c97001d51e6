"""The studio's background threads leave the GUI and the decode a playback waits for what they need.

On two cores: the inference worker and the analysis thread each run torch on one thread (two
spin at a barrier whenever the other core is busy), and the analysis thread holds its next
task back while the player waits for a decode.
"""
import threading
import time

import numpy as np
import pytest
import torch

from app.studio import analysis_worker
from app.studio.analysis_worker import AnalysisWorker
from app.studio.quality import rate_row

TIMEOUT_S = 60


def test_the_inference_worker_runs_torch_on_one_thread_whatever_the_process_default(
        two_torch_threads, session):
    seen = []
    done = threading.Event()
    session.worker.run_control(lambda: (seen.append(torch.get_num_threads()), done.set()))
    assert done.wait(TIMEOUT_S)
    assert seen == [1] and torch.get_num_threads() == 2  # the GUI thread's own setting is untouched


def run_analysis(defer_while, task):
    """Start an analysis thread, give it ``task``; returns (thread, event set when the task ran)."""
    worker = AnalysisWorker(defer_while)
    worker.start()
    ran = threading.Event()
    worker.submit("task", lambda: (task(), ran.set()), lambda _result: None)
    return worker, ran


def test_the_analysis_thread_runs_torch_on_one_thread(qtbot, two_torch_threads):
    seen = []
    worker, ran = run_analysis(None, lambda: seen.append(torch.get_num_threads()))
    try:
        assert ran.wait(TIMEOUT_S)
    finally:
        worker.stop()
    assert seen == [1]


def test_the_analysis_thread_holds_its_next_task_back_while_playback_waits(qtbot):
    """The task runs once the decode arrives, not before -- unless the limit passed first.

    The times are compared, not sampled at a moment this thread picks: a scheduler that wakes
    this thread late cannot make the worker look impatient."""
    waiting = threading.Event()
    waiting.set()
    ran_at, arrived_at = [], []
    submitted = time.monotonic()
    worker, ran = run_analysis(waiting.is_set, lambda: ran_at.append(time.monotonic()))
    try:
        time.sleep(analysis_worker.DEFER_LIMIT_S / 2)
        arrived_at.append(time.monotonic())
        waiting.clear()  # the decode arrived
        assert ran.wait(TIMEOUT_S)
    finally:
        worker.stop()
    assert ran_at[0] >= min(arrived_at[0], submitted + analysis_worker.DEFER_LIMIT_S)


def test_the_analysis_thread_gives_way_for_a_bounded_time_only(qtbot):
    started = time.monotonic()
    worker, ran = run_analysis(lambda: True, lambda: None)  # a playback that never stops waiting
    try:
        assert ran.wait(TIMEOUT_S)
        assert time.monotonic() - started >= analysis_worker.DEFER_LIMIT_S
    finally:
        worker.stop()


def test_playback_waits_for_a_missing_chunk_of_the_selected_count_under_a_playing_playhead(
        session, open_encoded, clip_path):
    clip = open_encoded(clip_path)
    worker, cache, grid = session.worker, clip.cache, clip.grid
    gate = hold(worker)
    try:  # the worker waits at the gate: nothing is rendered meanwhile
        missing = next((n, c) for n in range(1, clip.n_codebooks + 1) for c in range(grid.n_chunks)
                       if not cache.is_rendered(n, c))
        rendered = next((n, c) for n in range(1, clip.n_codebooks + 1) for c in range(grid.n_chunks)
                        if cache.is_rendered(n, c))
        for (n, chunk), playing, waits in [(missing, True, True), (missing, False, False), (rendered, True, False)]:
            worker.selected_n, worker.playhead, worker.playing = n, grid.samples(chunk)[0], playing
            assert worker.playback_waits() is waits, (n, chunk, playing)
        worker.selected_n, worker.playhead, worker.playing = missing[0], grid.samples(missing[1])[0], True
        encoded, clip.encoding.frames = clip.encoding.frames, grid.frames(missing[1])[0]
        assert not worker.playback_waits()  # its codes are not final yet: the encode comes first
        clip.encoding.frames = encoded
    finally:
        gate.set()


def hold(worker):
    """Keep ``worker`` waiting at a gate (nothing decoded meanwhile); returns the gate to set."""
    held, gate = threading.Event(), threading.Event()
    worker.run_control(lambda: (held.set(), gate.wait(TIMEOUT_S)))
    assert held.wait(TIMEOUT_S)
    return gate


def test_one_slow_decode_does_not_make_the_worker_plan_past_the_chunk_the_playhead_is_heard_in(
        session, open_encoded, clip_path):
    """A moving average of decode times, after one slow decode, planned from the next chunk
    while the playhead's -- which a decode would still have reached in time -- waited."""
    clip = open_encoded(clip_path)
    worker, grid, rate = session.worker, clip.grid, session.model.sample_rate
    gate = hold(worker)
    try:
        worker.recent_decodes.clear()
        worker.recent_decodes.extend([0.04] * 8 + [0.4])
        worker.follow(grid.samples(1)[1] - int(0.1 * rate), True)  # 100 ms before chunk 1 ends
        assert grid.chunk_at(worker.planned_playhead(clip)) == 1  # a 40 ms decode is heard inside it
        worker.recent_decodes.extend([0.2] * 3)  # decodes take 200 ms now
        assert grid.chunk_at(worker.planned_playhead(clip)) == 2
    finally:
        gate.set()


def test_the_worker_plans_from_where_the_playhead_has_moved_since_it_was_last_told(
        session, open_encoded, clip_path):
    """The frame timer tells the worker the playhead every 25 ms; the player moves on meanwhile."""
    clip = open_encoded(clip_path)
    worker, grid, rate = session.worker, clip.grid, session.model.sample_rate
    gate = hold(worker)
    try:
        worker.recent_decodes.clear()
        worker.recent_decodes.extend([0.04] * 9)
        worker.follow(grid.samples(1)[1] - int(0.1 * rate), True)
        time.sleep(0.08)  # 80 ms on, a decode started now is heard after chunk 1 has ended
        assert grid.chunk_at(worker.planned_playhead(clip)) == 2
        worker.follow(grid.samples(1)[1] - int(0.1 * rate), False)  # paused: the playhead stays
        time.sleep(0.08)
        assert grid.chunk_at(worker.planned_playhead(clip)) == 1
    finally:
        gate.set()


def test_a_decode_of_another_count_is_abandoned_while_playback_waits_for_the_selected_one(
        session, open_encoded, clip_path):
    """A slider move to a count not rendered at the playhead no longer waits for the decode in
    progress -- a speculative chunk, or the previous count's next one -- to finish first."""
    clip = open_encoded(clip_path)
    worker, cache, grid = session.worker, clip.cache, clip.grid
    outcomes, done = [], threading.Event()

    def job():
        worker.render_planned(clip, 2, 5)
        outcomes.append(cache.is_rendered(2, 5))
        worker.follow(grid.samples(0)[0], False)  # paused: nobody waits
        worker.render_planned(clip, 2, 5)
        outcomes.append(cache.is_rendered(2, 5))
        done.set()

    gate = hold(worker)
    try:  # the selected count renders first: counts 1 and 2 have not begun
        assert not cache.is_rendered(1, 0) and not cache.is_rendered(2, 5)
        worker.selected_n = 1
        worker.follow(grid.samples(0)[0], True)  # playing, count 1 missing under the playhead
        worker.run_control(job)
    finally:
        gate.set()
    assert done.wait(TIMEOUT_S)
    assert outcomes == [False, True]


def test_the_worker_stays_free_while_a_quality_row_is_measured(qtbot, session, open_encoded, clip_path, monkeypatch):
    """A quality row takes seconds on a long clip: it is measured beside the worker, which
    meanwhile runs what the user asks for; the rows are those of the clip's renderings."""
    from app.studio import inference_worker

    measuring, release = threading.Event(), threading.Event()
    real_rate_row_in_pieces = inference_worker.rate_row_in_pieces

    def slow_rate_row_in_pieces(*args):
        measuring.set()
        assert release.wait(TIMEOUT_S)
        return (yield from real_rate_row_in_pieces(*args))

    monkeypatch.setattr(inference_worker, "rate_row_in_pieces", slow_rate_row_in_pieces)
    clip = open_encoded(clip_path)
    try:
        assert measuring.wait(TIMEOUT_S)
        ran = threading.Event()
        session.worker.run_control(ran.set)  # e.g. opening the next file
        assert ran.wait(TIMEOUT_S) and not release.is_set()
    finally:
        release.set()
    # every count's row, measured by the background thread (niced): minutes when the cores are busy
    qtbot.waitUntil(lambda: len(session.quality) == clip.n_codebooks, timeout=10 * TIMEOUT_S * 1000)
    for n, row in session.quality.items():
        rendering = np.concatenate([clip.cache.get(n, c) for c in range(clip.grid.n_chunks)])
        decoded = (rendering.T * np.float32(clip.gain))[:, None, :]
        expected = rate_row(clip.reference(), decoded, session.model.sample_rate, n, session.model.kbps[n - 1])
        assert (row.n_codebooks, row.kbps) == (expected.n_codebooks, expected.kbps)
        assert (row.mel_distance, row.stft_distance, row.si_sdr) == pytest.approx(
            (expected.mel_distance, expected.stft_distance, expected.si_sdr), rel=1e-5)


def open_with_a_small_cache(qtbot, clip_path):
    """A session with room for about 3 of the clip's 12 renderings, the clip opened: (session, clip)."""
    from app.playback.audio_output import ManualOutputStream
    from app.studio.session import StudioSession

    session = StudioSession(ManualOutputStream, cache_budget_bytes=3 << 20)
    try:
        with qtbot.waitSignal(session.modelChanged, timeout=TIMEOUT_S * 1000):
            session.load_model("default")
        with qtbot.waitSignal(session.codesReady, timeout=TIMEOUT_S * 1000) as ready:
            session.open_file(clip_path)
    except BaseException:
        session.close()
        raise
    return session, ready.args[0]


@pytest.mark.slow  # a decode at a time through a small cache (about 10 s): the fast suite keeps its ten-minute budget
def test_a_rendering_evicted_from_a_small_cache_is_gathered_for_its_quality_row_a_decode_at_a_time(
        qtbot, clip_path, monkeypatch):
    """Renderings that do not all fit in the cache are decoded again for their quality rows:
    one chunk per worker step, so a job the user asks for meanwhile runs after at most one
    decode; the rows still measure the whole rendering."""
    from app.studio.inference_worker import InferenceWorker

    events: list[tuple] = []
    render_chunk = InferenceWorker.render_chunk

    def recorded(self, clip, n, chunk):
        gathering = self.gathering is not None
        piece = render_chunk(self, clip, n, chunk)
        if gathering:
            events.append(("gathered", n, chunk))
            if sum(e[0] == "gathered" for e in events) == 1:
                self.run_control(lambda: events.append(("control",)))
        return piece

    monkeypatch.setattr(InferenceWorker, "render_chunk", recorded)
    session, clip = open_with_a_small_cache(qtbot, clip_path)
    try:
        qtbot.waitUntil(lambda: len(session.quality) == clip.n_codebooks, timeout=10 * TIMEOUT_S * 1000)
        gathered = [e for e in events if e[0] == "gathered"]
        assert len(gathered) > clip.grid.n_chunks  # renderings had been evicted
        assert events.index(("control",)) == 1  # right after the first decode of a gathering
        n = max(session.quality)
        renderings, done = [], threading.Event()  # decoded again where evicted, on the model's thread
        session.worker.run_control(lambda: (renderings.append(session.worker.full_rendering(clip, n)), done.set()))
        assert done.wait(TIMEOUT_S)
        decoded = (renderings[0].T * np.float32(clip.gain))[:, None, :]
        row, expected = session.quality[n], rate_row(clip.reference(), decoded, session.model.sample_rate, n,
                                                     session.model.kbps[n - 1])
        assert (row.mel_distance, row.stft_distance, row.si_sdr) == pytest.approx(
            (expected.mel_distance, expected.stft_distance, expected.si_sdr), rel=1e-5)
    finally:
        session.close()


@pytest.mark.slow
def test_a_clip_whose_renderings_outgrow_the_cache_still_becomes_ready(qtbot, clip_path):
    """Ready means nothing is left that the studio would do unasked: with room for about three of
    twelve renderings, every count cannot be cached at once, yet the clip settles (the screenshot
    command and the benchmarks wait for this)."""
    from app.studio import render_planner

    session, clip = open_with_a_small_cache(qtbot, clip_path)
    try:
        qtbot.waitUntil(session.all_ready, timeout=10 * TIMEOUT_S * 1000)
        assert not all(clip.cache.is_complete(n) for n in range(1, clip.n_codebooks + 1))
        assert render_planner.next_chunk(clip.cache, session.n, session.player.position, session.player.loop) is None
        assert len(session.quality) == len(session.opus) == clip.n_codebooks
    finally:
        session.close()
