"""Reading a training run's JSON-lines log: history, launches, resumes, compute, damaged lines."""
from __future__ import annotations

import json

import pytest

from release.training_log import TrainingLogError, read_training_log


def _validation(step: int, mel12: float, seconds: float = 10.0) -> dict:
    rows = [{"n_codebooks": n, "kbps": 0.86 * n, "mel_distance": mel12 + (2 - n), "stft_distance": 5.0,
             "si_sdr": None if n == 1 else 1.0} for n in (1, 2)]
    return {"event": "validation", "step": step, "rows": rows, "entropy_bits": [8.0, 9.5],
            "bitrate_efficiency": 0.875, "mel_distance": rows[-1]["mel_distance"], "best": True, "seconds": seconds}


def _step(step: int, rate: float) -> dict:
    return {"event": "step", "step": step, "total_steps": 100, "losses": {"mel": 1.0}, "steps_per_s": rate}


def _start(step: int) -> dict:
    return {"event": "start", "step": step, "total_steps": 100, "resumed": step > 0, "gan_start_step": 50}


def _write(path, events, tail: str = "") -> None:
    path.write_text("".join(json.dumps(e) + "\n" for e in events) + tail)


def test_history_steps_and_compute_across_a_resume(tmp_path):
    events = [
        {"event": "data", "train": {"files": 3}, "validation": {"files": 1}},
        _start(0), _validation(0, 5.0, seconds=20.0),
        _step(10, 0.5), _step(20, 1.0), _validation(20, 3.0), _step(30, 2.0),  # stopped after step 30
        _start(20), _step(30, 0.25), _validation(30, 2.5), _step(40, 1.0),  # resumed from step 20
    ]
    path = tmp_path / "run.log"
    _write(path, events, tail='{"event": "step", "ste')  # a line cut short while the trainer writes
    log = read_training_log(path)
    assert [v.step for v in log.validations] == [0, 20, 30]
    assert [v.mel_distance for v in log.validations] == [5.0, 3.0, 2.5]
    assert log.best().step == 30 and log.at_step(20).entropy_bits == [8.0, 9.5]
    assert log.validations[0].rows[0].si_sdr is None  # non-finite numbers are logged as null
    assert (log.launches, log.last_step, log.total_steps, log.gan_start_step) == (2, 40, 100, 50)
    assert log.steps_computed == 50  # steps 21-30 ran twice
    assert log.step_seconds == pytest.approx(10 / 0.5 + 10 / 1.0 + 10 / 2.0 + 10 / 0.25 + 10 / 1.0)
    assert log.validation_seconds == pytest.approx(40.0)
    assert log.cpu_hours(threads=2) == pytest.approx((85.0 + 40.0) * 2 / 3600)
    assert log.skipped_lines == 1 and not log.finished and log.data["train"]["files"] == 3


def test_compute_counts_each_launch_at_its_own_threads_and_processes(tmp_path):
    events = [
        _start(0), _step(10, 1.0), _validation(10, 3.0, seconds=5.0),  # an old log: no thread count
        {**_start(10), "threads": 2}, _step(20, 0.5),
        {**_start(20), "threads": 2, "world_size": 3}, _step(30, 2.0),
    ]
    path = tmp_path / "run.log"
    _write(path, events)
    log = read_training_log(path)
    assert log.launches_without_threads
    assert log.cpu_hours(threads=1) == pytest.approx(((10 + 5.0) * 1 + 20 * 2 + 5 * 6) / 3600)
    assert log.step_seconds == pytest.approx(10 + 20 + 5)  # wall time, not CPU time


def test_a_validation_repeated_after_a_resume_counts_once_with_its_last_numbers(tmp_path):
    path = tmp_path / "run.log"
    _write(path, [_start(0), _validation(10, 4.0), _start(0), _validation(10, 3.5),
                  {"event": "done", "step": 10, "reason": "completed"}])
    log = read_training_log(path)
    assert [(v.step, v.mel_distance) for v in log.validations] == [(10, 3.5)]
    assert log.finished


def test_an_interrupted_run_is_not_finished(tmp_path):
    path = tmp_path / "run.log"
    _write(path, [_start(0), {"event": "done", "step": 5, "reason": "interrupted"}])
    assert not read_training_log(path).finished


def test_a_file_without_a_start_event_is_refused(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("hello\n")
    with pytest.raises(TrainingLogError, match="not a training log"):
        read_training_log(path)
    with pytest.raises(TrainingLogError, match="cannot read"):
        read_training_log(tmp_path / "missing.log")


def test_revivals_are_read_as_codes_revived_per_step(tmp_path):
    path = tmp_path / "run.log"
    revival = {"event": "revival", "rare": [9, 9], "min_uses": 3, "window": 10}
    _write(path, [_start(0), {**revival, "step": 10, "revived": [5, 4]}, {**revival, "step": 20, "revived": [1, 0]}])
    assert read_training_log(path).revivals == {10: 9, 20: 1}


def test_the_learning_rate_decay_is_on_record_when_a_resume_changes_it(tmp_path):
    path = tmp_path / "run.log"
    old = _start(0)  # a log from before start events named the decay
    changed = {**_start(20), "lr_gamma": 0.9999, "resumed_lr_gamma": 0.999996}
    again = {**_start(30), "lr_gamma": 0.9999, "resumed_lr_gamma": 0.9999}
    _write(path, [old, _step(25, 1.0), changed, _step(40, 1.0), again])
    assert read_training_log(path).lr_decays == [(0, 0.999996), (20, 0.9999)]
    replayed = {**_start(10), "lr_gamma": 0.99, "resumed_lr_gamma": 0.999996}  # resumed from before step 20
    _write(path, [old, changed, replayed])
    assert read_training_log(path).lr_decays == [(0, 0.999996), (10, 0.99)]
    fresh = {**_start(0), "lr_gamma": 0.999996, "resumed_lr_gamma": None}
    _write(path, [fresh, {**fresh, "step": 10, "resumed_lr_gamma": 0.999996}])
    assert read_training_log(path).lr_decays == [(0, 0.999996)]
