"""The studio's Live source: the live monitor driven by the studio's model, count n and A/B.

The monitor gets a codec of its own (loaded once per model on a short-lived thread, then
kept): the inference worker's codec carries hooks that abandon that worker's decodes, and
nothing but the worker may run it. Starting pauses the studio's player: one thing is heard.
"""
from __future__ import annotations

import threading
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from app.live.input_device import input_devices
from app.live.monitor import SOURCES, LiveMonitor, LiveStatus
from app.playback.audio_output import StreamFactory
from app.studio.session import StudioSession
from model import load_codec
from model.codec import Codec


class LiveSession(QObject):
    started = Signal()
    failed = Signal(str)  # why the live input could not start, in one line
    deviceStopped = Signal(str)  # a device stopped mid-session: what happened and what goes on, in one line

    def __init__(self, studio: StudioSession, monitor: LiveMonitor | None = None,
                 output_factory: StreamFactory | None = None) -> None:
        """``output_factory``: where the monitor plays (the studio's, a test's); ``monitor`` replaces the whole monitor."""
        super().__init__()
        self.studio = studio
        self.monitor = monitor or LiveMonitor(output_factory=output_factory)
        self._codecs: dict[str, Codec] = {}
        self._starting: threading.Thread | None = None
        studio.selectionChanged.connect(self._follow_selection)

    def devices(self) -> list[str]:
        return input_devices()

    @property
    def running(self) -> bool:
        return self.monitor.running

    def status(self) -> LiveStatus:
        return self.monitor.status()

    def check_devices(self) -> str | None:
        """On the GUI's timer: a device that stopped by itself (see :meth:`LiveMonitor.check_devices`),
        said once through :attr:`deviceStopped` and returned; None otherwise."""
        said = self.monitor.check_devices()
        if said:
            self.deviceStopped.emit(said)
        return said

    def start(self, device: str | None = None) -> None:
        """Start on ``device`` (None: the default input); :attr:`started` or :attr:`failed` follows."""
        if self.studio.model is None:
            self.failed.emit("no live input: no model is loaded yet")
            return
        self.close()
        self.studio.player.pause()
        source = self.studio.model.source
        self._starting = threading.Thread(target=self._start, args=(source, device), name="live-start", daemon=True)
        self._starting.start()

    def _start(self, source: str, device: str | None) -> None:
        try:
            codec = self._codecs.get(source) or load_codec(source)
        except (OSError, ValueError) as exc:
            self.failed.emit(f"no live input: {exc}")
            return
        self._codecs = {source: codec}
        self.monitor.set_source(self._live_source())
        if self.monitor.start(codec, self.studio.n, device):
            self.started.emit()
        else:
            self.failed.emit(self.monitor.unavailable_reason)

    def stop(self) -> None:
        self.close()

    def close(self) -> None:
        """Stop the monitor and its threads (idempotent)."""
        if self._starting is not None:
            self._starting.join()
            self._starting = None
        self.monitor.stop()

    def save(self, wav_path: str | Path) -> tuple[Path, Path]:
        """The recording as ``wav_path`` and its codes beside it as ``.rvq``; returns both paths."""
        wav_path = Path(wav_path)
        rvq_path = wav_path.with_suffix(".rvq")
        self.monitor.save_recording(wav_path, rvq_path)
        return wav_path, rvq_path

    def _live_source(self) -> str:
        return self.studio.source if self.studio.source in SOURCES else "reconstruction"

    def _follow_selection(self) -> None:
        self.monitor.set_n(self.studio.n)
        self.monitor.set_source(self._live_source())
