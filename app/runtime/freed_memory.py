"""Giving memory the studio has freed back to the system.

glibc's malloc keeps freed memory for reuse: in the arena of the thread that freed it, and,
once any large block has been freed, blocks up to 32 MB come from those arenas too (its mmap
threshold rises). The studio's threads free large temporaries all the time -- a spectrogram
block, a measurement's piece, a previous clip's samples -- so its resident size kept what the
work of a clip had needed at its height: over one 30 s stereo clip 1125 MiB settled, 832 MiB
after :func:`return_freed_memory`. A fixed mmap threshold returns large blocks at once instead,
but made every chunk decode slower (the decoder's tensors mapped and faulted in anew each
time: 2-3x at 256 KiB, about 20 % at 4 MiB), so the studio trims at moments of its choosing.

``malloc_trim`` runs in C without the interpreter lock; it takes each arena's lock in turn for
a few milliseconds. Elsewhere than glibc this does nothing.
"""
from __future__ import annotations

import ctypes
import ctypes.util
from functools import cache


@cache
def _malloc_trim():
    """glibc's ``malloc_trim``, or None where the C library has none."""
    name = ctypes.util.find_library("c")
    try:
        return getattr(ctypes.CDLL(name), "malloc_trim") if name else None
    except (OSError, AttributeError):
        return None


def return_freed_memory() -> None:
    """Hand the heap memory freed so far back to the system (``malloc_trim(0)``), where possible."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
