"""Where the player's blocks go: a sound device, a silent clock, or a test's hand.

The player only needs "call my callback with a buffer of ``frames`` x ``channels`` every
block". Three implementations give that:

* :func:`open_device_stream` -- a PortAudio output stream through sounddevice, whose callback
  thread raises itself to real-time priority at its first block where permitted (PortAudio
  leaves it ordinary unless asked, and sounddevice cannot ask): a busy core then no longer
  delays the device's next block by a time slice;
* :class:`SilentClockStream` -- a thread that calls the callback at real-time pace and
  discards the output, used when there is no PortAudio or no output device, so the
  playhead, meters and A/B logic keep working without sound; it asks for real-time
  priority, as sound servers give their devices' threads;
* :class:`ManualOutputStream` -- pulls blocks only when asked; tests and benchmarks drive
  the player with it deterministically and never touch a real device.

A stream's ``device_clocked`` says whether it calls back by itself on a device's clock, so that
one which stops calling while it claims to be active has stalled (:mod:`app.playback.stream_watch`):
true for PortAudio's streams only.

sounddevice is imported lazily: importing it loads PortAudio, and a missing library must
not stop the studio from opening.
"""
from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Protocol

import numpy as np

from app.runtime.thread_priority import raise_current_thread_priority, raise_unless_real_time, restore_normal_priority

Callback = Callable[[np.ndarray, int, object, object], None]
DEVICE_STOPPED = "(unplugged, or taken by another program)"  # why a device's stream goes inactive by itself


class AudioUnavailable(RuntimeError):
    """No sound output is possible; the message says why, in one line."""


class OutputStream(Protocol):
    latency: float

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def close(self) -> None: ...


StreamFactory = Callable[[int, int, int, Callback], OutputStream]


def open_device_stream(sample_rate: int, channels: int, blocksize: int, callback: Callback) -> OutputStream:
    """A sounddevice output stream on the default device; :class:`AudioUnavailable` if none.

    ``RVQ_STUDIO_NO_AUDIO=1`` turns sound off (headless screenshots, scripted runs).
    """
    return open_portaudio_stream("output", samplerate=sample_rate, channels=channels, blocksize=blocksize,
                                 callback=callback)


def open_portaudio_stream(kind: str, device: str | None = None, **options) -> OutputStream:
    """A sounddevice ``kind`` ("output" or "input") stream, float32 at low latency; :class:`AudioUnavailable`
    with the reason in one line when sound is off, PortAudio missing or no such device usable."""
    what = "no sound" if kind == "output" else "no live input"
    if os.environ.get("RVQ_STUDIO_NO_AUDIO"):
        raise AudioUnavailable(f"{what}: turned off by RVQ_STUDIO_NO_AUDIO")
    try:
        import sounddevice
    except OSError as exc:  # the PortAudio shared library is missing
        raise AudioUnavailable(f"{what}: PortAudio is not installed ({exc})") from None
    try:
        channels = f"max_{kind}_channels"
        if device is None and not any(d[channels] > 0 for d in sounddevice.query_devices()):
            raise AudioUnavailable(f"{what}: this machine has no {kind} device")
        sounddevice.query_devices(device, kind=kind)
        stream = sounddevice.OutputStream if kind == "output" else sounddevice.InputStream
        options["callback"] = raised_on_first_block(options["callback"])
        opened = stream(device=device, dtype="float32", latency="low", **options)
        opened.device_clocked = True  # a device calls it: silent while active, it has stalled
        return opened
    except (sounddevice.PortAudioError, ValueError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise AudioUnavailable(f"{what}: no usable {kind} device ({reason})") from None


def raised_on_first_block(callback: Callback) -> Callback:
    """``callback``, raising the priority of the thread that calls it the first time (the device's)."""
    raised = False

    def on_block(data: np.ndarray, frames: int, time_info: object, status: object) -> None:
        nonlocal raised
        if not raised:
            raised = True
            raise_unless_real_time()
        callback(data, frames, time_info, status)

    return on_block


class SilentClockStream:
    """Calls the callback in real time from a thread and drops the audio.

    The clock is shared with :class:`app.live.input_device.SimulatedInputStream`, which
    delivers a file's blocks on it instead (:meth:`_tick`)."""

    latency = 0.0
    device_clocked = False  # it stands in for a lost device: nothing to notice if it is late
    speed = 1.0  # times real time
    thread_name = "silent-audio-clock"
    # A tick late by less than this is made up by the next ticks coming at once, as a sound card's
    # buffer lets its callbacks catch up: the clock keeps real time, and an input and an output on
    # it do not drift apart. Later than that is an overrun, and the clock restarts from now.
    catch_up_seconds = 0.5
    raise_priority = True  # run the clock's thread at real-time priority where permitted (a benchmark's lever)
    priority = "normal priority: not asked for"  # what its thread got

    def __init__(self, sample_rate: int, channels: int, blocksize: int, callback: Callback) -> None:
        self.sample_rate, self.blocksize, self.callback = sample_rate, blocksize, callback
        self._buffer = np.zeros((blocksize, channels), dtype=np.float32)
        self._running = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None:
            return
        self._running.set()
        self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._running.clear()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def close(self) -> None:
        self.stop()

    def _tick(self) -> bool:
        """One block through the callback; False ends the stream."""
        self.callback(self._buffer, self.blocksize, None, None)
        return True

    def _run(self) -> None:
        if self.raise_priority:  # as a sound server raises its devices' threads
            self.priority = raise_current_thread_priority()
        period = self.blocksize / self.sample_rate / self.speed
        due = time.perf_counter()
        while self._running.is_set() and self._tick():
            due += period
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            elif -delay > self.catch_up_seconds:
                due = time.perf_counter()  # an overrun: the clock starts again from now
                if not self.priority.startswith("normal"):  # its callback cannot keep up: never take the core for good
                    self.priority = restore_normal_priority("the clock overran")


class ManualOutputStream:
    """A stream that produces blocks only when :meth:`pull` is called (tests, benchmarks)."""

    latency = 0.0
    device_clocked = False  # it calls back only when pulled
    instances: list["ManualOutputStream"] = []

    def __init__(self, sample_rate: int, channels: int, blocksize: int, callback: Callback) -> None:
        self.sample_rate, self.channels, self.blocksize, self.callback = sample_rate, channels, blocksize, callback
        self.active = False
        self.closed = False
        ManualOutputStream.instances.append(self)

    def start(self) -> None:
        self.active = True

    def stop(self) -> None:
        self.active = False

    def close(self) -> None:
        self.active = False
        self.closed = True

    def pull(self, frames: int | None = None) -> np.ndarray:
        """One block as the device would receive it (zeros while the stream is stopped)."""
        frames = self.blocksize if frames is None else frames
        out = np.zeros((frames, self.channels), dtype=np.float32)
        if self.active:
            self.callback(out, frames, None, None)
        return out
