"""The studio's real PortAudio path, end to end, on ALSA's null device.

Every other test plays through a hand-driven or silent stream, so a wrong argument to
sounddevice would only show on a machine with a sound card. Here the studio's own code opens
real sounddevice streams -- the player's output and the live monitor's input -- on a software
device that discards what it is given and delivers silence (ALSA's ``null`` plugin, named in
an ``.asoundrc`` of a private home folder). It is not paced in real time, so the tests check
what the stream carries and which thread priority its callback thread has, not timing. It runs
in a child process: PortAudio reads the device list once, when sounddevice is imported.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

CHILD = r"""
import json, os, sys, threading, time
import numpy as np
from app.playback.player import AudioPlayer
from app.playback.sources import OriginalSource
from app.live.input_device import open_input_stream
from app.runtime.thread_priority import raise_current_thread_priority


def scheduling():
    out = {}
    for tid in os.listdir("/proc/self/task"):
        out[int(tid)] = (os.sched_getscheduler(int(tid)), os.getpriority(os.PRIO_PROCESS, int(tid)))
    return out


def wait_for(condition, seconds=20.0):
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)
    return condition()


result = {}
if sys.argv[1] == "none":
    import sounddevice
    from app.live.input_device import open_input_stream
    from app.playback.audio_output import AudioUnavailable
    result["devices"] = len(sounddevice.query_devices())
    player = AudioPlayer()
    player.configure(44100, 1, OriginalSource(np.zeros((1000, 1), np.float32)))
    result["output"] = [player.unavailable_reason, type(player.output_stream).__name__]
    player.close()
    try:
        open_input_stream(44100, 1, 512, lambda *block: None)
    except AudioUnavailable as exc:
        result["input"] = str(exc)
    print(json.dumps(result))
    sys.exit(0)
if sys.argv[1] == "live":
    from app.live.monitor import LiveMonitor
    from model import load_codec
    monitor = LiveMonitor()
    result["live_started"] = monitor.start(load_codec("default"), 4)
    result["live_reasons"] = [monitor.unavailable_reason, monitor.output_reason]
    if result["live_started"]:
        result["live_ran"] = wait_for(lambda: monitor.recorded_seconds() > 0.5 or not monitor.running, 30.0)
        result["live_running"] = monitor.running
        monitor.stop()
    print(json.dumps(result))
    sys.exit(0)
if sys.argv[1] == "lost":  # a stream whose callback aborts, or raises, goes inactive as an unplugged device's
    import sounddevice
    sys.path.insert(0, os.path.join("tests", "support"))
    from tiny_codecs import tiny_network
    from app.live.monitor import LiveMonitor
    from model.codec import Codec
    codec = Codec(tiny_network("dac"), name="tiny", family="dac", config={})
    for side, failure in (("output", sounddevice.CallbackAbort), ("input", RuntimeError("the device went away"))):
        monitor = LiveMonitor(raise_priority=False)
        own, blocks = getattr(monitor, f"_{side}_callback"), []

        def failing(*block, own=own, blocks=blocks, failure=failure):
            if len(blocks) == 20:
                raise failure
            blocks.append(block[1])
            own(*block)

        setattr(monitor, f"_{side}_callback", failing)
        started, said = monitor.start(codec, 2), None
        deadline = time.monotonic() + 30
        while started and said is None and time.monotonic() < deadline:
            said = monitor.check_devices()
            time.sleep(0.01)
        seen = [started, said, monitor.running, type(monitor._output).__name__]
        monitor.stop()
        result[side] = seen + [monitor._recording.frames, sum(blocks),
                               [t.name for t in threading.enumerate() if t.name != "MainThread"]]
    print(json.dumps(result))
    sys.exit(0)
if sys.argv[1] == "stalled":  # the device's thread stuck in a block: no callback, the stream still active
    from app.playback import stream_watch
    stream_watch.STALL_SECONDS = 0.1
    player, blocks = AudioPlayer(), []  # per block: the playhead before and after it, the thread that called
    own = player._callback

    def stuck(*block):
        if len(blocks) == 20:
            time.sleep(0.6)
        start = player._pos
        own(*block)
        blocks.append((start, player._pos, threading.current_thread().name))

    player._callback = stuck
    player.configure(44100, 1, OriginalSource(np.zeros((44100 * 60, 1), np.float32)))
    player.play()
    wait_for(lambda: len(blocks) >= 20)
    device, said = player.output_stream, None
    result["device"] = [type(device).__module__, device.device_clocked]
    deadline = time.monotonic() + 20
    while said is None and time.monotonic() < deadline:
        result["active_while_stuck"] = device.active
        said = player.check_output()
        time.sleep(0.01)
    result["said"] = said
    result["then"] = [type(player.output_stream).__name__, device.closed]
    result["went_on"] = wait_for(lambda: sum(name == "silent-audio-clock" for *_, name in blocks) > 10)
    player.close()
    callers = [name for *_, name in blocks]
    result["callers"] = [callers[0] != "silent-audio-clock", callers[-1], callers.index("silent-audio-clock")]
    result["contiguous"] = all(later[0] == earlier[1] for earlier, later in zip(blocks, blocks[1:]))
    result["threads"] = [t.name for t in threading.enumerate() if t.name != "MainThread"]
    print(json.dumps(result))
    sys.exit(0)

