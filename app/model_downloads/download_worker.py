"""One catalogue download off the GUI thread, for the studio's "Get models..." dialog.

The transfer checks :meth:`ModelDownload.cancel` between chunks, so a cancel takes effect
within one network read (at most the transfer's timeout on a stalled connection); what
arrived stays in the ``.part`` file and the next download of the model resumes it. Progress
is reported at most every :data:`PROGRESS_INTERVAL_S` so the window is not flooded with
signals.
"""
from __future__ import annotations

import threading
import time

from PySide6.QtCore import QThread, Signal

from app.model_downloads.catalogue import CatalogueEntry, RemoteFile
from app.model_downloads.manager import get_model, model_mirror
from app.model_downloads.transfer import DownloadCancelled

PROGRESS_INTERVAL_S = 0.1


class ModelDownload(QThread):
    progressed = Signal(str, str, float, float)  # model name, file name, bytes so far, total (0: unknown)
    downloaded = Signal(str, str)  # model name, the path load_codec takes
    failed = Signal(str, str)  # model name, one line for people
    cancelled = Signal(str)  # model name

    def __init__(self, entry: CatalogueEntry) -> None:
        super().__init__()
        self.setObjectName("modelDownload")
        self.entry = entry
        self._stop = threading.Event()
        self._last_report = 0.0

    def cancel(self) -> None:
        self._stop.set()

    def run(self) -> None:
        name = self.entry.name
        try:
            path = get_model(self.entry, model_mirror(), self._progress, self._stop.is_set)
        except DownloadCancelled:
            self.cancelled.emit(name)
        except (ValueError, OSError, RuntimeError) as exc:
            self.failed.emit(name, str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        else:
            self.downloaded.emit(name, str(path))

    def _progress(self, file: RemoteFile, done: int, total: int) -> None:
        now = time.monotonic()
        if now - self._last_report >= PROGRESS_INTERVAL_S or done == total:
            self._last_report = now
            self.progressed.emit(self.entry.name, file.name, float(done), float(total))
