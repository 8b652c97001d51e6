"""What a training run's JSON-lines log says: the validation history, the steps and the compute.

The log (``rvq-studio train --json-progress``, events in docs/training.md) is the only complete
record of a run: checkpoints keep the last few states, the log keeps every validation of every
launch of the trainer (a run stopped and resumed appends to it), so the model card's history
comes from here.

Compute: the events carry no clock times. Each ``step`` event carries the step rate
(``steps_per_s``: an exponential average over about ten steps, not counting validation and
checkpoints), so the steps since the previous event are taken to have lasted their count
divided by that rate; ``validation`` events carry their own seconds. Steps computed again after
a resume (a launch stopped past its last checkpoint) are counted: they were paid for twice. The
sum is wall time of the training loop; times the launch's thread count (``threads`` x
``world_size`` of its ``start`` event) it estimates CPU time. Launches logged before ``start``
carried ``threads`` are counted at a thread count the caller gives. Not counted: the
data-loading worker process, checkpoint writing and start-up.

Learning-rate schedule: ``start`` events name the decay per step in force from their step on
(``lr_gamma``) and, on a resume, the one the checkpoint was trained with (``resumed_lr_gamma``),
so a decay changed on resume is on record even when the earlier launches' events predate these
fields.

Lines that are not JSON objects (a line cut short while the trainer is writing it) are skipped
and counted, not fatal: the card is made while training runs.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from model.evaluation import RateRow


class TrainingLogError(ValueError):
    """A log that cannot be read as a training run's progress."""


@dataclass(frozen=True)
class LoggedValidation:
    step: int
    rows: list[RateRow]
    entropy_bits: list[float]
    bitrate_efficiency: float
    seconds: float

    @property
    def mel_distance(self) -> float:
        return self.rows[-1].mel_distance


@dataclass
class TrainingLog:
    validations: list[LoggedValidation] = field(default_factory=list)  # one per step, in step order
    last_step: int = 0
    total_steps: int | None = None
    gan_start_step: int | None = None
    launches: int = 0  # "start" events: the first launch and every resume
    step_seconds: float = 0.0
    thread_seconds: float = 0.0  # wall seconds x threads, of launches whose start event gives threads
    unthreaded_seconds: float = 0.0  # wall seconds of launches whose start event does not
    steps_computed: int = 0  # replayed steps included
    validation_seconds: float = 0.0
    data: dict | None = None  # the last "data" event
    revivals: dict[int, int] = field(default_factory=dict)  # step -> codes revived (all codebooks)
    lr_decays: list[tuple[int, float]] = field(default_factory=list)  # (from step, decay per step), by step
    finished: bool = False  # the last event is "done" with reason "completed"
    skipped_lines: int = 0

    def best(self) -> LoggedValidation | None:
        """The validation with the lowest full-bitrate mel distance (the trainer's "best")."""
        return min(self.validations, key=lambda v: v.mel_distance, default=None)

    def at_step(self, step: int) -> LoggedValidation | None:
        return next((v for v in self.validations if v.step == step), None)

    def cpu_hours(self, threads: int) -> float:
        """Estimated CPU-hours; ``threads`` for launches whose log does not say how many they ran."""
        return (self.thread_seconds + self.unthreaded_seconds * threads) / 3600.0

    @property
    def launches_without_threads(self) -> bool:
        return self.unthreaded_seconds > 0


def read_training_log(path: str | Path) -> TrainingLog:
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise TrainingLogError(f"{path}: cannot read the training log ({exc.strerror or exc})") from None
    log = TrainingLog()
    validations: dict[int, LoggedValidation] = {}
    previous_step = 0
    threads: int | None = None  # the current launch's CPU threads, where its start event says
    last_event = None
    for line in lines:
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            event = None
        if not isinstance(event, dict) or "event" not in event:
            log.skipped_lines += 1
            continue
        kind = event["event"]
        last_event = event
        if kind == "data":
            log.data = event
        elif kind == "start":
            log.launches += 1
            previous_step = int(event["step"])
            threads = int(event["threads"]) * int(event.get("world_size", 1)) if "threads" in event else None
            log.total_steps = event.get("total_steps", log.total_steps)
            log.gan_start_step = event.get("gan_start_step", log.gan_start_step)
            _record_lr_decay(log, previous_step, event)
        elif kind == "step":
            step, rate = int(event["step"]), event.get("steps_per_s")
            if rate and step > previous_step:
                seconds = (step - previous_step) / rate
                log.step_seconds += seconds
                _add_compute(log, seconds, threads)
                log.steps_computed += step - previous_step
            previous_step = step
            log.last_step = max(log.last_step, step)
        elif kind == "validation":
            validations[int(event["step"])] = LoggedValidation(
                int(event["step"]), [RateRow(**row) for row in event["rows"]],
                [float(h) for h in event["entropy_bits"]], float(event["bitrate_efficiency"]),
                float(event.get("seconds") or 0.0))
            log.validation_seconds += float(event.get("seconds") or 0.0)
            _add_compute(log, float(event.get("seconds") or 0.0), threads)
        elif kind == "revival":
            log.revivals[int(event["step"])] = sum(int(r) for r in event["revived"])
    if log.launches == 0:
        raise TrainingLogError(f"{path}: not a training log (no 'start' event)")
    log.validations = [validations[s] for s in sorted(validations)]
    log.finished = last_event is not None and last_event["event"] == "done" and last_event.get("reason") == "completed"
    return log


def _record_lr_decay(log: TrainingLog, step: int, start: dict) -> None:
    # A launch resumed from an older checkpoint replays steps: its decay holds from its own step.
    log.lr_decays = [(s, g) for s, g in log.lr_decays if s < step]
    if start.get("resumed_lr_gamma") is not None and not log.lr_decays:
        log.lr_decays.append((0, float(start["resumed_lr_gamma"])))
    if start.get("lr_gamma") is not None and (not log.lr_decays or log.lr_decays[-1][1] != start["lr_gamma"]):
        log.lr_decays.append((step, float(start["lr_gamma"])))


def _add_compute(log: TrainingLog, seconds: float, threads: int | None) -> None:
    if threads is None:
        log.unthreaded_seconds += seconds
    else:
        log.thread_seconds += seconds * threads
