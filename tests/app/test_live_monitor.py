"""The live monitor: what it records equals the offline encode of what was fed, n switches are
exact after their crossfade, a codec that cannot keep up is heard as pass-through and counted,
and no device is ever opened (a file is fed on a clock, the output is a silent clock)."""
import os
import threading
import time

import numpy as np
import pytest
import torch
from stalling_device import StallingDeviceStream
from tiny_codecs import tiny_network

from app.live import monitor as live_monitor
from app.live.input_device import SimulatedInputStream, open_input_stream
from app.live.live_coder import LiveCoder
from app.live.monitor import LiveMonitor
from app.live.ring import FrameRing
from app.playback import stream_watch
from app.playback.audio_output import AudioUnavailable, ManualOutputStream, SilentClockStream
from model import load_codec
from model.audio_io import read_audio
from model.codec import Codec
from model.registry import FAMILIES
from model.rvq_format import read_rvq

AUDIO_TOLERANCE = 1e-5


def _tiny(family: str) -> Codec:
    return Codec(tiny_network(family), name="tiny", family=family, config={})


def _noise(codec: Codec, seconds: float, seed: int = 0) -> np.ndarray:
    g = np.random.default_rng(seed)
    return (0.1 * g.standard_normal(int(seconds * codec.sample_rate))).astype(np.float32)


def test_ring_keeps_order_across_the_wrap_and_refuses_what_does_not_fit():
    ring = FrameRing(5, 2)
    data = np.arange(16, dtype=np.float32).reshape(8, 2)
    out = np.zeros((8, 2), dtype=np.float32)
    assert ring.write(data[:3]) == 3 and ring.read_into(out[:2]) == 2
    assert ring.write(data[3:]) == 4  # wraps; one frame refused
    assert ring.read_into(out[2:]) == 5
    assert np.array_equal(out[:7], data[:7])


@pytest.mark.parametrize("family", FAMILIES)
def test_codes_are_the_offline_ones_and_a_switch_of_n_is_exact_after_its_fade(family):
    codec = _tiny(family)
    x = _noise(codec, 0.6)
    coder = LiveCoder(codec, 1)
    block = round(0.02 * codec.sample_rate)
    codes, held, decoded = [], [], []
    for i, start in enumerate(range(0, x.shape[0], block)):
        if i == 12:
            asked = coder.emitted
            coder.set_n(codec.n_codebooks)
        c, h, d = coder.push(x[start:start + block])
        codes.append(c), held.append(h), decoded.append(d)
    codes.append(coder.finish())
    offline = codec.encode(torch.from_numpy(x)[None, None])
    assert np.array_equal(np.concatenate(codes, -1), offline[0].numpy())
    held, decoded = np.concatenate(held), np.concatenate(decoded)
    assert np.array_equal(held, x[:held.shape[0]])  # the input beside its own reconstruction
    low, high = (codec.decode(offline[:, :n])[0, 0].numpy() for n in (1, codec.n_codebooks))
    switch = coder.switched_at
    fade_end = switch + coder.ramps.length
    assert 0 < asked <= switch < fade_end < decoded.shape[0]
    assert np.abs(decoded[:switch] - low[:switch]).max() <= AUDIO_TOLERANCE
    assert np.abs(decoded[fade_end:] - high[fade_end:decoded.shape[0]]).max() <= AUDIO_TOLERANCE


def _run(monitor: LiveMonitor, codec: Codec, x: np.ndarray, speed: float, n: int | None = None):
    """Feed ``x`` through ``monitor`` at ``speed`` times real time; stop once it is all in."""
    fed = []

    def simulated(rate, channels, block, callback, device=None):
        fed.append(SimulatedInputStream(x[:, None], rate, block, callback, speed=speed))
        return fed[-1]

    def output(rate, channels, block, callback):
        stream = SilentClockStream(rate, channels, block, callback)
        stream.speed = speed
        return stream

    monitor._input_factory, monitor._output_factory = simulated, output
    assert monitor.start(codec, n or codec.n_codebooks)
    states, deadline = [], time.monotonic() + 60 + 2 * x.shape[0] / codec.sample_rate / speed
    while not fed[0].finished.wait(0.05) and time.monotonic() < deadline:
        states.append(monitor.status())
    assert fed[0].finished.is_set()
    monitor.stop()
    return states, monitor.status()


def test_the_recording_is_what_was_fed_and_its_offline_codes(tmp_path):
    codec = _tiny("dac")
    x = _noise(codec, 0.6, seed=3)
    monitor = LiveMonitor()
    states, _ = _run(monitor, codec, x, speed=2.0, n=2)
    assert any(s.state == "codec" for s in states) and states[-1].n == 2
    monitor.save_recording(tmp_path / "live.wav", tmp_path / "live.rvq")
    wav = read_audio(tmp_path / "live.wav")
    assert wav.sample_rate == codec.sample_rate and np.array_equal(wav.samples[0], x)
    codes, meta = read_rvq(tmp_path / "live.rvq")
    assert meta.length == x.shape[0]
    assert np.array_equal(codes[0], codec.encode(torch.from_numpy(x)[None, None])[0].numpy())
    assert not any(t.name in ("live-codec", "simulated-input") for t in threading.enumerate())


