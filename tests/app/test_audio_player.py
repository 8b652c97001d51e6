"""The player on a hand-driven stream: switches at the same sample index, fades, waits, loops, meters."""
import sys
import threading
import time
import tracemalloc

import numpy as np
import pytest
from stalling_device import StallingDeviceStream

from app.playback import stream_watch
from app.playback.audio_output import AudioUnavailable, ManualOutputStream, SilentClockStream
from app.playback.player import AudioPlayer
from app.playback.sources import OriginalSource, ReconstructionSource, ResidualSource
from app.playback.crossfade import FadeRamps
from app.playback.output_levels import OutputLevels
from app.studio.render_cache import ChunkGrid, RenderCache
from app.playback.switch_log import SwitchLog

RATE, LENGTH, BLOCK = 44100, 44100, 512


@pytest.fixture
def setup():
    t = np.arange(LENGTH) / RATE
    original = (0.5 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)[:, None]
    recon = (0.4 * np.sin(2 * np.pi * 220 * t + 2.0)).astype(np.float32)[:, None]
    grid = ChunkGrid(LENGTH, -(-LENGTH // 441), 441, 20)  # chunks of 8820 samples
    cache = RenderCache(grid, 2)
    player = AudioPlayer(ManualOutputStream, blocksize=BLOCK)
    source = OriginalSource(original.copy())
    player.configure(RATE, 1, source)
    stream = player.output_stream
    yield player, stream, source, cache, original, recon
    player.close()
    assert stream.closed


def fill(cache, n, recon, chunks):
    for c in chunks:
        start, end = cache.grid.samples(c)
        cache.put(n, c, recon[start:end])


def test_stream_plays_original_in_time(setup):
    player, stream, _source, _cache, original, _ = setup
    player.play()
    blocks = [stream.pull() for _ in range(3)]
    np.testing.assert_array_equal(np.concatenate(blocks)[:, 0], original[: 3 * BLOCK, 0])
    np.testing.assert_array_equal(np.concatenate(blocks)[:, 1], original[: 3 * BLOCK, 0])  # mono on both
    assert player.position == 3 * BLOCK


def test_switch_happens_at_the_same_sample_with_an_equal_power_crossfade(setup):
    player, stream, source, cache, original, recon = setup
    fill(cache, 1, recon, range(cache.grid.n_chunks))
    player.play()
    stream.pull(), stream.pull()
    at = player.position
    player.set_source(ReconstructionSource(cache, 1))
    block = stream.pull(1024)[:, 0]
    assert player.switch_log[-1] == (at, ("original",), ("reconstruction", 1))
    phase = (np.arange(441) + 0.5) / 441 * np.pi / 2
    expected = recon[at : at + 1024, 0].copy()
    expected[:441] = np.sin(phase) * recon[at : at + 441, 0] + np.cos(phase) * original[at : at + 441, 0]
    np.testing.assert_allclose(block, expected, atol=1e-6)
    assert player.audible == ("reconstruction", 1)


def test_not_ready_source_keeps_the_old_one_playing_until_rendered(setup):
    player, stream, _source, cache, original, recon = setup
    player.play()
    player.set_source(ReconstructionSource(cache, 1))
    block = stream.pull()[:, 0]
    np.testing.assert_array_equal(block, original[:BLOCK, 0])  # nothing rendered: no gap, no switch
    assert player.audible == ("original",) and player.requested == ("reconstruction", 1)
    fill(cache, 1, recon, [0])
    stream.pull()
    assert player.switch_log == [(BLOCK, ("original",), ("reconstruction", 1))]


def test_seek_into_unrendered_region_falls_back_to_original_then_returns(setup):
    player, stream, _source, cache, original, recon = setup
    fill(cache, 1, recon, [0])
    player.play()
    player.set_source(ReconstructionSource(cache, 1))
    stream.pull()
    player.seek(30_000)  # chunk 3: not rendered
    stream.pull()
    assert player.audible == ("original",)
    fill(cache, 1, recon, [3])
    stream.pull()
    assert player.audible == ("reconstruction", 1)


def test_seek_crossfades_from_old_to_new_position(setup):
    player, stream, _source, _cache, original, _ = setup
    player.play()
    stream.pull()
    player.seek(20_000)
    block = stream.pull()[:, 0]
    ramps = FadeRamps(441)
    expected = original[20_000 : 20_000 + BLOCK, 0].copy()
    expected[:441] = expected[:441] * ramps.fade_in[:, 0] + original[BLOCK : BLOCK + 441, 0] * ramps.fade_out[:, 0]
    np.testing.assert_allclose(block, expected, atol=1e-6)


def test_loop_wraps_inside_a_block(setup):
    player, stream, _source, _cache, original, _ = setup
    player.seek(1000)
    player.set_loop(1000, 1700)
    player.play()
    block = stream.pull(1024)[:, 0]
    np.testing.assert_array_equal(block, np.r_[original[1000:1700, 0], original[1000:1324, 0]])
    assert player.position == 1324


def test_playback_stops_at_the_end(setup):
    player, stream, *_ = setup
    player.seek(LENGTH - 100)
    player.play()
    block = stream.pull()
    assert not player.playing and np.all(block[100:] == 0)


def test_without_a_device_a_silent_clock_drives_the_player():
    def no_device(*_args):
        raise AudioUnavailable("no sound: no usable output device (test)")

    player = AudioPlayer(no_device)
    player.configure(RATE, 1, OriginalSource(np.zeros((RATE, 1), np.float32)))
    try:
        assert player.unavailable_reason == "no sound: no usable output device (test)"
        assert isinstance(player.output_stream, SilentClockStream)
        player.play()
        import time

        deadline = time.monotonic() + 60
        while player.position < 2048 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert player.position >= 2048  # time advances in real time without sound
    finally:
        player.close()
    assert player.output_stream is None


def test_the_callback_allocates_no_buffers(setup):
    """Switches, crossfades, seeks, loop wraps and the limited residual, block after block."""
    player, stream, source, cache, original, recon = setup
    fill(cache, 1, recon, range(cache.grid.n_chunks))
    sources = [ReconstructionSource(cache, 1), ResidualSource(source, ReconstructionSource(cache, 1), 24.0), source]
    frames = 4096
    out = np.zeros((frames, 2), np.float32)  # the device's buffer: not the callback's to allocate
    player.play()

    def blocks():
        player.set_loop(0, LENGTH)  # keep playing
        player.seek(0)
        for k in range(60):
            if k % 3 == 0:
                player.set_source(sources[k // 3 % len(sources)])
            if k == 20:
                player.seek(30_000)
            if k == 30:
                player.set_loop(10_000, 13_000)  # shorter than a block: wraps inside it
                player.seek(10_500)
            stream.callback(out, frames, None, None)

    blocks()  # first calls may warm caches (numpy's, Python's)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        blocks()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert player.playing and player.switch_log.total == 40 and 10_000 <= player.position < 13_000  # all paths ran
    # one channel of one block is 16 kB: a block-sized temporary would show; a few small Python
    # objects (array views, ints) do not
    assert peak - before < 4096


def test_switch_log_keeps_the_latest_switches_in_a_fixed_ring():
    log = SwitchLog(capacity=4)
    for k in range(10):
        log.record(k, ("original",), ("reconstruction", k))
    assert len(log) == 4 and log.total == 10
    assert log == [(k, ("original",), ("reconstruction", k)) for k in range(6, 10)]
    assert log[-1] == (9, ("original",), ("reconstruction", 9)) and log[0][0] == 6
    log.clear()
    assert len(log) == 0 and log == []


def db(linear):
    return 20 * np.log10(linear)


@pytest.fixture
def stereo_player():
    """``stereo_player(left, right)``: a player of that clip on a hand-driven stream, playing, closed after."""
    players = []

    def make(left: np.ndarray, right: np.ndarray) -> AudioPlayer:
        player = AudioPlayer(ManualOutputStream, blocksize=BLOCK)
        player.configure(RATE, 2, OriginalSource(np.stack([left, right], axis=1).astype(np.float32)))
        player.play()
        players.append(player)
        return player

    yield make
    for player in players:
        player.close()


def test_levels_of_a_sine_are_its_peak_and_its_rms_3_db_below(stereo_player):
    t = np.arange(LENGTH) / RATE
    sine = np.sin(2 * np.pi * 441 * t)  # 100 samples a period: 25 blocks hold 128 whole periods
    player = stereo_player(10 ** (-6 / 20) * sine, 10 ** (-20 / 20) * sine)
    for _ in range(25):
        player.output_stream.pull()
    peak, rms = player.take_levels()
    np.testing.assert_allclose(db(peak), [-6.0, -20.0], atol=1e-4)
    np.testing.assert_allclose(db(rms), [-9.0103, -23.0103], atol=1e-3)


def test_a_click_inside_a_block_between_two_reads_is_not_missed(stereo_player):
    quiet = np.full(LENGTH, 0.01)
    click = quiet.copy()
    click[BLOCK + 100] = 0.9  # one sample in the second of three blocks
    player = stereo_player(click, quiet)
    player.take_levels()
    for _ in range(3):
        player.output_stream.pull()
    peak, rms = player.take_levels()
    np.testing.assert_allclose(peak, [0.9, 0.01], rtol=1e-6)
    np.testing.assert_allclose(rms, [np.sqrt((3 * BLOCK - 1) * 0.01**2 + 0.9**2) / np.sqrt(3 * BLOCK), 0.01],
                               rtol=1e-5)
    assert player.take_levels()[0].tolist() == [0.0, 0.0]  # handed over once


def test_paused_blocks_read_as_silence(setup):
    player, stream, *_ = setup
    player.play()
    stream.pull()
    player.pause()
    player.take_levels()
    stream.pull()
    peak, rms = player.take_levels()
    assert peak.tolist() == [0.0, 0.0] and rms.tolist() == [0.0, 0.0]


def test_a_reader_late_by_more_than_the_ring_gets_the_latest_half_of_it():
    levels = OutputLevels(1, BLOCK, capacity=8)
    for k in range(20):
        levels.begin()
        levels.add(np.full((BLOCK, 1), k / 100, np.float32))
        levels.publish()
    peak, rms = levels.take()
    assert peak.tolist() == [np.float32(0.19)]
    np.testing.assert_allclose(rms, [np.sqrt(np.mean(np.square([0.16, 0.17, 0.18, 0.19])))], rtol=1e-6)


def test_levels_taken_while_the_callback_runs_in_another_thread_cover_every_block_once():
    """The lock-free handoff under real thread switches. Block k holds the constant (k + 1) / 10000,
    so a take's peak names the last block it covers, and its RMS proves it covers exactly the
    blocks since the previous take: none lost, none twice, no entry read half-written."""
    blocks = 3000
    levels = OutputLevels(1, BLOCK, capacity=4096)
    values = (np.arange(blocks, dtype=np.float32) + 1) / 10000
    pieces = [np.full((BLOCK // 2, 1), v, np.float32) for v in values]

    def callback():
        for piece in pieces:
            levels.begin()
            levels.add(piece)
            levels.add(piece)
            levels.publish()

    thread = threading.Thread(target=callback, name="test-level-producer")
    takes = []
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # switch threads mid-block often, not every 5 ms
    thread.start()
    try:
        while thread.is_alive():
            takes.append(levels.take())
    finally:
        thread.join()
        sys.setswitchinterval(interval)
    takes.append(levels.take())
    covered = 0
    for peak, rms in takes:
        if peak[0] == 0:
            continue
        last = int(np.argmin(np.abs(values - peak[0])))
        assert values[last] == peak[0] and last >= covered
        np.testing.assert_allclose(rms[0], np.sqrt(np.mean(values[covered : last + 1].astype(np.float64) ** 2)),
                                   rtol=1e-5)
        covered = last + 1
    assert covered == blocks and sum(p[0] > 0 for p, _ in takes) >= 5  # the reader did interleave


def test_a_device_that_stops_by_itself_gives_way_to_the_silent_clock_and_is_tried_again_on_play():
    player = AudioPlayer(ManualOutputStream)
    player.configure(RATE, 1, OriginalSource(np.zeros((10 * RATE, 1), np.float32)))
    try:
        player.play()
        device = player.output_stream
        device.pull()
        assert player.check_output() is None
        device.active = False  # as PortAudio leaves a stream whose device went away
        said = player.check_output()
        assert said.startswith("no sound: the output device stopped") and player.unavailable_reason == said
        assert isinstance(player.output_stream, SilentClockStream) and device.closed
        assert player.check_output() is None  # said once
        reached = player.position
        deadline = time.monotonic() + 60
        while player.position < reached + 2048 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert player.position >= reached + 2048  # the playhead goes on from where the device left it
        player.play()
        assert isinstance(player.output_stream, ManualOutputStream) and player.output_stream is not device
        assert player.output_stream.active and player.check_output() is None
        assert player.unavailable_reason is None and not player.device_lost  # nothing left to say
    finally:
        player.close()


def test_a_lost_device_that_play_cannot_open_again_is_said_once_and_tried_at_the_next_play():
    plugged = [True]

    def device(*args):
        if not plugged[0]:
            raise AudioUnavailable("no sound: no usable output device (Device unavailable)")
        return ManualOutputStream(*args)

    player = AudioPlayer(device)
    player.configure(RATE, 1, OriginalSource(np.zeros((10 * RATE, 1), np.float32)))
    try:
        player.play()
        player.output_stream.active = False
        assert player.check_output().startswith("no sound: the output device stopped")
        plugged[0] = False
        player.play()
        assert player.device_lost and isinstance(player.output_stream, SilentClockStream)
        said = player.check_output()
        assert said == "no sound: no usable output device (Device unavailable); Play tries it again"
        assert player.check_output() is None  # said once
        plugged[0] = True
        player.play()
        assert isinstance(player.output_stream, ManualOutputStream) and not player.device_lost
        assert player.check_output() is None and player.unavailable_reason is None
    finally:
        player.close()


def _moving_past(player: AudioPlayer, sample: int) -> bool:
    """Whether the playhead passes ``sample`` within a minute (the stream calls back by itself)."""
    deadline = time.monotonic() + 60
    while player.position <= sample and time.monotonic() < deadline:
        time.sleep(0.01)
    return player.position > sample


def _playing(factory, seconds: int) -> AudioPlayer:
    """A player on ``factory``'s stream, playing ``seconds`` of silence."""
    player = AudioPlayer(factory)
    player.configure(RATE, 1, OriginalSource(np.zeros((seconds * RATE, 1), np.float32)))
    player.play()
    return player


def test_a_device_that_stops_calling_while_active_gives_way_to_the_silent_clock_from_the_same_sample(monkeypatch):
    monkeypatch.setattr(stream_watch, "STALL_SECONDS", 0.1)
    player = _playing(StallingDeviceStream, 60)
    try:
        device = player.output_stream
        assert player.check_output() is None and _moving_past(player, 2 * BLOCK)
        time.sleep(0.3)  # the GUI thread busy for longer than a stall: the device called meanwhile
        assert player.check_output() is None and player.output_stream is device
        device.stall()
        frozen = player.position
        deadline, said = time.monotonic() + 60, None
        while said is None and time.monotonic() < deadline:
            said = player.check_output()
            time.sleep(0.01)
        assert said == ("no sound: the output device stopped (unplugged, or taken by another program); "
                        "Play tries it again")
        assert device.aborted and device.closed and isinstance(player.output_stream, SilentClockStream)
        assert player.check_output() is None  # said once
        assert player.position >= frozen and player.playing
        assert _moving_past(player, frozen + 4 * BLOCK)  # on from where the device left it
    finally:
        player.close()


def test_a_hand_driven_stream_left_unpulled_is_not_taken_for_a_stalled_device(monkeypatch):
    monkeypatch.setattr(stream_watch, "STALL_SECONDS", 0.02)
    player = _playing(ManualOutputStream, 10)
    try:
        device = player.output_stream
        for _ in range(3):
            assert player.check_output() is None
            time.sleep(0.05)
        assert player.output_stream is device and not player.device_lost
    finally:
        player.close()
