"""The training process seen from the studio: live events, pause and resume at the same step,
stop, failures with their cause, and finding a run again after the window was closed.

Every test runs the real ``rvq-studio train`` command (tiny preset, one thread) in a folder of
generated recordings; a fixture fails the test if a process it started is still alive at the end.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess

import pytest

from app.training.run_launch import LaunchRecord, process_alive, process_start_ticks, write_record
from synthetic_audio import write_recordings_folder
from app.training.run import FAILED, PAUSED, RUNNING, STOPPED, TrainingRun
from app.training.request import TrainingRequest
from model.loading import CheckpointError, load_codec
from model.training.run_folder import RunFolder

TIMEOUT_MS = 120_000


@pytest.fixture
def recordings(tmp_path):
    return write_recordings_folder(tmp_path / "recordings")


@pytest.fixture
def runs(qapp):
    """Controllers made by a test; none may leave a training process behind."""
    made: list[TrainingRun] = []

    def make() -> TrainingRun:
        made.append(TrainingRun())
        return made[-1]

    yield make
    alive = {r.pid for r in made if r.pid and process_alive(r.pid, None)}
    for run in made:
        run.shutdown(stop_process=False)
    for pid in alive:
        os.kill(pid, signal.SIGKILL)
    assert not alive, f"training processes left running: {alive}"


def tiny(data, out, **options) -> TrainingRequest:
    return TrainingRequest(str(data), str(out), "scratch", "tiny", threads=1, workers=0, **options)


def collect(run: TrainingRun) -> list[dict]:
    events: list[dict] = []
    run.eventReceived.connect(events.append)
    return events


def wait_for(qtbot, condition, timeout=TIMEOUT_MS) -> None:
    qtbot.waitUntil(condition, timeout=timeout)


def first(events: list[dict], kind: str, after: int = 0) -> dict | None:
    return next((e for e in events[after:] if e["event"] == kind), None)


@pytest.mark.slow
def test_pause_checkpoints_and_resume_continues_at_the_same_step(qtbot, runs, recordings, tmp_path):
    run = runs()
    events = collect(run)
    run.start(tiny(recordings, tmp_path / "run", steps=400))
    assert run.state == RUNNING
    wait_for(qtbot, lambda: first(events, "step") is not None)
    assert os.getpriority(os.PRIO_PROCESS, run.pid) >= 10  # the studio comes first
    run.pause()
    wait_for(qtbot, lambda: run.state == PAUSED)
    done = events[-1]
    assert done["event"] == "done" and done["reason"] == "interrupted"
    paused_at = done["step"]
    assert {"event": "checkpoint", "kind": "interrupt", "step": paused_at}.items() <= \
        [e for e in events if e["event"] == "checkpoint"][-1].items()

    seen = len(events)
    run.resume(threads=1, workers=0)
    wait_for(qtbot, lambda: first(events, "step", seen) is not None)
    start = first(events, "start", seen)
    assert start["resumed"] and start["step"] == paused_at
    assert first(events, "step", seen)["step"] == paused_at + 1
    run.stop()
    wait_for(qtbot, lambda: run.state == STOPPED)
    assert events[-1]["event"] == "done" and events[-1]["reason"] == "interrupted"


def test_a_run_that_fails_reports_the_trainers_message(qtbot, runs, recordings, tmp_path):
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"\x20\x00\x00\x00\x00\x00\x00\x00{not json at all}")
    with pytest.raises(CheckpointError) as expected:
        load_codec(broken)
    run = runs()
    run.start(TrainingRequest(str(recordings), str(tmp_path / "run"), "quick", "tiny", base_model=str(broken),
                              threads=1, workers=0))
    wait_for(qtbot, lambda: run.state == FAILED)
    assert run.error == str(expected.value)


def test_a_killed_process_is_reported_with_how_it_ended(qtbot, runs, recordings, tmp_path):
    run = runs()
    events = collect(run)
    run.start(tiny(recordings, tmp_path / "run", steps=400))
    wait_for(qtbot, lambda: first(events, "step") is not None)
    os.kill(run.pid, signal.SIGKILL)
    wait_for(qtbot, lambda: run.state == FAILED)
    assert run.error.startswith("the training process was killed by signal 9")


def test_a_run_left_running_is_followed_again_and_can_be_stopped(qtbot, runs, recordings, tmp_path):
    first_window = runs()
    events = collect(first_window)
    first_window.start(tiny(recordings, tmp_path / "run", steps=400))
    wait_for(qtbot, lambda: first(events, "step") is not None)
    first_window.shutdown(stop_process=False)  # the studio closes, the run goes on
    assert process_alive(first_window.pid, None)

    reopened = runs()
    replayed = collect(reopened)
    reopened.attach(tmp_path / "run")
    assert reopened.state == RUNNING
    assert [e["event"] for e in replayed[:2]] == ["data", "start"]  # the history from the beginning
    seen = len(replayed)
    wait_for(qtbot, lambda: first(replayed, "step", seen) is not None)  # and what happens now
    reopened.stop()
    wait_for(qtbot, lambda: reopened.state == STOPPED)

    third = runs()
    third.attach(tmp_path / "run")
    assert third.state == STOPPED  # offered for resuming, not reported as a failure


def dead_process() -> tuple[int, int | None]:
    child = subprocess.Popen(["sleep", "0"])
    ticks = process_start_ticks(child.pid)
    child.wait()
    return child.pid, ticks


@pytest.mark.parametrize("last_line, state, error", [
    ({"event": "done", "step": 4, "reason": "interrupted"}, PAUSED, ""),
    ({"event": "error", "message": "no audio files in the training folder /x"}, FAILED,
     "no audio files in the training folder /x"),
    (None, FAILED, "the training process ended without a final report"),
])
def test_a_stopped_run_is_shown_by_how_its_last_process_ended(qapp, tmp_path, last_line, state, error):
    files = RunFolder(tmp_path / "run")
    files.studio_folder.mkdir(parents=True)
    files.config_path.write_text("{}")
    earlier = json.dumps({"event": "done", "step": 2, "reason": "completed"}) + "\n"  # an earlier start's end
    current = json.dumps({"event": "start", "step": 2, "total_steps": 9, "resumed": True}) + "\n"
    tail = json.dumps(last_line) + "\n" if last_line else ""
    files.progress_log.write_text(earlier + current + tail)
    pid, ticks = dead_process()
    write_record(files, LaunchRecord(pid, ticks, ["python"], "2024-01-01T00:00:00", len(earlier), 0))
    run = TrainingRun()
    run.attach(files.path)
    assert (run.state, run.error) == (state, error)


def test_a_pid_counts_as_the_run_only_while_that_very_process_lives():
    me = os.getpid()
    assert process_alive(me, process_start_ticks(me))
    assert not process_alive(me, process_start_ticks(me) + 1)  # the number now belongs to another process
    assert not process_alive(*dead_process())