LIVE_THREADS = ("live-codec", "simulated-input", "silent-audio-clock")


def _feeding(x: np.ndarray, speed: float, fed: list, kind: type = SimulatedInputStream):
    """An input factory: ``x`` fed once at ``speed`` times real time, its stream appended to ``fed``."""
    def simulated(rate, channels, block, callback, device=None):
        fed.append(kind(x[:, None], rate, block, callback, speed=speed))
        return fed[-1]
    return simulated


class _SilentlyDead(SimulatedInputStream):
    """An input whose stream claims to be active after its last block, as some host APIs leave a dead device's."""

    active = True


def _fast_clock(rate, channels, block, callback):
    """An output stream on a silent clock at four times real time."""
    stream = SilentClockStream(rate, channels, block, callback)
    stream.speed = 4.0
    return stream


def _assert_recorded(monitor: LiveMonitor, codec: Codec, x: np.ndarray, folder) -> None:
    """The saved WAV is ``x`` as fed, the ``.rvq`` its offline codes."""
    monitor.save_recording(folder / "live.wav", folder / "live.rvq")
    assert np.array_equal(read_audio(folder / "live.wav").samples[0], x)
    codes, meta = read_rvq(folder / "live.rvq")
    assert meta.length == x.shape[0]
    assert np.array_equal(codes[0], codec.encode(torch.from_numpy(x)[None, None])[0].numpy())


def _started_on(seconds: float, speed: float, seed: int, kind: type = SimulatedInputStream,
                output=ManualOutputStream):
    """A tiny codec's monitor fed ``seconds`` of noise once (on a ``kind`` of input stream), playing to
    ``output`` (a hand-driven stream unless said)."""
    codec = _tiny("dac")
    x = _noise(codec, seconds, seed=seed)
    fed = []
    monitor = LiveMonitor(_feeding(x, speed, fed, kind), output, raise_priority=False)
    assert monitor.start(codec, 2)
    return codec, x, fed, monitor


def _first_said(monitor: LiveMonitor) -> str | None:
    """What :meth:`LiveMonitor.check_devices` says first, asked as the GUI's timer would."""
    deadline, said = time.monotonic() + 60, None
    while said is None and time.monotonic() < deadline:
        said = monitor.check_devices()
        time.sleep(0.01)
    return said


@pytest.mark.parametrize("kind", [SimulatedInputStream, _SilentlyDead], ids=["inactive", "silent"])
def test_an_input_device_that_stops_ends_the_session_keeping_all_it_gave(monkeypatch, tmp_path, kind):
    monkeypatch.setattr(stream_watch, "STALL_SECONDS", 0.3)
    codec, x, _, monitor = _started_on(0.6, 4.0, seed=6, kind=kind, output=_fast_clock)
    said = _first_said(monitor)
    assert said == ("the input device stopped (unplugged, or taken by another program): the live input ended, "
                    "the 0.6 s recorded are kept; Start tries it again")
    assert monitor.check_devices() is None  # said once
    status = monitor.status()
    assert not monitor.running and status.state == "stopped" and status.reason == said
    assert not any(t.name in LIVE_THREADS for t in threading.enumerate())
    _assert_recorded(monitor, codec, x, tmp_path)
    assert monitor.start(codec, 2) and monitor.status().reason == ""  # Start tries the device again
    monitor.stop()


@pytest.mark.parametrize("silent", [False, True], ids=["inactive", "silent"])
def test_an_output_device_that_stops_leaves_the_input_coded_and_recorded_unheard(monkeypatch, tmp_path, silent):
    monkeypatch.setattr(stream_watch, "STALL_SECONDS", 0.2)  # well within the input's 0.8 s
    codec, x, fed, monitor = _started_on(1.6, 2.0, seed=7, output=StallingDeviceStream)
    try:
        device = monitor._output
        assert monitor.check_devices() is None
        if silent:  # the device no longer calls, its stream still active
            device.stall()
            said = _first_said(monitor)
        else:
            device.active = False  # as PortAudio leaves a stream whose device went away
            said = monitor.check_devices()
        assert said == ("the output device stopped (unplugged, or taken by another program): the input is still "
                        "coded and recorded, unheard; Stop, then Start, tries it again")
        assert monitor.output_reason == said and monitor.check_devices() is None  # said once
        assert device.aborted and device.closed and monitor.running
        assert type(monitor._output) is SilentClockStream
        assert fed[0].finished.wait(60)
        deadline = time.monotonic() + 60
        while monitor._out_ring.read == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert monitor._out_ring.read > 0  # the silent clock takes the codec's output, as the device did
    finally:
        monitor.stop()
    assert not any(t.name in LIVE_THREADS for t in threading.enumerate())
    _assert_recorded(monitor, codec, x, tmp_path)


