"""The player on a hand-driven stream: switches at the same sample index, fades, waits, loops."""
import tracemalloc

import numpy as np
import pytest

from app.audio_output import AudioUnavailable, ManualOutputStream, SilentClockStream
from app.audio_player import AudioPlayer
from app.audio_sources import OriginalSource, ReconstructionSource, ResidualSource
from app.crossfade import FadeRamps
from app.render_cache import ChunkGrid, RenderCache
from app.switch_log import SwitchLog

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
    stream = player._stream
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
        assert isinstance(player._stream, SilentClockStream)
        player.play()
        import time

        deadline = time.monotonic() + 5
        while player.position < 2048 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert player.position >= 2048  # time advances in real time without sound
    finally:
        player.close()
    assert player._stream is None


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
