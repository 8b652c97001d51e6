"""Whether a device's stream stopped by itself, for the player and the live monitor alike.

A device that goes away mid-stream (a USB interface unplugged, the device taken by another
program, a callback that failed) does not raise anywhere: PortAudio just stops calling. Most
host APIs then mark the stream inactive; some leave a dead device's stream active, only no
longer called. So a stream has stopped if it is inactive, or if the count of its callbacks has
not moved for :data:`STALL_SECONDS` of checks.

The count is compared between two checks, on the checking thread's own clock: a GUI thread
that was itself busy for longer than that finds the count moved at its next check (the device
went on calling meanwhile) and takes nothing for a stall.

Only a stream that calls back by itself on a device's clock can stall: one whose
``device_clocked`` is true -- the PortAudio streams
:func:`~app.playback.audio_output.open_portaudio_stream` opens, and a file played as an input
device. A hand-driven stream calls only when pulled, and a silent clock is what stands in for a
lost device: neither is taken as stalled however long it is quiet.
"""
from __future__ import annotations

import time

STALL_SECONDS = 2.0  # a device stream that has not called for this long has stopped, whatever it claims


class StreamWatch:
    """Watches one stream: :meth:`stopped` on each check, with the count of its callbacks so far."""

    def __init__(self, stream: object) -> None:
        self.stream = stream
        self._seen: int | None = None  # the count at the check where it last moved
        self._since = 0.0  # when that was

    def stopped(self, count: int) -> bool:
        """Whether the stream went inactive, or (calling back by itself) made no callback for
        :data:`STALL_SECONDS` of checks."""
        if not getattr(self.stream, "active", True):
            return True
        if not getattr(self.stream, "device_clocked", False):
            return False
        now = time.monotonic()
        if count != self._seen:
            self._seen, self._since = count, now
            return False
        return now - self._since > STALL_SECONDS


def release(stream) -> None:
    """Close a stream that stopped by itself, aborted where it can be: a stop lets the device
    play out its buffers first, which a stalled device never does."""
    getattr(stream, "abort", stream.stop)()
    stream.close()
