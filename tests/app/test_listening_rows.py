"""The studio's listening metrics: the registry's figures on the quality rows' samples, measured
only after the fast rows, one metric of one count per step, abandoned with the clip."""
import threading
from dataclasses import replace

import numpy as np
import pytest
import torch

from app.studio import listening_rows
from app.studio.listening_rows import STUDIO_METRICS, joined_pieces
from app.studio.quality import measured_spans, span_chunks
from model.listening_metrics import measure
from synthetic_audio import write_music_clip

TIMEOUT_MS = 180_000


def rendering_inputs(clip, n, rate):
    spans = measured_spans(clip.length, rate)
    chunks = {c: clip.cache.get(n, c) for c in span_chunks(spans, clip.grid)}
    return spans, chunks


def stand_in(name, pair):
    """A quick outcome under metric ``name``'s name (SI-SDR's figures) for tests of the scheduling."""
    clip, spans, chunks, rate, _ = pair
    return replace(measure("si_sdr", *joined_pieces(clip, spans, chunks), rate), name=name)


def measured(session, n, name):
    return name in session.listening.outcomes.get(n, {})


def test_the_studio_figures_are_the_registry_figures_on_the_measured_samples(qtbot, session, open_encoded, clip_path):
    session.set_listening_metrics(True)
    clip = open_encoded(clip_path)
    n = session.n
    qtbot.waitUntil(lambda: measured(session, n, "stoi") and measured(session, n, "si_sdr"), timeout=TIMEOUT_MS)
    rate = session.model.sample_rate
    spans, chunks = rendering_inputs(clip, n, rate)
    assert all(chunk is not None for chunk in chunks.values())  # three seconds: every chunk stays cached
    reference, rendering = joined_pieces(clip, spans, chunks)
    assert reference.shape[-1] == clip.length  # a short clip: measured whole
    np.testing.assert_allclose(reference[:, 0].T, clip.samples * clip.gain, rtol=1e-6)
    torch.set_num_threads(1)  # as in the metrics' process: a float32 sum's rounding depends on the thread count
    for name in ("stoi", "si_sdr"):
        expected = measure(name, reference, rendering, rate)
        got = session.listening.outcomes[n][name]
        assert got.reason is None
        assert got.values == pytest.approx(expected.values, rel=1e-9)
    # the fast rows were all in before the first listening metric was delivered
    assert len(session.quality) == clip.n_codebooks


def test_no_listening_metric_starts_while_quality_rows_are_due(qtbot, session, open_encoded, clip_path, monkeypatch):
    started = []

    def recording(name, pair, process):
        started.append((name, len(session.quality), session.worker.rows_pending(), session.analysis.idle()))
        yield
        return stand_in(name, pair)

    monkeypatch.setattr(listening_rows, "one_metric", recording)
    session.set_listening_metrics(True)
    clip = open_encoded(clip_path)
    qtbot.waitUntil(lambda: len(started) >= len(STUDIO_METRICS), timeout=TIMEOUT_MS)
    assert all(not rows_due and opus_idle for _, _, rows_due, opus_idle in started)
    assert [name for name, *_ in started[:len(STUDIO_METRICS)]] == list(STUDIO_METRICS)  # one count's, cheapest first
    assert all(rows == clip.n_codebooks for _, rows, *_ in started)


def test_a_new_clip_abandons_the_pending_listening_metrics(qtbot, session, open_encoded, clip_path, tmp_path,
                                                           monkeypatch):
    steps = []

    def slow(name, pair, process):
        for _ in range(100_000):  # stands for a ViSQOL call: many steps, abandoned between two
            steps.append(name)
            yield
        return stand_in(name, pair)

    monkeypatch.setattr(listening_rows, "one_metric", slow)
    session.set_listening_metrics(True)
    open_encoded(clip_path)
    qtbot.waitUntil(lambda: len(steps) > 3, timeout=TIMEOUT_MS)
    assert session.listening.worker.pending_measurements()
    other = write_music_clip(tmp_path / "other.wav", seconds=2.0, seed=3)
    with qtbot.waitSignal(session.clipChanged, timeout=TIMEOUT_MS):
        session.open_file(other)
    assert session.listening.worker.pending_measurements() == []
    assert session.listening.outcomes == {}
    abandoned_at = len(steps)
    qtbot.waitUntil(session.listening.worker.idle, timeout=TIMEOUT_MS)
    assert len(steps) - abandoned_at <= 1  # the step in progress was its last


