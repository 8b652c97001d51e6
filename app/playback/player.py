"""The audio player: switch what is heard at the same sample index, without a click or a gap.

Design (after Friture and the usual pro-audio rule "never block the audio thread"):

* The output stream calls :meth:`AudioPlayer._callback` for every block. The callback reads
  immutable numpy arrays through :mod:`app.playback.sources`, writes into buffers allocated
  beforehand (a block longer than them is played in pieces), records switches and the
  output's levels in fixed-size rings (:mod:`app.playback.switch_log`, :mod:`app.playback.output_levels`),
  takes no lock and makes no Qt call: allocating can take the allocator's lock or wake the
  garbage collector mid-block.
* The GUI never pushes audio. It changes *requests* -- the wanted source, a seek, play or
  pause -- by assigning a single attribute (atomic under the GIL); the callback picks them
  up at its next block. The GUI pulls :attr:`position` and :meth:`take_levels` on its timer.
* Every switch (source, codebook count, seek) is an equal-power crossfade of about 10 ms
  (:mod:`app.playback.crossfade`) between the old and the new voice, both read at the sample index
  where the switch happens (a seek fades from the old position to the new one).
* Keep playing until ready: a requested source whose samples are not rendered yet at the
  playhead is not switched to; the player keeps playing what it was playing and switches
  in the first block where the new one is available. If what was playing itself becomes
  unavailable (a seek into a region not rendered yet), the original -- always available --
  fills in until the reconstruction arrives. :attr:`audible` tells the GUI which it is.
* Without PortAudio or an output device, a silent clock drives the same callback, so the
  studio works the same, only mute; :attr:`unavailable_reason` says why, once.
* A device that stops by itself (unplugged, or taken by another program) would freeze the
  playhead: PortAudio just stops calling. :meth:`check_output`, on the GUI's timer, notices the
  stream went inactive -- or made no callback for :data:`~app.playback.stream_watch.STALL_SECONDS`
  while claiming to be active, as some host APIs leave a dead device's stream
  (:mod:`app.playback.stream_watch`) -- carries on with the silent clock from the same sample and
  says so once; the next :meth:`play` tries the device again (and the next check says so if it is
  still gone).
"""
from __future__ import annotations

import numpy as np

from app.playback import audio_output
from app.playback.audio_output import DEVICE_STOPPED, AudioUnavailable, SilentClockStream, StreamFactory
from app.playback.sources import MAX_READ_FRAMES, AudioSource
from app.playback.stream_watch import StreamWatch, release
from app.playback.crossfade import FadeRamps, mix_crossfade
from app.playback.output_levels import OutputLevels
from app.playback.switch_log import SwitchLog

DEFAULT_BLOCKSIZE = 512
DEVICE_CHANNELS = 2


