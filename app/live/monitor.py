"""The live monitor: input device -> codec thread -> output device, with A/B and a recording.

Three threads meet here through bounded rings (:mod:`app.live.ring`), none waiting on another:

* the input callback copies each block into the *input ring* (for the codec) and the
  *pass-through ring* (for the output, should the codec fall behind), and measures its level;
* the codec thread (owned here, stopped and joined by :meth:`LiveMonitor.stop`) takes what the
  input ring holds, runs :class:`~app.live.live_coder.LiveCoder` on it and writes the input
  and its reconstruction, sample-aligned, into the *output ring*; it also records the input
  and the codes, and feeds the rolling spectrograms;
* the output callback plays the input, the reconstruction or the residual from the output ring.
  It never runs the codec. When the ring runs dry (the codec cannot keep up), that is a
  counted dropout: the callback fades to the pass-through input and stays there until the
  codec is a prebuffer ahead again, and :meth:`status` says so.

Switching what is heard (or to and from pass-through) is an equal-power crossfade in the
callback, as in the player; changing n is crossfaded in the codec thread.

Why the output does not run dry (``benchmarks/bench_live_monitor.py`` measures each part):

* The codec thread's deadline is the *jitter buffer*: the output starts once the codec is
  :data:`JITTER_SECONDS` ahead of it, so a block may take that long, less the block itself,
  before it is late. It absorbs the thread's stalls -- another process on its core, the GIL,
  a page fault -- which reach 100-300 ms several times a minute on a shared two-core machine,
  where the codec's typical block takes 10-20 ms. It is the largest part of the latency the status shows.
* A dropout is followed by a longer wait: the output comes back to the codec once it is
  :data:`JITTER_GROWTH` times the jitter buffer ahead (at most :data:`MAX_JITTER_SECONDS`),
  and stays that far behind. A machine that stalled the codec thread once tends to do it
  again, and the new latency is shown; without it the dropouts came in bursts of up to twenty,
  each after a short return to the codec.
* The codec takes at least :data:`CODEC_SECONDS` of input at a time (more when it is
  behind): each push of the default model costs about 8 ms however short the block, so 20 ms
  pushes kept a core 55 % busy, 40 ms ones 35 %, leaving time to catch up after a stall.
* Full garbage collections walked every object of torch and the model, 100-200 ms holding the
  GIL; :meth:`LiveMonitor.start` collects once and freezes the survivors
  (:mod:`app.runtime.long_lived_objects`), so those that come later are short.
* The codec thread runs at a low real-time priority (``SCHED_RR``) where the system permits,
  else at a raised nice value (:mod:`app.runtime.thread_priority`), as audio servers run
  theirs: another busy process no longer takes its core for whole time slices. It sleeps
  between pushes; should it fall :data:`BEHIND_SECONDS` behind, it gives the priority back
  rather than hold a core for good. The status says which priority it has. Where both are
  refused, the jitter buffer starts :data:`JITTER_GROWTH` times longer, where a first dropout
  would take it: at normal priority with the other core busy, stalls of 200-250 ms were
  measured, just over the 200 ms buffer (one dropout in ten minutes).
* Before the devices start, the codec thread itself pushes silence through a throwaway stream,
  past the codec's latency so that its decoder decodes too: a process's first push of the
  default model took 85 ms, and its first pushes that decode took about 100 ms each for half a
  second with a busy core (30 ms afterwards). A shorter warm-up had warmed the encoder only, so
  those slow pushes came just as the output started: the dropouts of the first seconds.
* The codec runs torch on one thread: on blocks this small a second one costs more in
  handing work over than it computes, and it would take the core the callbacks need.

A device can stop by itself mid-session (a USB interface unplugged, the device taken by
another program, a callback that failed): PortAudio then just stops calling, and the monitor
would sit waiting for input, or the output freeze. :meth:`LiveMonitor.check_devices`, on the
GUI's timer, notices the stream went inactive -- or stayed silent
:data:`~app.playback.stream_watch.STALL_SECONDS` while claiming to be active, as some host APIs
leave a dead device's stream (:mod:`app.playback.stream_watch`, shared with the player) -- and
says so once:

* the *input* stopped: the session stops as Stop stops it -- the codec thread codes what the
  input gave up to that moment and ends the recording with the last codes, so it can be saved
  whole, and no thread is left. Going on would record silence the user never played, and
  there is nothing to monitor without an input; Start tries the device again.
* the *output* stopped: the input is still coded and recorded, the output callback carried on
  by a silent clock (as the player does). What the user is making is the recording, and a
  pulled headphone lead should not end a take; the status line says nothing is heard, and
  Stop then Start tries the device again (PortAudio cannot hand an open session a new device).
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from app.live.input_device import open_input_stream
from app.live.live_coder import LiveCoder
from app.live.recording import LiveRecording
from app.live.ring import FrameRing
from app.live.rolling_spectrogram import RollingSpectrogram
from app.playback import audio_output
from app.playback.audio_output import DEVICE_STOPPED, AudioUnavailable, SilentClockStream, StreamFactory
from app.playback.crossfade import FadeRamps, mix_crossfade
from app.playback.output_levels import OutputLevels
from app.playback.stream_watch import StreamWatch, release
from app.runtime.long_lived_objects import settle
from app.runtime.thread_priority import raise_current_thread_priority, restore_normal_priority
from model.codec import Codec
from model.rvq_format import RvqMetadata

SOURCES = ("original", "reconstruction", "residual")  # the studio's names for input / codec / residual
BLOCK_SECONDS = 0.020  # the sound cards' period, and the benchmarks' default block
CODEC_SECONDS = 0.040  # the least input the codec thread takes at once (see the module's docstring)
JITTER_SECONDS = 0.200  # codec output held ahead of the output callback (see the module's docstring)
JITTER_GROWTH = 1.5  # the jitter buffer after a dropout, times the one before ...
MAX_JITTER_SECONDS = 1.0  # ... up to this
LIVE_TORCH_THREADS = 1  # small blocks: a second thread costs more in handing over than it computes
WARM_UP_SECONDS = 0.25  # of silence through a throwaway stream at start, beyond the codec's latency (see _warm_up)
RING_SECONDS = 4.0
BEHIND_SECONDS = 2.0  # of input waiting for the codec thread: it gives its raised priority back
OUTPUT_CHANNELS = 2
MAX_CALLBACK_FRAMES = 8192


@dataclass(frozen=True)
class LiveStatus:
    """What the live panel shows."""

    state: str  # "stopped", "starting", "codec", "pass-through"
    reason: str  # why not live (a failed start, a device that stopped), or why pass-through ("" when all is well)
    algorithmic_latency: float  # seconds, the codec's own
    buffer_latency: float  # seconds, blocks and the prebuffer (and the devices' own)
    load: float  # share of real time the codec thread is busy (1: just keeping up)
    dropouts: int  # times the output found no codec audio while live
    lost_input: int  # input frames dropped because the codec was a whole ring behind (missing from the recording)
    seconds: float  # of input recorded
    n: int
    recording_error: str = ""  # why the recording stopped early, if it did
    priority: str = ""  # the codec thread's scheduling: "real-time priority", "normal priority: <why>", ...


class LiveMonitor:
    """Monitors an input through a codec; :meth:`start` / :meth:`stop`, the GUI polls :meth:`status`."""

    def __init__(self, input_factory=open_input_stream, output_factory: StreamFactory | None = None,
                 block_seconds: float = BLOCK_SECONDS, codec_seconds: float = CODEC_SECONDS,
                 jitter_seconds: float = JITTER_SECONDS, raise_priority: bool = True) -> None:
        """``raise_priority``: run the codec thread at real-time (else raised) priority where permitted."""
        self._input_factory, self._output_factory = input_factory, output_factory
        self.raise_priority = raise_priority
        self.priority = ""  # what the codec thread got (see :class:`LiveStatus`)
        self.block_seconds, self.codec_seconds, self.jitter_seconds = block_seconds, codec_seconds, jitter_seconds
        self.source = "reconstruction"
        self.unavailable_reason = ""  # why the last start failed
        self.stopped_reason = ""  # why the session stopped by itself, if it did (see check_devices)
        self.output_reason = ""  # why the output is silent (played on a clock), if it is
        self._running = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._input = self._output = None
        self._coder: LiveCoder | None = None
        self._codec: Codec | None = None
        self.dropouts = self.lost_input = 0
        self.spectrograms: dict[str, RollingSpectrogram] = {}
        self._recording: LiveRecording | None = None

    # -- lifetime ----------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._running

    def start(self, codec: Codec, n: int, device: str | None = None) -> bool:
        """Open the input and output and start the codec thread; False (and :attr:`unavailable_reason`)
        without an input."""
        self.stop()
        rate = codec.sample_rate
        self._codec, self._coder = codec, LiveCoder(codec, n)
        self._algorithmic_latency = codec.stream_latency  # computed from the layers: once, not per status
        self.block = max(1, round(self.block_seconds * rate))
        self.codec_frames = max(1, round(self.codec_seconds * rate))
        self.prebuffer = max(self.codec_frames, round(self.jitter_seconds * rate))
        self._max_prebuffer = max(self.prebuffer, round(MAX_JITTER_SECONDS * rate))
        frames = round(RING_SECONDS * rate)
        self._in_ring, self._pass_ring = FrameRing(frames, 1), FrameRing(frames, 1)
        self._out_ring = FrameRing(frames, 2)
        self.input_levels = OutputLevels(1, MAX_CALLBACK_FRAMES)
        self.output_levels = OutputLevels(OUTPUT_CHANNELS, MAX_CALLBACK_FRAMES)
        self.spectrograms = {"input": RollingSpectrogram(rate), "reconstruction": RollingSpectrogram(rate)}
        self._prepare_callback_buffers()
        self.dropouts = self.lost_input = 0
        self.priority = ""
        if self._recording is not None:
            self._recording.close()
        self._recording = LiveRecording(rate, codec.n_codebooks, codec.codebook_size)
        self._busy = self._load = 0.0
        self._working: tuple[float, int] | None = None  # (start, frames) of the block the codec thread is on
        self._mode, self._heard, self._progress = "starting", ("starting", self.source), self._ramps.length
        self._fading_from = self._heard
        self.lost_output = self._output_blocks = 0
        self.stopped_reason = ""
        try:
            self._input = self._input_factory(rate, 1, self.block, self._input_callback, device=device)
        except AudioUnavailable as exc:
            self.unavailable_reason = str(exc)
            return False
        self.unavailable_reason = ""
        self._output = self._open_output(rate)
        self._watches = {"input": StreamWatch(self._input), "output": StreamWatch(self._output)}
        settle()  # the full collections to come skip what lives as long as the session (see the module's docstring)
        self._stop.clear()
        warm = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(warm,), name="live-codec", daemon=True)
        self._thread.start()
        warm.wait()  # the devices start once the codec thread has paid its first pushes
        self._running = True
        self._output.start()
        self._input.start()
        return True

    def _warm_up(self) -> None:
        """Run a throwaway stream on the codec thread before the live one, past the codec's latency
        so that its decoder decodes too: a process's first pushes, and its first pushes that
        decode, take several times an ordinary one (torch sets up its kernels and memory), which
        the output would hear."""
        codec = self._codec
        silence = np.zeros(self.codec_frames, dtype=np.float32)
        warming = LiveCoder(codec, codec.n_codebooks)
        for _ in range(max(1, round((self._algorithmic_latency + WARM_UP_SECONDS) / self.codec_seconds))):
            warming.push(silence)

    def _open_output(self, rate: int):
        factory = self._output_factory or audio_output.open_device_stream  # looked up late: tests replace it
        try:
            stream = factory(rate, OUTPUT_CHANNELS, self.block, self._output_callback)
            self.output_reason = ""
        except AudioUnavailable as exc:
            self.output_reason = str(exc)
            stream = SilentClockStream(rate, OUTPUT_CHANNELS, self.block, self._output_callback)
        return stream

    def stop(self) -> None:
        """Stop the input and the output, then let the codec thread finish what it was given (the
        recording ends with the last codes) (idempotent)."""
        if not self._running:
            return
        self._input.stop()
        self._input.close()
        self._output.stop()  # before the codec output runs dry: the end of the input is no dropout
        self._output.close()
        self._stop.set()
        self._thread.join()
        self._thread = None
        self._running = False

    close = stop

    def check_devices(self) -> str | None:
        """On the thread that starts and stops the monitor (the GUI's timer): if the input or the
        output stream stopped by itself, act as the module's docstring says and return why, once;
        None otherwise."""
        if not self._running:
            return None
        output_lost = self._watches["output"].stopped(self._output_blocks)
        if self._watches["input"].stopped(self._in_ring.written + self.lost_input):
            self.stop()  # the codec thread codes what came, then the recording ends with the last codes
            which = "the input and output devices" if output_lost else "the input device"
            self.stopped_reason = (f"{which} stopped {DEVICE_STOPPED}: the live input ended, the "
                                   f"{self.recorded_seconds():.1f} s recorded are kept; Start tries it again")
            return self.stopped_reason
        if not output_lost:
            return None
        release(self._output)
        self._output = SilentClockStream(self.sample_rate, OUTPUT_CHANNELS, self.block, self._output_callback)
        self._watches["output"] = StreamWatch(self._output)
        self._output.start()
        self.output_reason = (f"the output device stopped {DEVICE_STOPPED}: the input is still coded and recorded, "
                              "unheard; Stop, then Start, tries it again")
        return self.output_reason

    def set_n(self, n: int) -> None:
        if self._coder is not None:
            self._coder.set_n(min(max(1, n), self._codec.n_codebooks))

    def set_source(self, source: str) -> None:
        if source not in SOURCES:
            raise ValueError(f"unknown live source {source!r} (expected one of {', '.join(SOURCES)})")
        self.source = source

    # -- what the GUI reads ------------------------------------------------------------------
    def status(self) -> LiveStatus:
        codec = self._codec
        if codec is None or not self._running:
            return LiveStatus("stopped", self.unavailable_reason or self.stopped_reason, 0.0, 0.0, 0.0, self.dropouts,
                              self.lost_input, self.recorded_seconds(), 0 if self._coder is None else self._coder.n,
                              self._recording_error(), self.priority)
        rate = codec.sample_rate
        buffers = (2 * self.block + self.prebuffer) / rate + self._input.latency + self._output.latency
        load = self._current_load()
        behind = self._mode == "pass-through" or (self._mode == "starting" and load > 1.0)
        state = "pass-through" if behind else self._mode
        reason = f"the codec cannot keep up (load {load:.0%}): passing the input through" if behind else ""
        return LiveStatus(state, reason, self._algorithmic_latency, buffers, load, self.dropouts,
                          self.lost_input, self.recorded_seconds(), self._coder.n, self._recording_error(),
                          self.priority)

    def _recording_error(self) -> str:
        return "" if self._recording is None else self._recording.error

    def _current_load(self) -> float:
        """The averaged load, or more while the block in work has already taken longer than that."""
        working = self._working
        if working is None:
            return self._load
        began, frames = working
        return max(self._load, (time.perf_counter() - began) * self._codec.sample_rate / frames)

    @property
    def sample_rate(self) -> int:
        return 0 if self._codec is None else self._codec.sample_rate

    def recorded_seconds(self) -> float:
        return 0.0 if self._recording is None else self._recording.seconds

    def save_recording(self, wav_path: str | Path, rvq_path: str | Path) -> None:
        """The input as WAV (float, as received) and its codes at all N as ``.rvq`` (atomic writes);
        after :meth:`stop`, which completes the last codes. ValueError when there is nothing to save."""
        if self._running:
            raise RuntimeError("stop the live input before saving its recording")
        codec, recording = self._codec, self._recording
        if codec is None or recording is None:
            raise ValueError("nothing was recorded")
        meta = RvqMetadata(codec_name=codec.name, codec_id=codec.digest(), sample_rate=codec.sample_rate,
                           original_sample_rate=codec.sample_rate, length=recording.frames,
                           hop_length=codec.hop_length, codebook_size=codec.codebook_size,
                           codebook_strides=tuple(codec.codebook_strides))
        recording.save(wav_path, rvq_path, meta)

    # -- the codec thread --------------------------------------------------------------------
    def _run(self, warm: threading.Event) -> None:
        rate = self._codec.sample_rate
        torch.set_num_threads(LIVE_TORCH_THREADS)
        self.priority = raise_current_thread_priority() if self.raise_priority else "normal priority: not asked for"
        raised = not self.priority.startswith("normal")
        if self.raise_priority and not raised:  # refused: start where the first dropout would take it
            self.prebuffer = min(self._max_prebuffer, round(self.prebuffer * JITTER_GROWTH))
        try:
            self._warm_up()
        finally:
            warm.set()  # start() waits for it
        chunk = np.zeros((self._in_ring.capacity, 1), dtype=np.float32)
        while True:
            stopping = self._stop.is_set()  # read before the ring: what the input gave until now is processed
            if raised and self._in_ring.available() > BEHIND_SECONDS * rate:  # it would take its core for good
                self.priority = restore_normal_priority(f"the codec fell {BEHIND_SECONDS:g} s behind")
                raised = False
            k = self._in_ring.read_into(chunk) if stopping or self._in_ring.available() >= self.codec_frames else 0
            if k:
                began = time.perf_counter()
                self._working = (began, k)
                self._process(chunk[:k, 0].copy())
                self._working = None
                busy = time.perf_counter() - began
                # averaged over about the last 0.5 s of audio or of work, whichever is longer
                self._load += (busy * rate / k - self._load) * min(1.0, max(k / rate, busy) / 0.5)
            elif stopping:
                break
            else:
                time.sleep(self.block / rate / 4)
        self._recording.add(np.zeros(0, dtype=np.float32), self._coder.finish())

    def _process(self, mono: np.ndarray) -> None:
        codes, held, decoded = self._coder.push(mono)
        self._recording.add(mono, codes)
        if decoded.shape[0]:
            taken = self._out_ring.write(np.stack([held, decoded], axis=1))
            self.lost_output += decoded.shape[0] - taken  # output slower than input: the devices' clocks differ
            self.spectrograms["input"].push(held)
            self.spectrograms["reconstruction"].push(decoded)

    # -- the audio callbacks (no allocation, no lock, no Qt) ---------------------------------
    def _prepare_callback_buffers(self) -> None:
        self._in_mono = np.zeros((MAX_CALLBACK_FRAMES, 1), dtype=np.float32)
        self._pair = np.zeros((MAX_CALLBACK_FRAMES, 2), dtype=np.float32)
        self._passed = np.zeros((MAX_CALLBACK_FRAMES, 1), dtype=np.float32)
        self._voice_now = np.zeros((MAX_CALLBACK_FRAMES, 1), dtype=np.float32)
        self._voice_before = np.zeros((MAX_CALLBACK_FRAMES, 1), dtype=np.float32)
        self._ramps = FadeRamps.for_rate(self._codec.sample_rate)

    def _input_callback(self, indata: np.ndarray, frames: int, time_info, status) -> None:
        for start in range(0, frames, MAX_CALLBACK_FRAMES):
            piece = indata[start:start + MAX_CALLBACK_FRAMES]
            mono = self._in_mono[: piece.shape[0]]
            np.mean(piece, axis=1, keepdims=True, out=mono)
            self.lost_input += piece.shape[0] - self._in_ring.write(mono)
            self._pass_ring.write(mono)
            self.input_levels.begin()
            self.input_levels.add(mono)
            self.input_levels.publish()

    def _output_callback(self, outdata: np.ndarray, frames: int, time_info, status) -> None:
        self._output_blocks += 1  # a sign of life for check_devices
        self.output_levels.begin()
        for start in range(0, frames, MAX_CALLBACK_FRAMES):
            out = outdata[start:start + MAX_CALLBACK_FRAMES]
            self._play(out, out.shape[0])
            self.output_levels.add(out)
        self.output_levels.publish()

    def _play(self, out: np.ndarray, frames: int) -> None:
        passed = self._passed[:frames]
        self._pass_ring.skip(max(0, self._pass_ring.available() - frames - self.block))  # stay current
        passed[self._pass_ring.read_into(passed):] = 0.0
        pair = self._pair[:frames]
        ready = self._out_ring.available()
        if self._mode != "codec" and ready >= frames + self.prebuffer:
            self._out_ring.skip(ready - frames - self.prebuffer)  # no more delay than the prebuffer
            self._mode = "codec"
        got = self._out_ring.read_into(pair) if self._mode == "codec" else 0
        pair[got:] = 0.0
        if self._mode == "codec" and got < frames:
            self.dropouts += 1
            self.prebuffer = min(self._max_prebuffer, round(self.prebuffer * JITTER_GROWTH))
            self._mode = "pass-through"
        heard = (self._mode, self.source)
        now = self._voice_now[:frames]
        self._voice(heard, pair, passed, now)
        if heard != self._heard:
            self._fading_from, self._heard, self._progress = self._heard, heard, 0
        if self._progress < self._ramps.length:
            before = self._voice_before[:frames]
            self._voice(self._fading_from, pair, passed, before)
            self._progress = mix_crossfade(before, now, self._ramps, self._progress)
        out[:] = now

    @staticmethod
    def _voice(heard: tuple[str, str], pair: np.ndarray, passed: np.ndarray, out: np.ndarray) -> None:
        mode, source = heard
        if mode != "codec":
            out[:] = passed
        elif source == "original":
            out[:] = pair[:, :1]
        elif source == "reconstruction":
            out[:] = pair[:, 1:]
        else:
            np.subtract(pair[:, :1], pair[:, 1:], out=out)