def test_off_measures_nothing_and_on_takes_up_the_counts_measured_meanwhile(qtbot, session, open_encoded, clip_path,
                                                                            monkeypatch):
    calls = []

    def quick(name, pair, process):
        calls.append(name)
        yield
        return stand_in(name, pair)

    monkeypatch.setattr(listening_rows, "one_metric", quick)
    clip = open_encoded(clip_path)
    qtbot.waitUntil(lambda: len(session.quality) == clip.n_codebooks, timeout=TIMEOUT_MS)
    qtbot.waitUntil(session.listening.worker.idle, timeout=TIMEOUT_MS)
    assert calls == [] and session.listening.outcomes == {}
    session.set_listening_metrics(True)
    qtbot.waitUntil(lambda: len(calls) == clip.n_codebooks * len(STUDIO_METRICS), timeout=TIMEOUT_MS)
    qtbot.waitUntil(lambda: session.listening.complete(clip.n_codebooks), timeout=TIMEOUT_MS)


@pytest.mark.slow
def test_visqol_in_the_studio_is_the_registry_visqol(qtbot, session, open_encoded, clip_path):
    session.set_listening_metrics(True)
    clip = open_encoded(clip_path)
    n = session.n
    qtbot.waitUntil(lambda: measured(session, n, "visqol"), timeout=600_000)
    spans, chunks = rendering_inputs(clip, n, session.model.sample_rate)
    expected = measure("visqol", *joined_pieces(clip, spans, chunks), session.model.sample_rate)
    assert session.listening.outcomes[n]["visqol"].values == pytest.approx(expected.values, abs=1e-6)



def test_a_clip_brought_back_goes_on_measuring_where_it_stopped(qtbot, session, open_encoded, clip_path, tmp_path,
                                                                monkeypatch):
    go = threading.Event()

    def gated(name, pair, process):
        while not go.is_set():
            yield
        yield
        return stand_in(name, pair)

    monkeypatch.setattr(listening_rows, "one_metric", gated)
    session.set_listening_metrics(True)
    clip = open_encoded(clip_path)
    qtbot.waitUntil(lambda: len(session.listening.state.inputs) == clip.n_codebooks, timeout=TIMEOUT_MS)
    longer = write_music_clip(tmp_path / "longer.wav", seconds=60.0, seed=5)
    with qtbot.waitSignal(session.clipChanged, timeout=TIMEOUT_MS):
        session.open_file(longer)
    assert session.listening.worker.pending_measurements() == []
    session.cancel()  # while it encodes: the first clip comes back with its results
    assert session.clip is clip
    go.set()
    qtbot.waitUntil(lambda: session.listening.complete(clip.n_codebooks), timeout=TIMEOUT_MS)
    assert session.listening.state.inputs == {}  # the renderings are no longer held


@pytest.mark.slow
def test_a_metric_that_fails_in_the_helper_process_is_absent_with_a_one_line_reason(qtbot, session, open_encoded,
                                                                                       clip_path, monkeypatch):
    monkeypatch.setattr(listening_rows, "MEASURE", "math:sqrt")  # raises in the child: no such arguments
    session.set_listening_metrics(True)
    clip = open_encoded(clip_path)
    qtbot.waitUntil(lambda: session.listening.complete(clip.n_codebooks), timeout=TIMEOUT_MS)
    outcomes = [o for by_name in session.listening.outcomes.values() for o in by_name.values()]
    assert len(outcomes) == clip.n_codebooks * len(STUDIO_METRICS)
    for outcome in outcomes:
        assert set(outcome.values.values()) == {None}
        assert outcome.reason.startswith("the listening metrics process: TypeError") and "\n" not in outcome.reason
