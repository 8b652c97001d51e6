"""Where live audio comes from: a sound card's input, or a file played as if it were one.

Both call ``callback(indata [frames, channels], frames, time_info, status)`` every block from a
thread of their own, as PortAudio does, so the live monitor cannot tell them apart:

* :func:`open_input_stream` -- a PortAudio input stream through sounddevice (or, when
  ``RVQ_STUDIO_SIMULATED_INPUT`` names an audio file, that file: demos and screenshots
  without a microphone);
* :class:`SimulatedInputStream` -- a file fed block by block on a clock, at real-time pace
  (or ``speed`` times it). Tests use it; no real device is opened.

Without PortAudio or an input device :func:`open_input_stream` raises
:class:`~app.playback.audio_output.AudioUnavailable` with the reason, as playback does.
"""
from __future__ import annotations

import os
import threading

import numpy as np

from app.playback.audio_output import AudioUnavailable, Callback, OutputStream, SilentClockStream, open_portaudio_stream

SIMULATED_INPUT_VARIABLE = "RVQ_STUDIO_SIMULATED_INPUT"


def input_devices() -> list[str]:
    """Names of the input devices PortAudio offers (empty without PortAudio)."""
    if os.environ.get(SIMULATED_INPUT_VARIABLE):
        return [f"file: {os.path.basename(os.environ[SIMULATED_INPUT_VARIABLE])}"]
    try:
        import sounddevice
    except OSError:  # no PortAudio
        return []
    try:
        return [d["name"] for d in sounddevice.query_devices() if d["max_input_channels"] > 0]
    except sounddevice.PortAudioError:
        return []


def open_input_stream(sample_rate: int, channels: int, blocksize: int, callback: Callback,
                      device: str | None = None) -> OutputStream:
    """An input stream on ``device`` (the default one if None); :class:`AudioUnavailable` if none."""
    simulated = os.environ.get(SIMULATED_INPUT_VARIABLE)
    if simulated:
        return SimulatedInputStream.from_file(simulated, sample_rate, channels, blocksize, callback, loop=True)
    return open_portaudio_stream("input", device, samplerate=sample_rate, channels=channels, blocksize=blocksize,
                                 callback=callback)


class SimulatedInputStream(SilentClockStream):
    """Feeds ``samples [frames, channels]`` to the callback block by block on the silent stream's clock.

    ``speed`` times real time (1: as a sound card would); late blocks are delivered at once until
    the clock is on time again, as a device's buffered input is (the clock restarts from now only
    after an overrun, :attr:`catch_up_seconds` late). Without ``loop`` the stream ends with the
    file: :attr:`finished` is set after the last block.
    """

    thread_name = "simulated-input"
    device_clocked = True  # it plays an input device: watched as one for a stall

    def __init__(self, samples: np.ndarray, sample_rate: int, blocksize: int, callback: Callback,
                 speed: float = 1.0, loop: bool = False) -> None:
        super().__init__(sample_rate, 0, blocksize, callback)
        self.samples = np.ascontiguousarray(samples, dtype=np.float32)
        self.speed, self.loop = speed, loop
        self.fed = 0  # frames delivered
        self.finished = threading.Event()

    @classmethod
    def from_file(cls, path: str, sample_rate: int, channels: int, blocksize: int, callback: Callback,
                  **options) -> SimulatedInputStream:
        """The file resampled to ``sample_rate`` with ``channels`` channels (its first ones, repeated if fewer)."""
        from model.audio_io import AudioFileError, read_audio, resample
        try:
            audio = read_audio(path)
        except AudioFileError as exc:
            raise AudioUnavailable(f"no live input: {exc}") from None
        samples = audio.samples if audio.sample_rate == sample_rate else \
            resample(audio.samples, audio.sample_rate, sample_rate)
        picked = np.resize(np.arange(samples.shape[0]), channels)
        return cls(samples[picked].T, sample_rate, blocksize, callback, **options)

    @property
    def active(self) -> bool:
        """As a PortAudio stream's: from :meth:`start` until :meth:`stop`, or until the stream ended by
        itself (the file ran out without ``loop``, as an unplugged device's stream ends)."""
        thread = self._thread
        return thread is not None and thread.is_alive()

    def _tick(self) -> bool:
        total = self.samples.shape[0]
        start = self.fed % total if self.loop else self.fed
        block = self.samples[start:start + self.blocksize]
        if block.shape[0] == 0:
            self.finished.set()
            return False
        self.callback(block, block.shape[0], None, None)
        self.fed += block.shape[0]
        return True
