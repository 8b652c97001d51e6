"""A device's output stream that calls back by itself until it stalls: then it stops calling
while still claiming to be active, as some host APIs leave a dead device's stream."""
from __future__ import annotations

import threading

from app.playback.audio_output import SilentClockStream


class StallingDeviceStream(SilentClockStream):
    """Plays on a silent clock at real-time pace, as a device would, until :meth:`stall`."""

    device_clocked = True
    active = True  # whatever happens: what a stalled host API says

    def __init__(self, *args) -> None:
        super().__init__(*args)
        self._stalled = threading.Event()
        self.aborted = self.closed = False

    def stall(self) -> None:
        """No callback from now on; returns once the last one is over."""
        self._stalled.set()
        if self._thread is not None:
            self._thread.join()

    def _tick(self) -> bool:
        return not self._stalled.is_set() and super()._tick()

    def abort(self) -> None:
        self.aborted = True
        self.stop()

    def close(self) -> None:
        super().close()
        self.closed = True