class AudioPlayer:
    """Plays one of several :class:`AudioSource` s on a shared sample clock."""

    def __init__(self, stream_factory: StreamFactory | None = None, blocksize: int = DEFAULT_BLOCKSIZE,
                 max_block: int = MAX_READ_FRAMES) -> None:
        self._factory = stream_factory
        self.blocksize = blocksize
        self.max_block = max_block
        self.unavailable_reason: str | None = None
        self._device_lost = False  # the device stopped by itself; the silent clock stands in
        self._untold: str | None = None  # a retry of the lost device that failed, for check_output to say
        self.sample_rate = 0
        self.channels = 0
        self._stream = None
        self._watch: StreamWatch | None = None  # whether the stream stopped by itself
        self._ramps: FadeRamps | None = None
        # requests from the GUI (single-attribute writes)
        self._requested: AudioSource | None = None
        self._fallback: AudioSource | None = None
        self._seek_request: int | None = None
        self._loop: tuple[int, int] | None = None
        self._playing = False
        # callback-owned state
        self._current: AudioSource | None = None
        self._fading: AudioSource | None = None
        self._fade_at = 0
        self._fade_progress = 0
        self._pos = 0
        self.switch_log = SwitchLog()  # (sample, from key, to key) of the latest switches
        self._levels = OutputLevels(DEVICE_CHANNELS, max_block)  # for the level meters
        self._mix = np.zeros((0, 0), dtype=np.float32)
        self._fade = np.zeros((0, 0), dtype=np.float32)

    # -- setup ------------------------------------------------------------------------------
    def configure(self, sample_rate: int, channels: int, original: AudioSource) -> None:
        """Prepare for a clip: its rate, channel count and the always-available original."""
        self._playing = False
        if (sample_rate, channels) != (self.sample_rate, self.channels) or self._stream is None:
            self._close_stream()
            self.sample_rate, self.channels = sample_rate, channels
            self._ramps = FadeRamps.for_rate(sample_rate)
            self._mix = np.zeros((self.max_block, channels), dtype=np.float32)
            self._fade = np.zeros((self.max_block, channels), dtype=np.float32)
            self._open_stream()
        self._fallback = original
        self._requested = original
        self._current = original
        self._fading = None
        self._pos = 0
        self._seek_request = None
        self._loop = None
        self._levels.skip()
        self.switch_log.clear()

    def _open_stream(self) -> None:
        factory = self._factory or audio_output.open_device_stream  # looked up late: tests replace it
        try:
            self._start(factory(self.sample_rate, DEVICE_CHANNELS, self.blocksize, self._callback))
            self._device_lost = False
            self.unavailable_reason = None  # a device plays (again)
        except AudioUnavailable as exc:
            self.unavailable_reason = str(exc)
            self._start_silent_clock()

    def _start(self, stream) -> None:
        self._stream, self._watch = stream, StreamWatch(stream)
        stream.start()

    def _start_silent_clock(self) -> None:
        self._start(SilentClockStream(self.sample_rate, DEVICE_CHANNELS, self.blocksize, self._callback))

    def check_output(self) -> str | None:
        """On the GUI's timer: if the device stream stopped by itself (inactive, or stalled), go on
        with the silent clock from the same sample (the playhead keeps moving) and return why, once;
        likewise why Play could not open it again; None otherwise."""
        untold, self._untold = self._untold, None
        if untold or self._stream is None or not self._watch.stopped(self._levels.done):  # done: blocks called
            return untold
        release(self._stream)
        self._start_silent_clock()
        self._device_lost = True
        self.unavailable_reason = f"no sound: the output device stopped {DEVICE_STOPPED}; Play tries it again"
        return self.unavailable_reason

    @property
    def device_lost(self) -> bool:
        """The device stopped by itself and has not been opened again since (:meth:`play` tries)."""
        return self._device_lost

    def _close_stream(self) -> None:
        if self._stream is not None:
            self._stream.stop()
            self._stream.close()
            self._stream = None

    def close(self) -> None:
        self._playing = False
        self._close_stream()

    # -- requests (GUI thread) --------------------------------------------------------------
    @property
    def length(self) -> int:
        return self._fallback.length if self._fallback is not None else 0

    def set_source(self, source: AudioSource) -> None:
        self._requested = source

    def play(self) -> None:
        if self._fallback is None:
            return
        if self._device_lost:  # the device may be back
            self._close_stream()
            self._open_stream()
            if self._device_lost:  # not yet
                self._untold = f"{self.unavailable_reason}; Play tries it again"
        if self._pos >= self.length:
            self.seek(self._loop[0] if self._loop else 0)
        self._playing = True

    def pause(self) -> None:
        self._playing = False

    def stop(self) -> None:
        self._playing = False
        self.seek(self._loop[0] if self._loop else 0)

    def seek(self, sample: int) -> None:
        sample = int(min(max(0, sample), max(0, self.length - 1)))
        if self._playing:
            self._seek_request = sample
        else:
            self._pos = sample

    def set_loop(self, start: int | None, end: int | None = None) -> None:
        """Loop ``[start, end)`` while playing; ``None`` to play through."""
        if start is None or end is None or end - start < self.blocksize:
            self._loop = None
        else:
            self._loop = (max(0, int(start)), min(self.length, int(end)))

    @property
    def loop(self) -> tuple[int, int] | None:
        return self._loop

    @property
    def output_stream(self):
        """The stream the callback runs on (a device's, or the silent clock's); None while closed."""
        return self._stream

    @property
    def playing(self) -> bool:
        return self._playing

    @property
    def position(self) -> int:
        """The sample being heard now (the stream's output latency accounted for)."""
        latency = getattr(self._stream, "latency", 0.0) or 0.0
        if isinstance(latency, tuple):
            latency = latency[-1]
        behind = int(latency * self.sample_rate) if self._playing else 0
        return max(0, self._pos - behind)

    @property
    def audible(self) -> tuple | None:
        """Key of the source heard now (may lag the requested one until it is rendered)."""
        return self._current.key if self._current is not None else None

    @property
    def requested(self) -> tuple | None:
        return self._requested.key if self._requested is not None else None

    def take_levels(self) -> tuple[np.ndarray, np.ndarray]:
        """``(peak, rms)`` per device channel, linear, of all that was played since the previous call.

        For the GUI's meters, and for one reader only: each call hands over the blocks played
        since the last one (see :mod:`app.playback.output_levels`), so none is missed between two frames."""
        return self._levels.take()

    # -- the audio callback -----------------------------------------------------------------
    def _callback(self, outdata: np.ndarray, frames: int, time_info, status) -> None:
        levels = self._levels
        levels.begin()
        if not self._playing or self._current is None:
            outdata.fill(0.0)
            levels.add_silence(frames)
        else:
            for start in range(0, frames, self.max_block):
                piece = outdata[start : start + self.max_block]
                self._play(piece)
                levels.add(piece)
            if self._pos >= self.length and self._loop is None:
                self._playing = False
        levels.publish()

    def _play(self, outdata: np.ndarray) -> None:
        """Fill ``outdata`` (at most ``max_block`` frames): switch if asked, crossfade, advance."""
        frames = outdata.shape[0]
        mix, fade = self._mix[:frames], self._fade[:frames]
        self._apply_requests(frames)
        self._pos = self._read(self._current, self._pos, mix)
        if self._fading is not None:
            self._fade_at = self._read(self._fading, self._fade_at, fade)
            self._fade_progress = mix_crossfade(fade, mix, self._ramps, self._fade_progress)
            if self._fade_progress >= self._ramps.length:
                self._fading = None
        outdata[:] = mix  # broadcasts a mono clip to both device channels

    def _apply_requests(self, frames: int) -> None:
        seek = self._seek_request
        if seek is not None:
            self._seek_request = None
            self._start_fade(self._current, self._pos)
            self._pos = seek
        requested = self._requested
        if requested is not self._current and requested is not None and requested.ready(self._pos, frames):
            self._switch_to(requested)
        elif not self._current.ready(self._pos, frames) and self._current is not self._fallback:
            self._switch_to(self._fallback)

    def _switch_to(self, source: AudioSource) -> None:
        self.switch_log.record(self._pos, self._current.key, source.key)
        self._start_fade(self._current, self._pos)
        self._current = source

    def _start_fade(self, source: AudioSource, at: int) -> None:
        self._fading, self._fade_at, self._fade_progress = source, at, 0

    def _read(self, source: AudioSource, pos: int, out: np.ndarray) -> int:
        """Fill ``out`` from ``pos`` (wrapping at the loop end); the position after it."""
        loop = self._loop
        if loop is None or not loop[0] <= pos < loop[1]:
            source.read(pos, out)
            return pos + out.shape[0]
        done = 0
        while done < out.shape[0]:
            k = min(out.shape[0] - done, loop[1] - pos)
            source.read(pos, out[done : done + k])
            done += k
            pos += k
            if pos >= loop[1]:
                pos = loop[0]
        return pos
