"""The training process the studio started, written down in its run folder.

A run may outlive the window that started it (the user closes the studio and leaves it
running), so everything the studio needs to find it again lives in the run folder, under
``studio/`` (named by :class:`model.training.run_folder.RunFolder`):

* ``progress.jsonl`` -- the process's stdout (its ``--json-progress`` events), appended by
  every start and resume, so reopening replays the whole history into the curves;
* ``stderr.log`` -- its stderr (warnings, tracebacks), appended likewise;
* ``process.json`` -- the :class:`LaunchRecord` of the latest start: PID, command, and where
  that start's output begins in both files (so "why did it stop" is read from the right start).

A PID alone does not identify a process: after the run ends the system may give the number to
another one.  On Linux the record also keeps the process's start time (``/proc/<pid>/stat``,
field 22, in clock ticks since boot), and a PID whose start time differs, or that is a zombie
waiting to be reaped, does not count as the run.  Elsewhere the check falls back to "a process
with this PID exists".
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from model.atomic_file import atomic_path
from model.training.run_folder import RunFolder

_STAT_STATE, _STAT_START_TIME = 0, 19  # fields 3 and 22 of /proc/<pid>/stat, counted after "(comm)"


@dataclass(frozen=True)
class LaunchRecord:
    pid: int
    start_ticks: int | None  # the process's start time, when the system tells it
    argv: list[str]
    started: str  # ISO time
    progress_offset: int  # byte offset in progress.jsonl where this start's events begin
    log_offset: int  # likewise in stderr.log
    intent: str | None = None  # "pause" or "stop" once the studio asked the process to end


def write_record(run: RunFolder, record: LaunchRecord) -> None:
    run.studio_folder.mkdir(parents=True, exist_ok=True)
    with atomic_path(run.launch_record) as tmp:
        Path(tmp).write_text(json.dumps(asdict(record), indent=1) + "\n")


def read_record(run: RunFolder) -> LaunchRecord | None:
    try:
        return LaunchRecord(**json.loads(run.launch_record.read_text()))
    except (OSError, json.JSONDecodeError, TypeError):
        return None


def _proc_stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rfind(")") + 2:].split()


def process_start_ticks(pid: int) -> int | None:
    fields = _proc_stat(pid)
    return int(fields[_STAT_START_TIME]) if fields else None


def process_alive(pid: int, start_ticks: int | None) -> bool:
    """Whether the process ``pid`` that started at ``start_ticks`` still runs."""
    if Path("/proc/self/stat").exists():
        fields = _proc_stat(pid)
        if fields is None or fields[_STAT_STATE] in ("Z", "X"):
            return False
        return start_ticks is None or int(fields[_STAT_START_TIME]) == start_ticks
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
