"""Runs ``rvq-studio train`` for the studio: start, pause, resume, stop, and find it again.

Training runs in its own process, the very command a person would type, so a crash in
training (or in a library under it) can never take the studio down, and the window never
waits on a training step.  The process is started with :class:`subprocess.Popen` rather than
``QProcess``: a ``QProcess`` kills its child when it is destroyed, and "close the studio,
leave the run going" needs a child that outlives the window.  For the same reason the
process writes to files in the run folder (:mod:`app.training.run_launch`), not to pipes -- a pipe
whose reader is gone would kill the trainer at its next line -- and starts in its own
session, so a Ctrl-C in the terminal that launched the studio does not reach it.  A timer
reads what the files gained every :data:`POLL_MS`: events are parsed as they arrive, the
stderr tail is kept to explain a failure.

Pause and Stop both send SIGTERM: the trainer finishes its step, writes a checkpoint, reports
``done`` with ``"reason": "interrupted"`` and exits; Resume runs ``train --out RUN --resume``.
A Stop pressed while stopping sends a second SIGTERM, which the trainer obeys at once
(without a checkpoint; resume then starts from the last periodic one).  How a process ended
is read from what it said: ``done`` (finished, or paused/stopped), ``error`` (failed, with the
trainer's one-line message), or nothing (crashed or killed: failed, with the last lines of
its stderr as the cause).  The training process runs at a lower CPU priority
(:data:`TRAINING_NICENESS`) so the studio's playback and rendering come first.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections import deque
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal

from app.training.run_launch import LaunchRecord, process_alive, process_start_ticks, read_record, write_record
from app.training.request import TrainingRequest, resume_args
from model.training.run_folder import RunFolder

POLL_MS = 200
TRAINING_NICENESS = 10
STDERR_LINES_KEPT = 400
PACKAGE_ROOT = Path(__file__).resolve().parents[2]  # holds app/, model/: what `-m app.cli` needs

IDLE, RUNNING, PAUSING, STOPPING = "idle", "running", "pausing", "stopping"
PAUSED, STOPPED, FINISHED, FAILED = "paused", "stopped", "finished", "failed"
ACTIVE = frozenset({RUNNING, PAUSING, STOPPING})
RESUMABLE = frozenset({PAUSED, STOPPED, FAILED, FINISHED})


class RunBusyError(ValueError):
    """A training process is already running for this controller."""


class TrainingRun(QObject):
    stateChanged = Signal(str)
    eventReceived = Signal(dict)  # every progress event, in order; replayed when attaching
    logLine = Signal(str)  # a line the process wrote on stderr (or a non-JSON line on stdout)
    runChanged = Signal(str)  # another run folder is now shown: forget the previous curves

    def __init__(self, python: str = sys.executable) -> None:
        super().__init__()
        self.python = python
        self.state = IDLE
        self.error = ""  # why the last process failed, for people
        self.stderr_tail: deque[str] = deque(maxlen=STDERR_LINES_KEPT)
        self.files: RunFolder | None = None  # the shown run's files
        self._record: LaunchRecord | None = None
        self._process: subprocess.Popen | None = None
        self._outcome: dict | None = None  # the current start's ``done`` or ``error`` event
        self._positions = {"progress": 0, "log": 0}
        self._partial = {"progress": b"", "log": b""}
        self._timer = QTimer(self)
        self._timer.setObjectName("trainingRunPoll")
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self.poll)

    # -- what people ask for ----------------------------------------------------------------
    @property
    def active(self) -> bool:
        return self.state in ACTIVE

    @property
    def run_folder(self) -> Path | None:
        return self.files.path if self.files is not None else None

    @property
    def pid(self) -> int | None:
        return self._record.pid if self._record else None

    @property
    def resumable(self) -> bool:
        """Whether Resume can continue the shown run: it has ended, and its folder holds its recipe."""
        return self.state in RESUMABLE and self.files is not None and self.files.config_path.exists()

    def start(self, request: TrainingRequest) -> None:
        """Start a new run in ``request.out`` (a folder without a run in it)."""
        self._require_idle()
        files = RunFolder(request.out)
        for path in (files.progress_log, files.error_log, files.launch_record):  # from an attempt that never started
            path.unlink(missing_ok=True)
        self._show(files)
        self._launch(request.train_args())

    def resume(self, device: str = "cpu", threads: int | None = None, workers: int = 1,
               steps: int | None = None) -> None:
        """Continue the shown run from its latest checkpoint (``steps`` may raise its length)."""
        self._require_idle()
        if self.run_folder is None:
            raise ValueError("no run to resume")
        self._launch(resume_args(str(self.run_folder), device, threads, workers, steps))

    def pause(self) -> None:
        """Checkpoint and stop, to be resumed later."""
        if self.state == RUNNING:
            self._ask_to_end("pause", PAUSING)

    def stop(self) -> None:
        """Checkpoint and stop; a second Stop ends the process at once."""
        if self.state == STOPPING:
            self._ask_to_end("force", STOPPING)
        elif self.state in (RUNNING, PAUSING):
            self._ask_to_end("stop", STOPPING)

    def attach(self, run: str | Path) -> None:
        """Show ``run``: replay its events, and follow its process if that still runs."""
        self._require_idle()
        files = RunFolder(run)
        self._show(files)
        self._record = read_record(files)
        if self._record is not None:  # earlier starts' events are history, not this start's outcome
            self._read("progress", until=self._record.progress_offset)
            self._outcome = None
            self._positions["log"] = self._record.log_offset
        self._read("progress")
        self._read("log")
        if self._record is not None and process_alive(self._record.pid, self._record.start_ticks):
            self._set_state({None: RUNNING, "pause": PAUSING}.get(self._record.intent, STOPPING))
            self._timer.start()
        elif self._record is not None or files.config_path.exists():
            self._conclude(None)

    def shutdown(self, stop_process: bool) -> None:
        """Stop following the run; ask its process to checkpoint and stop when ``stop_process``."""
        self._timer.stop()
        if stop_process and self.state in (RUNNING, PAUSING):
            self._ask_to_end("stop", STOPPING)
        self._process = None  # a process left running is reaped by the system when the studio exits

    # -- the process ------------------------------------------------------------------------
    def _require_idle(self) -> None:
        if self.active:
            raise RunBusyError(f"a training run is in progress in {self.run_folder}")

    def _show(self, files: RunFolder) -> None:
        self.files = files
        self._record, self._outcome, self.error = None, None, ""
        self._positions = {"progress": 0, "log": 0}
        self._partial = {"progress": b"", "log": b""}
        self.stderr_tail.clear()
        self.runChanged.emit(str(files.path))

    def _launch(self, args: list[str]) -> None:
        files = self.files
        files.studio_folder.mkdir(parents=True, exist_ok=True)
        argv = [self.python, "-m", "app.cli", *args]
        env = dict(os.environ, PYTHONUNBUFFERED="1",
                   PYTHONPATH=os.pathsep.join(filter(None, [str(PACKAGE_ROOT), os.environ.get("PYTHONPATH")])))
        with files.progress_log.open("ab") as out, files.error_log.open("ab") as err:
            offsets = out.tell(), err.tell()
            self._process = subprocess.Popen(argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env,
                                             start_new_session=True)
        pid = self._process.pid
        try:
            os.setpriority(os.PRIO_PROCESS, pid, TRAINING_NICENESS)
        except (AttributeError, OSError):  # not on this platform, or the process is already gone
            pass
        self._record = LaunchRecord(pid, process_start_ticks(pid), argv,
                                    datetime.now(timezone.utc).isoformat(timespec="seconds"), *offsets)
        write_record(files, self._record)
        self._positions = {"progress": offsets[0], "log": offsets[1]}
        self._outcome, self.error = None, ""
        self.stderr_tail.clear()
        self._set_state(RUNNING)
        self._timer.start()

    def _ask_to_end(self, intent: str, state: str) -> None:
        """Signal the process, once per request to end ("force" is the second one)."""
        already_asked = self._record.intent in ("pause", "stop")
        self._record = replace(self._record, intent=intent)
        write_record(self.files, self._record)
        if intent == "force" or not already_asked:
            try:
                os.kill(self._record.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        self._set_state(state)

    def _running(self) -> bool:
        if self._process is not None:
            return self._process.poll() is None
        return process_alive(self._record.pid, self._record.start_ticks)

    def poll(self) -> None:
        """Read what the process wrote; conclude when it has ended."""
        self._read("progress")
        self._read("log")
        if self._running():
            return
        self._read("progress")  # anything written between the reads and the exit
        self._read("log")
        self._timer.stop()
        code = self._process.returncode if self._process is not None else None
        self._process = None
        self._conclude(code)

    def _conclude(self, code: int | None) -> None:
        outcome = self._outcome or {}
        intent = self._record.intent if self._record else None
        if outcome.get("event") == "done":
            if outcome.get("reason") == "completed":
                self._set_state(FINISHED)
            else:
                self._set_state(STOPPED if intent == "stop" else PAUSED)
        elif outcome.get("event") == "error":
            self.error = outcome.get("message") or "training failed"
            self._set_state(FAILED)
        elif intent == "force":
            self._set_state(STOPPED)
        else:
            self.error = _crash_message(code, self.stderr_tail)
            self._set_state(FAILED)

    def _set_state(self, state: str) -> None:
        if state != self.state:
            self.state = state
            self.stateChanged.emit(state)

    # -- reading the output files -----------------------------------------------------------
    def _read(self, stream: str, until: int | None = None) -> None:
        path = self.files.progress_log if stream == "progress" else self.files.error_log
        start = self._positions[stream]
        try:
            with path.open("rb") as f:
                f.seek(start)
                data = f.read(-1 if until is None else max(0, until - start))
        except FileNotFoundError:
            return
        self._positions[stream] = start + len(data)
        *lines, self._partial[stream] = (self._partial[stream] + data).split(b"\n")
        for raw in lines:
            text = raw.decode("utf-8", "replace").rstrip("\r")
            if stream == "progress":
                self._on_stdout_line(text)
            elif text.strip():
                self.stderr_tail.append(text)
                self.logLine.emit(text)

    def _on_stdout_line(self, text: str) -> None:
        try:
            event = json.loads(text)
        except json.JSONDecodeError:
            event = None
        if not isinstance(event, dict) or "event" not in event:
            if text.strip():
                self.logLine.emit(text)
            return
        if event["event"] in ("done", "error"):
            self._outcome = event
        self.eventReceived.emit(event)


def _crash_message(code: int | None, stderr: deque[str]) -> str:
    if code is not None and code < 0:
        how = f"was killed by signal {-code} ({signal.strsignal(-code) or 'unknown'})"
    elif code:
        how = f"exited with status {code}"
    else:
        how = "ended"
    cause = next((line.strip() for line in reversed(stderr) if line.strip()), "")
    text = f"the training process {how} without a final report"
    return f"{text}: {cause}" if cause else text