def test_a_full_disk_stops_the_recording_and_not_the_monitor(monkeypatch, tmp_path):
    from app.live import recording

    monkeypatch.setattr(recording.tempfile, "TemporaryFile", lambda **_: open("/dev/full", "w+b", buffering=0))
    monkeypatch.setattr(recording, "SPOOL_BUFFER_BYTES", 64)  # less than a block: the first one fails
    codec = _tiny("dac")
    monitor = LiveMonitor()
    states, status = _run(monitor, codec, _noise(codec, 0.6, seed=4), speed=2.0)
    assert "No space left on device" in status.recording_error and status.seconds == 0.0
    assert any(s.state == "codec" for s in states) and monitor._out_ring.written > 0  # still heard
    with pytest.raises(ValueError, match="nothing was recorded: the recording stopped early"):
        monitor.save_recording(tmp_path / "live.wav", tmp_path / "live.rvq")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_a_codec_that_cannot_keep_up_is_heard_as_pass_through_and_counted(monkeypatch):
    codec = _tiny("dac")
    push = LiveCoder.push
    monitor = LiveMonitor()

    went_live = threading.Event()

    def slow_push(self, mono):
        if monitor.status().state == "codec":
            went_live.set()
        if went_live.is_set():  # live, then too slow
            time.sleep(6 * mono.shape[0] / codec.sample_rate)
        return push(self, mono)

    monkeypatch.setattr(LiveCoder, "push", slow_push)
    heard = []
    original = monitor._output_callback

    def listening(outdata, frames, time_info, status):
        original(outdata, frames, time_info, status)
        heard.append(outdata[:, 0].copy())

    monkeypatch.setattr(monitor, "_output_callback", listening)
    states, status = _run(monitor, codec, _noise(codec, 0.8) + 0.2, speed=2.0)
    assert states[-1].state == "pass-through" and "cannot keep up" in states[-1].reason
    assert status.dropouts >= 1 and max(s.load for s in states) > 1
    late = np.concatenate(heard[len(heard) // 2:])
    assert np.abs(late).max() > 0.1  # the input is heard, not silence


def test_a_codec_thread_refused_a_raised_priority_says_so_and_still_runs(monkeypatch):
    def refused(*args):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "sched_setscheduler", refused)
    monkeypatch.setattr(os, "setpriority", refused)
    codec = _tiny("dac")
    monitor = LiveMonitor()
    states, status = _run(monitor, codec, _noise(codec, 0.6), speed=2.0)
    assert any(s.state == "codec" for s in states)
    assert status.priority.startswith("normal priority: real-time scheduling refused (Operation not permitted)")
    # its jitter buffer starts where a first dropout would take it
    assert monitor.prebuffer == round(live_monitor.JITTER_GROWTH * round(live_monitor.JITTER_SECONDS * codec.sample_rate))
    assert all(s.buffer_latency >= 1.5 * live_monitor.JITTER_SECONDS for s in states if s.state == "codec")


def test_a_codec_thread_that_falls_behind_gives_its_raised_priority_back(monkeypatch):
    codec = _tiny("dac")
    monkeypatch.setattr(live_monitor, "BEHIND_SECONDS", 0.1)
    monkeypatch.setattr(live_monitor, "raise_current_thread_priority", lambda: "real-time priority")  # any machine
    push = LiveCoder.push
    slow = 0.75 / codec.sample_rate  # seconds per sample: at speed 4, three times slower than the input comes
    monkeypatch.setattr(LiveCoder, "push", lambda self, mono: time.sleep(slow * mono.shape[0]) or push(self, mono))
    _, status = _run(LiveMonitor(), codec, _noise(codec, 0.4), speed=4.0)
    assert status.priority == "normal priority: the codec fell 0.1 s behind"


def test_without_an_input_device_the_monitor_says_why(monkeypatch):
    monkeypatch.setenv("RVQ_STUDIO_NO_AUDIO", "1")
    monkeypatch.delenv("RVQ_STUDIO_SIMULATED_INPUT", raising=False)
    with pytest.raises(AudioUnavailable, match="no live input: turned off"):
        open_input_stream(16000, 1, 320, lambda *a: None)
    monitor = LiveMonitor()
    assert not monitor.start(_tiny("dac"), 1)
    assert monitor.unavailable_reason.startswith("no live input") and not monitor.running


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_ten_minutes_of_the_default_model_at_real_pace_have_no_dropout():
    """The default model with the monitor's own blocks and buffers, fed at real pace (the rings and
    clocks of a live session). Met with a busy-loop process on the other core at real-time priority,
    and on two quieter cores at real-time and at normal priority (docs/benchmarks.md, Live input)."""
    codec = load_codec("default")
    x = _noise(codec, 600.0, seed=5)
    monitor = LiveMonitor()
    states, status = _run(monitor, codec, x, speed=1.0)
    assert states[-1].state == "codec" and status.dropouts == 0 and status.lost_input == 0, status


def test_a_live_input_file_that_cannot_be_read_stops_the_command_before_the_window(tmp_path, capsys):
    from app.cli.command_line import main

    bad = tmp_path / "not audio.wav"
    bad.write_bytes(b"RIFF nonsense")
    assert main(["--live-input", str(bad)]) == 2
    assert "not audio.wav" in capsys.readouterr().err
