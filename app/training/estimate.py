"""The time per 1000 steps of a setup, measured in a separate process before a run starts.

Timing real steps (:mod:`model.training.step_timing`) takes from a second (tiny) to minutes
(a large preset on a CPU), so it runs in its own process: the window never waits, and a
measurement that became pointless (the user changed the preset) is simply killed.  The child
is an ordinary ``QProcess``: unlike a training run it must not outlive the window.
"""
from __future__ import annotations

import json
import sys

from PySide6.QtCore import QObject, QProcess, Signal

from app.training.run import PACKAGE_ROOT
from app.training.request import FROZEN_IN_QUICK_MODE, TrainingRequest
from model.training.step_timing import StepTiming


def timing_args(request: TrainingRequest) -> list[str]:
    args = ["-m", "model.training.step_timing", "--preset", request.preset, "--device", request.device]
    if request.mode != "scratch":
        args += ["--from", str(request.base_model)]
    if request.mode == "quick":
        args += ["--freeze", ",".join(FROZEN_IN_QUICK_MODE)]
    if request.batch:
        args += ["--batch", str(request.batch)]
    if request.threads:
        args += ["--threads", str(request.threads)]
    return args


class SpeedEstimate(QObject):
    """Measures one setup at a time; a new request replaces the one in progress."""

    measured = Signal(object)  # StepTiming
    failed = Signal(str)

    def __init__(self, python: str = sys.executable) -> None:
        super().__init__()
        self.python = python
        self._process: QProcess | None = None

    @property
    def busy(self) -> bool:
        return self._process is not None

    def measure(self, request: TrainingRequest) -> None:
        self.cancel()
        process = QProcess(self)
        process.setObjectName("speedEstimate")
        process.setWorkingDirectory(str(PACKAGE_ROOT))
        process.finished.connect(lambda code, _status, p=process: self._finished(p, code))
        process.errorOccurred.connect(lambda _error, p=process: self._failed_to_start(p))
        self._process = process
        process.start(self.python, timing_args(request))

    def cancel(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.state() != QProcess.ProcessState.NotRunning:
            process.kill()
            process.waitForFinished(5000)

    def _finished(self, process: QProcess, code: int) -> None:
        if process is not self._process:
            return
        self._process = None
        output = bytes(process.readAllStandardOutput()).decode("utf-8", "replace").strip().splitlines()
        try:
            result = json.loads(output[-1]) if output else {}
        except json.JSONDecodeError:
            result = {}
        if "error" in result:
            self.failed.emit(str(result["error"]))
        elif code == 0 and result:
            self.measured.emit(StepTiming(**result))
        else:
            errors = bytes(process.readAllStandardError()).decode("utf-8", "replace").strip().splitlines()
            self.failed.emit(errors[-1] if errors else f"the measurement exited with status {code}")

    def _failed_to_start(self, process: QProcess) -> None:
        if process is self._process and process.error() == QProcess.ProcessError.FailedToStart:
            self._process = None
            self.failed.emit(f"could not start {self.python}: {process.errorString()}")