expected = {}
probe = threading.Thread(target=lambda: expected.update(
    got=raise_current_thread_priority(), policy=os.sched_getscheduler(0), nice=os.getpriority(os.PRIO_PROCESS, 0)))
probe.start(); probe.join()

result.update(expected=[expected["policy"], expected["nice"]], expected_text=expected["got"])
before = set(scheduling())
player = AudioPlayer()
rate = 44100
signal = (0.25 * np.sin(2 * np.pi * 441 * np.arange(rate * 60) / rate)).astype(np.float32)[:, None]
player.configure(rate, 1, OriginalSource(signal))
result["unavailable"] = player.unavailable_reason
result["stream"] = type(player.output_stream).__module__
player.play()
result["advanced"] = wait_for(lambda: player.position > rate)
threads = scheduling()
result["device_threads"] = [list(v) for tid, v in threads.items() if tid not in before]
result["levels"] = [float(x) for x in player.take_levels()[0]]
player.close()

blocks = []
stream = open_input_stream(rate, 1, 512, lambda data, frames, t, s: blocks.append((data.shape, str(data.dtype), frames)))
stream.start()
result["input_blocks"] = wait_for(lambda: len(blocks) > 20)
stream.stop(); stream.close()
result["input_shape"] = [list(blocks[0][0]), blocks[0][1], blocks[0][2]]
print(json.dumps(result))
"""


def _run_child(tmp_path: Path, part: str, null_device: bool = True) -> dict:
    if null_device:
        (tmp_path / ".asoundrc").write_text("pcm.!default {\n    type null\n}\n")
    env = {k: v for k, v in os.environ.items() if k not in ("RVQ_STUDIO_NO_AUDIO", "RVQ_STUDIO_SIMULATED_INPUT")}
    env.update(HOME=str(tmp_path), PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    done = subprocess.run([sys.executable, "-c", CHILD, part], env=env, cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _needs_portaudio() -> None:
    try:
        import sounddevice  # noqa: F401  (only to learn whether PortAudio is installed)
    except OSError as exc:
        pytest.skip(f"PortAudio is not installed ({exc})")


@pytest.fixture(scope="module")
def child(tmp_path_factory) -> dict:
    _needs_portaudio()
    return _run_child(tmp_path_factory.mktemp("alsa-home"), "streams")


def test_the_player_plays_through_a_real_portaudio_output_stream(child):
    assert child["unavailable"] is None and child["stream"] == "sounddevice"
    assert child["advanced"]  # the device pulled more than a second of the clip through the callback
    assert child["levels"][0] == pytest.approx(0.25, abs=0.01)  # the sine's peak went out


def test_the_output_devices_callback_thread_gets_the_priority_a_deadline_thread_can_have(child):
    # the device's thread asked for what any thread of this process gets when it asks
    assert child["expected"] in child["device_threads"], (child["expected_text"], child["device_threads"])


def test_the_live_monitor_reads_a_real_portaudio_input_stream(child):
    assert child["input_blocks"]
    assert child["input_shape"] == [[512, 1], "float32", 512]


@pytest.mark.slow
def test_the_live_monitor_runs_between_a_real_input_and_a_real_output(tmp_path):
    _needs_portaudio()
    live = _run_child(tmp_path, "live")
    assert live["live_started"] and live["live_reasons"] == ["", ""]
    assert live["live_ran"] and live["live_running"]


@pytest.mark.slow
def test_a_live_device_whose_stream_stops_by_itself_is_noticed_on_real_portaudio_streams(tmp_path):
    _needs_portaudio()
    lost = _run_child(tmp_path, "lost")
    started, said, running, output, _, _, threads = lost["output"]
    assert started and said.startswith("the output device stopped") and running and output == "SilentClockStream"
    assert threads == []
    started, said, running, _, recorded, fed, threads = lost["input"]
    assert started and said.startswith("the input device stopped") and not running and threads == []
    assert recorded == fed > 0  # every frame the device gave before it stopped is in the recording


@pytest.mark.slow
def test_a_real_portaudio_output_stream_that_stops_calling_while_active_gives_way_to_the_silent_clock(tmp_path):
    _needs_portaudio()
    stalled = _run_child(tmp_path, "stalled")
    assert stalled["device"] == ["sounddevice", True] and stalled["active_while_stuck"]
    assert stalled["said"] == ("no sound: the output device stopped (unplugged, or taken by another program); "
                               "Play tries it again")
    assert stalled["then"] == ["SilentClockStream", True] and stalled["went_on"]
    first, last, handed_over = stalled["callers"]
    assert first and last == "silent-audio-clock" and handed_over > 20  # the device's blocks, then the clock's
    assert stalled["contiguous"]  # the clock went on from the sample the device had reached
    assert stalled["threads"] == []


def test_without_any_sound_device_playback_and_live_input_say_so_in_plain_words(tmp_path):
    _needs_portaudio()
    found = _run_child(tmp_path, "none", null_device=False)
    if found["devices"]:
        pytest.skip("this machine has sound devices")
    assert found["output"] == ["no sound: this machine has no output device", "SilentClockStream"]
    assert found["input"] == "no live input: this machine has no input device"
