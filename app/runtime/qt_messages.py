"""Qt's own messages, less the one that says nothing to a person running the studio.

Qt's platform plugins that have no window manager behind them (``offscreen``, which the
screenshot command and CI use) print "This plugin does not support propagateSizeHints()"
whenever a window's size constraints change: a note for plugin authors, harmless, and on
stderr where a script reads the studio's errors. :func:`drop_harmless_qt_warnings` drops
exactly that message; every other one goes on where Qt would have sent it.
"""
from __future__ import annotations

import sys

from PySide6.QtCore import QMessageLogContext, QtMsgType, qFormatLogMessage, qInstallMessageHandler

HARMLESS = frozenset({"This plugin does not support propagateSizeHints()"})

_installed = False


def drop_harmless_qt_warnings() -> None:
    """Install the filter in front of Qt's message handler (once per process)."""
    global _installed
    if _installed:
        return
    _installed = True
    previous = None

    def handler(mode: QtMsgType, context: QMessageLogContext, message: str) -> None:
        if message in HARMLESS:
            return
        if previous is not None:
            previous(mode, context, message)
        else:  # Qt's default handler: the formatted message on stderr
            sys.stderr.write(qFormatLogMessage(mode, context, message) + "\n")
            sys.stderr.flush()

    previous = qInstallMessageHandler(handler)
