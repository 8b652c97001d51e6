"""The Compare tab: contestants added and rendered in the background, switched while playing at
the sample being played with the player's crossfade, the studio's loop region, the chart."""
import threading
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PySide6.QtCore import QObject, Signal
from synthetic_audio import write_music_clip
from tiny_codecs import tiny_network, tiny_recipe

from app.compare import contestants, studio_comparison
from app.compare.bitrate import match_count
from app.compare.studio_comparison import ContestantSource
from app.playback.audio_output import ManualOutputStream
from app.playback.crossfade import FadeRamps, mix_crossfade
from app.playback.player import AudioPlayer
from app.playback.sources import OriginalSource
from app.studio.clip import checked_blocks
from app.studio.settings import StudioSettings
from model import load_codec
from model.audio_io import read_audio
from model.export import save_model_file
from ui.compare_tab import CompareTab

RATE = 24000
BLOCK = 512
WAIT_MS = 60_000


class FakeStudio(QObject):
    """What the tab reads of the studio: its clip changes, its player's loop (and pause)."""
    clipChanged = Signal(object)

    def __init__(self) -> None:
        super().__init__()
        self.player = SimpleNamespace(loop=None, sample_rate=RATE, pause=lambda: None)


@pytest.fixture
def tab(qtbot, tmp_path):
    studio = FakeStudio()
    tab = CompareTab(studio, StudioSettings(), ManualOutputStream)
    qtbot.addWidget(tab)
    path = write_music_clip(tmp_path / "clip.wav", 1.0, RATE)
    studio.clipChanged.emit(SimpleNamespace(path=path))
    yield tab
    tab.shutdown()


def _expected_switch(before: np.ndarray, after: np.ndarray, rate: int) -> np.ndarray:
    """The player's block at a switch: ``before`` faded into ``after`` (both ``[frames, C]``)."""
    mixed = after.copy()
    mix_crossfade(before, mixed, FadeRamps.for_rate(rate), 0)
    return mixed


def test_contestants_render_in_the_background_and_switch_at_the_played_sample(qtbot, tab):
    for spec in (contestants.original(), contestants.opus(16), contestants.anchor(3500.0)):
        tab.add(spec)
    tab.kind_box.setCurrentIndex(2)  # MP3, from the editor
    tab.kbps_box.setValue(32.0)
    tab.findChild(type(tab.play_button), "compareAdd").click()
    c = tab.comparison
    qtbot.waitUntil(lambda: c.audio is not None and c.rendered(), timeout=WAIT_MS)
    assert [s.name for s in c.specs] == ["original", "opus 16", "anchor 3.5 kHz", "mp3 32"]
    assert not c.errors
    assert tab.findChild(QObject, "compareContestants").count() == 4
    assert [b.text() for b in tab.switch_buttons] == ["1  original", "2  opus 16", "3  anchor 3.5 kHz", "4  mp3 32"]
    assert "measured" in tab.list.item(1).text()
    stimuli = c.stimuli()  # what a blind test takes: every contestant aligned at the clip's rate and length
    assert [contestant.name for contestant, _ in stimuli] == [s.name for s in c.specs]
    assert all(samples.shape == c.audio.samples.shape for _, samples in stimuli)
    assert np.array_equal(stimuli[0][1], c.audio.samples)

    tab.toggle_play()
    stream = c.player.output_stream
    for _ in range(3):
        stream.pull(BLOCK)
    at = 3 * BLOCK
    tab.switch_buttons[1].click()
    block = stream.pull(BLOCK)
    original = c.audio.samples.T
    opus = c.renderings[c.specs[1]].samples.T
    assert c.player.switch_log[-1] == (at, ("original",), ("contestant", "opus 16"))
    expected = _expected_switch(original[at:at + BLOCK], opus[at:at + BLOCK], RATE)
    np.testing.assert_allclose(block[:, 0], expected[:, 0], atol=1e-6)
    assert c.player.audible == ("contestant", "opus 16")
    tab.toggle_play()


