"""Waiting for the studio in the screenshot scripts: the event loop runs while a condition is awaited."""
from __future__ import annotations

import time
from collections.abc import Callable


def wait_until(condition: Callable[[], bool], seconds: float) -> bool:
    """Process Qt events until ``condition()`` holds or ``seconds`` have passed; whether it holds."""
    from PySide6.QtWidgets import QApplication

    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        QApplication.processEvents()
        time.sleep(0.02)
    return condition()


def settle(seconds: float = 0.5) -> None:
    """Process Qt events for ``seconds``: results a worker queued to the GUI thread arrive and are drawn."""
    wait_until(lambda: False, seconds)
