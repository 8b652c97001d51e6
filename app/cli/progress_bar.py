"""A terminal progress bar on stderr that stays silent when stderr is not a terminal."""
from __future__ import annotations

import sys
import time
from typing import TextIO


class TerminalProgress:
    """Callable ``(done, total)`` drawing ``label [#####.....] 52% 3.1 s``; no output off a tty."""

    def __init__(self, label: str, stream: TextIO | None = None, width: int = 30) -> None:
        self.label, self.width = label, width
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.start = time.monotonic()
        self._drawn = False

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled or total <= 0:
            return
        frac = min(1.0, done / total)
        filled = int(frac * self.width)
        bar = "#" * filled + "." * (self.width - filled)
        elapsed = time.monotonic() - self.start
        self.stream.write(f"\r{self.label} [{bar}] {frac:4.0%} {elapsed:5.1f} s")
        self._drawn = True
        if done >= total:
            self.close()
        self.stream.flush()

    def close(self) -> None:
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False