def test_the_clip_is_read_once_the_tab_is_shown_and_the_studios_loop_region_applies(tab, qtbot):
    assert tab.comparison.path is None and tab.comparison.player.output_stream is None
    tab.show()
    qtbot.waitUntil(lambda: tab.comparison.audio is not None, timeout=WAIT_MS)
    tab.session.player.loop = (RATE // 4, RATE // 2)
    tab._on_frame()
    assert tab.comparison.player.loop == (RATE // 4, RATE // 2)
    tab.session.player.loop = None
    tab._on_frame()
    assert tab.comparison.player.loop is None


def test_a_contestant_chosen_before_it_is_rendered_is_switched_to_when_it_arrives():
    samples = np.random.default_rng(0).standard_normal((RATE, 1)).astype(np.float32)
    player = AudioPlayer(ManualOutputStream)
    player.configure(RATE, 1, OriginalSource(samples.copy()))
    pending = ContestantSource(("contestant", "later"), RATE)
    player.set_source(pending)
    player.play()
    stream = player.output_stream
    stream.pull(BLOCK)
    assert player.audible == ("original",)
    rendering = -samples
    pending.arrive(rendering.copy())
    block = stream.pull(BLOCK)
    assert player.audible == ("contestant", "later")
    assert player.switch_log[-1][0] == BLOCK
    np.testing.assert_allclose(block[:, :1], _expected_switch(samples[BLOCK:2 * BLOCK], rendering[BLOCK:2 * BLOCK],
                                                              RATE), atol=1e-6)
    player.close()


@pytest.mark.slow
def test_codec_contestants_match_a_bitrate_and_fill_the_chart(qtbot, tab, tmp_path):
    model = tmp_path / "tiny.safetensors"
    save_model_file(tiny_network("dac"), model, family="dac", config=tiny_recipe("dac").architecture, name="tiny")
    tab.add(contestants.codec(str(model), n_codebooks=1))
    tab.add(contestants.opus(12))
    c = tab.comparison
    qtbot.waitUntil(lambda: c.audio is not None and c.rendered(), timeout=WAIT_MS)
    tab.match_box.setValue(3.0)
    tab._match()
    codec = load_codec(model)
    qtbot.waitUntil(lambda: c.rendered(), timeout=WAIT_MS)
    assert c.renderings[c.specs[0]].contestant.n_codebooks == match_count(codec, 3.0, channels=1)
    qtbot.waitUntil(lambda: {"tiny", "opus", "mp3"} <= set(tab._curves), timeout=WAIT_MS)
    qtbot.waitUntil(lambda: len(tab._curves["tiny"].xData) == codec.n_codebooks, timeout=WAIT_MS)
    xs, ys = tab._curves["tiny"].getData()
    assert list(xs) == sorted(xs) and all(y > 0 for y in ys)
    # the matched codec is ringed on the chart at its count's point
    n = c.renderings[c.specs[0]].contestant.n_codebooks
    assert f"tiny:{n}" in c.chart_names()
    ringed = {tuple(p) for p in zip(*tab.chosen.getData())}
    assert (xs[n - 1], ys[n - 1]) in ringed


@pytest.mark.slow
def test_in_the_window_keys_switch_contestants_on_the_compare_page_and_codebooks_elsewhere(qtbot, loaded):
    from PySide6.QtCore import Qt

    window = loaded
    n_before = window.session.n
    window.pages.setCurrentWidget(window.compare)
    window.compare.add(contestants.original())
    window.compare.add(contestants.anchor(7000.0))
    c = window.compare.comparison
    qtbot.waitUntil(lambda: c.audio is not None and c.rendered(), timeout=WAIT_MS)
    assert c.audio.sample_rate == read_audio(window.session.clip.path).sample_rate  # the clip's own rate
    qtbot.keyClick(window, Qt.Key.Key_Space)
    assert c.player.playing and not window.session.player.playing
    qtbot.keyClick(window, Qt.Key.Key_2)
    assert c.selected == c.specs[1] and window.session.n == n_before
    c.player.output_stream.pull(BLOCK)
    assert c.player.audible == ("contestant", "anchor 7 kHz")
    qtbot.keyClick(window, Qt.Key.Key_Space)
    window.pages.setCurrentIndex(0)
    qtbot.keyClick(window, Qt.Key.Key_2)
    assert window.session.n == 2 and c.selected == c.specs[1]


def test_a_contestant_added_while_the_chart_is_measured_is_rendered_before_more_points(qtbot, tmp_path):
    from app.compare.scoring import MP3_SWEEP_KBPS, OPUS_SWEEP_KBPS
    from app.compare.studio_comparison import StudioComparison

    comparison = StudioComparison(ManualOutputStream)
    try:
        comparison.open_clip(write_music_clip(tmp_path / "clip.wav", 1.0, RATE))
        comparison.add(contestants.original())
        comparison.add(contestants.opus(12))
        qtbot.waitUntil(lambda: comparison.rendered() and len(comparison.points) >= 1, timeout=WAIT_MS)
        late = contestants.mp3(64)
        points_then = len(comparison.points)
        seen = []
        comparison.changed.connect(lambda: seen.append(len(comparison.points)) if late in comparison.renderings
                                   and not seen else None)
        comparison.add(late)
        qtbot.waitUntil(lambda: bool(seen), timeout=WAIT_MS)
        assert seen[0] <= points_then + 1  # at most the point in progress when it was added
        assert seen[0] < len(OPUS_SWEEP_KBPS) + len(MP3_SWEEP_KBPS)  # the sweep was not all measured first
    finally:
        comparison.close()


def test_a_chart_metric_that_cannot_run_here_says_why(qtbot, tab):
    import importlib.util

    if importlib.util.find_spec("pesq") is not None:
        pytest.skip("pesq is installed here: the metric runs")
    tab.add(contestants.original())
    tab.metric_box.setCurrentText("pesq")
    qtbot.waitUntil(lambda: tab.comparison.chart_unavailable is not None, timeout=WAIT_MS)
    assert "pesq" in tab.chart_note.text() and "not measured here" in tab.chart_note.text()



def _held_reading(monkeypatch, held: Path) -> tuple[threading.Event, threading.Event]:
    """The comparison's reading of ``held`` waits (as on a slow disk): the first event is set when
    it has begun, and it goes on once the second is set."""
    reading, go_on = threading.Event(), threading.Event()

    def held_read(path):
        if Path(path) == held:
            reading.set()
            go_on.wait(WAIT_MS / 1000)
        return checked_blocks(path)

    monkeypatch.setattr(studio_comparison, "checked_blocks", held_read)
    return reading, go_on


def test_a_slow_failure_reading_an_earlier_clip_is_not_reported_for_the_clip_opened_since(qtbot, tmp_path,
                                                                                         monkeypatch):
    """The first clip is not audio, and its reading is held until the second clip is opened; then
    it fails (on the worker, as a slow disk would have it). Only the second clip's state is shown."""
    unreadable = tmp_path / "unreadable.wav"
    unreadable.write_bytes(b"not audio at all " * 64)
    second = write_music_clip(tmp_path / "second.wav", 0.5, RATE)
    reading, go_on = _held_reading(monkeypatch, unreadable)
    studio = FakeStudio()
    tab = CompareTab(studio, StudioSettings(), ManualOutputStream)
    qtbot.addWidget(tab)
    tab.show()
    failures = []
    tab.comparison.clipFailed.connect(failures.append)
    try:
        studio.clipChanged.emit(SimpleNamespace(path=unreadable))
        qtbot.waitUntil(reading.is_set, timeout=WAIT_MS)
        studio.clipChanged.emit(SimpleNamespace(path=second))
        go_on.set()
        qtbot.waitUntil(lambda: tab.comparison.audio is not None, timeout=WAIT_MS)
        assert tab.comparison.path == str(second)
        np.testing.assert_array_equal(tab.comparison.audio.samples, read_audio(second).samples)
        assert failures == []
        assert tab.messages.isHidden()
    finally:
        go_on.set()
        tab.shutdown()

def test_a_failed_clip_says_why_nothing_renders_until_a_new_clip_clears_it(qtbot, tmp_path):
    studio = FakeStudio()
    tab = CompareTab(studio, StudioSettings(), ManualOutputStream)
    qtbot.addWidget(tab)
    tab.show()
    unreadable = tmp_path / "unreadable.wav"
    unreadable.write_bytes(b"not audio at all " * 64)
    try:
        for spec in (contestants.original(), contestants.anchor(3500.0)):
            tab.add(spec)
        with qtbot.waitSignal(tab.comparison.clipFailed, timeout=WAIT_MS) as failed:
            studio.clipChanged.emit(SimpleNamespace(path=unreadable))
        assert tab.messages.level == "error" and "unreadable.wav" in tab.messages.text()
        assert tab.note.text() == f"Nothing can be rendered: {failed.args[0]}"  # not "Rendering 2 of 2"
        studio.clipChanged.emit(SimpleNamespace(path=write_music_clip(tmp_path / "second.wav", 0.5, RATE)))
        assert tab.messages.isHidden()
        qtbot.waitUntil(lambda: tab.comparison.rendered() and tab.comparison.audio is not None, timeout=WAIT_MS)
        assert tab.messages.isHidden()
        assert tab.note.text().startswith("All rendered")
    finally:
        tab.shutdown()


def test_while_a_new_clip_is_read_play_does_not_play_the_previous_one(qtbot, tab, tmp_path, monkeypatch):
    tab.show()
    qtbot.waitUntil(lambda: tab.comparison.audio is not None, timeout=WAIT_MS)
    second = write_music_clip(tmp_path / "second.wav", 0.5, RATE, seed=2)
    reading, go_on = _held_reading(monkeypatch, second)
    try:
        tab.session.clipChanged.emit(SimpleNamespace(path=second))
        qtbot.waitUntil(reading.is_set, timeout=WAIT_MS)
        tab.toggle_play()
        assert not tab.comparison.player.playing  # it holds the previous clip until the new one is read
        tab._on_frame()
        assert tab.time_label.text() == ""
    finally:
        go_on.set()
    qtbot.waitUntil(lambda: tab.comparison.audio is not None, timeout=WAIT_MS)
    tab.toggle_play()
    assert tab.comparison.player.playing and tab.comparison.player.length == read_audio(second).frames


def test_chart_points_that_fail_are_named_with_why_and_measured_again_for_a_new_metric(qtbot, tab, monkeypatch):
    """A point whose rendering raises (here: no MP3 on this machine) is not dropped silently: the
    note names it and why, and no longer says every point is shown; a new metric tries it again."""
    from app.compare import transcoders
    from app.compare.scoring import MP3_SWEEP_KBPS, OPUS_SWEEP_KBPS
    from model.listening_metrics import FAST_METRICS

    working_mp3 = transcoders.mp3_blocks

    def no_mp3(*clip):
        raise transcoders.Mp3Unavailable("no MP3: the lameenc package is not installed")

    monkeypatch.setattr(transcoders, "mp3_blocks", no_mp3)
    c = tab.comparison
    tab.add(contestants.original())
    qtbot.waitUntil(lambda: len(c.points) + len(c.point_failures) == len(OPUS_SWEEP_KBPS) + len(MP3_SWEEP_KBPS),
                    timeout=WAIT_MS)
    assert {s.name for s in c.point_failures} == {contestants.mp3(k).name for k in MP3_SWEEP_KBPS}
    assert {s.kind for s in c.points} == {"opus"} and "mp3" not in tab._curves
    note = tab.chart_note.text()
    assert "no MP3: the lameenc package is not installed" in note and contestants.mp3(32).name in note
    assert "Every count" not in note and "\n" not in note

    monkeypatch.setattr(transcoders, "mp3_blocks", working_mp3)
    tab.metric_box.setCurrentText(next(m for m in FAST_METRICS if m != c.metric))
    qtbot.waitUntil(lambda: len(c.points) == len(OPUS_SWEEP_KBPS) + len(MP3_SWEEP_KBPS), timeout=WAIT_MS)
    assert not c.point_failures and "mp3" in tab._curves
    assert tab.chart_note.text().startswith("Every count")


def test_codec_contestants_render_in_the_studios_fast_mode_and_again_when_it_is_switched(qtbot, tmp_path):
    """The Compare tab's models follow View > Fast mode: rendered in bfloat16 when it is on, as a
    codec in fast mode renders the clip; rendered exactly again when it is switched off."""
    from app.compare.rendering import ClipRenderer, CodecShelf
    from app.compare.studio_comparison import StudioComparison

    model = tmp_path / "tiny.safetensors"
    save_model_file(tiny_network("dac"), model, family="dac", config=tiny_recipe("dac").architecture, name="tiny")
    clip = write_music_clip(tmp_path / "clip.wav", 1.0, RATE)
    spec = contestants.codec(str(model), n_codebooks=2)
    comparison = StudioComparison(ManualOutputStream)
    try:
        comparison.set_fast_mode(True)
        comparison.open_clip(clip)
        comparison.add(contestants.original())
        comparison.add(spec)
        for fast in (True, False):
            qtbot.waitUntil(lambda: spec in comparison.renderings, timeout=WAIT_MS)
            assert comparison.shelf.get(str(model)).fast_mode == ("bf16" if fast else None)
            shelf = CodecShelf()
            shelf.set_fast_mode(fast)
            expected = ClipRenderer(comparison.audio, shelf).render(spec).samples
            assert np.array_equal(comparison.renderings[spec].samples, expected)
            if fast:
                comparison.set_fast_mode(False)
                assert spec not in comparison.renderings  # rendered again, exactly
    finally:
        comparison.close()


def test_a_sound_device_that_stops_while_comparing_is_reported(qtbot, tab):
    tab.add(contestants.original())
    c = tab.comparison
    qtbot.waitUntil(lambda: c.audio is not None and c.rendered(), timeout=WAIT_MS)
    c.toggle_play()
    device = c.player.output_stream
    device.active = False  # as PortAudio leaves a stream whose device went away
    qtbot.waitUntil(lambda: "output device stopped" in tab.messages.text(), timeout=WAIT_MS)
    assert device.closed and c.player.playing
