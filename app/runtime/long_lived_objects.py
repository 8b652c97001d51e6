"""Keep full garbage collections of long-lived objects off the studio's threads.

Once a model is loaded the studio holds about 270,000 objects that live as long as it does:
the modules and functions of torch, Qt and pyqtgraph, the model's modules and parameters,
the window's widgets. A clip adds only a few hundred. CPython's full (generation 2)
collection walks every tracked object, so it takes 100-150 ms on a desktop CPU, and whichever
thread triggers it holds the GIL throughout: the GUI thread stalls, and so does the audio
callback's Python code, which can drop out. Most objects are allocated while rendering, so
such a collection comes round every minute or so.

:func:`settle` runs one collection at a moment the user already waits for and nothing is
heard (a clip has just been opened and playback stopped for it: start-up registers it for the
studio's :mod:`~app.runtime.quiet_moments`), then moves the survivors
to the permanent generation with :func:`gc.freeze`, where later collections skip them.
Cycles among frozen objects are only freed by the next :func:`settle`: it unfreezes first,
so a previous model's or clip's cycles go at the next opening. Objects made after the
freeze (the clip's renderings, views and results) are collected as usual.
"""
from __future__ import annotations

import gc


def settle() -> None:
    """Collect all garbage now and exempt the survivors from later full collections."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()
