"""A run's progress as curves: the JSON events folded into arrays the plots can draw.

Pure Python, no Qt: the training tab feeds it every event (live, or replayed from the run's
``progress.jsonl`` when the studio reopens) and redraws from it.  A run resumed after a crash
restarts from its last checkpoint, which may be older than the last step it reported; the
``start`` event of the resumed process says where it continues, and everything logged after
that step by the lost process is dropped, so the curves show what the model actually went
through, with no doubled stretch.

It also says what the run is doing now (:attr:`RunHistory.phase`): between Start and the first
step a run loads its model, scans its recordings and validates the model it starts from, which
takes minutes for a real model and shows no step; and how long it has left (:meth:`RunHistory.eta`),
counting the validations still to come at the time the run's own validations took.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

RATE_WINDOW_STEPS = 50  # the ETA's pace: steps per second over at least this many of the latest steps
STARTING, VALIDATING, TRAINING = "starting", "validating", "training"

LOSS_KEYS = ("mel", "stft", "waveform", "codebook", "commitment", "total",
             "discriminator", "adversarial", "feature_matching")


@dataclass(frozen=True)
class ValidationPoint:
    step: int
    rows: list[dict]  # one per codebook count: n_codebooks, kbps, mel_distance, stft_distance, si_sdr
    mel_distance: float | None  # with every codebook
    best: bool


def _number(value) -> float:
    return float(value) if isinstance(value, int | float) else math.nan


@dataclass
class RunHistory:
    steps: list[int] = field(default_factory=list)
    losses: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in LOSS_KEYS})
    steps_per_s: list[float] = field(default_factory=list)
    validations: list[ValidationPoint] = field(default_factory=list)
    data: dict | None = None  # the latest ``data`` event
    start: dict | None = None  # the latest ``start`` event
    done: dict | None = None  # the latest ``done`` event
    step: int = 0
    total_steps: int | None = None
    val_every: int | None = None  # from the ``start`` event (runs logged before it said so: None)
    validation_seconds: list[float] = field(default_factory=list)  # how long each validation took
    validating: int | None = None  # the step whose validation the trainer is running now
    warnings: list[str] = field(default_factory=list)

    def ingest(self, event: dict) -> None:
        kind = event.get("event")
        if kind == "data":
            self.data = event
        elif kind == "start":
            self.start, self.done = event, None
            self.step, self.total_steps = int(event["step"]), event.get("total_steps")
            self.val_every = event.get("val_every")
            self._forget_after(self.step)
            # a new run validates the model it starts from before its first step
            self.validating = self.step if self.step == 0 and not event.get("resumed") else None
        elif kind == "step":
            self.step, self.total_steps = int(event["step"]), event.get("total_steps")
            self.steps.append(self.step)
            losses = event.get("losses") or {}
            for key in LOSS_KEYS:
                self.losses[key].append(_number(losses.get(key)))
            self.steps_per_s.append(_number(event.get("steps_per_s")))
            self.validating = self.step if self._validates_at(self.step) else None
        elif kind == "validation":
            best = bool(event.get("best"))
            self.validations.append(ValidationPoint(int(event["step"]), list(event.get("rows") or []),
                                                    event.get("mel_distance"), best))
            seconds = _number(event.get("seconds"))
            if math.isfinite(seconds):
                self.validation_seconds.append(seconds)
            self.validating = None
        elif kind == "warning":
            self.warnings.append(str(event.get("message", "")))
        elif kind == "done":
            self.done, self.step, self.validating = event, int(event.get("step", self.step)), None

    def launched(self) -> None:
        """A process was started for this run (a resume): it is starting until its ``start`` event."""
        self.start = self.done = self.validating = None

    def _forget_after(self, step: int) -> None:
        keep = sum(1 for s in self.steps if s <= step)
        del self.steps[keep:]
        for values in self.losses.values():
            del values[keep:]
        del self.steps_per_s[keep:]
        self.validations = [v for v in self.validations if v.step <= step]

    @property
    def best(self) -> ValidationPoint | None:
        """The validation whose model is the run's ``model.safetensors`` now."""
        marked = [v for v in self.validations if v.best]
        return marked[-1] if marked else None

    def codebook_counts(self) -> list[int]:
        return sorted({int(r["n_codebooks"]) for v in self.validations for r in v.rows})

    def validation_curve(self, n: int) -> tuple[list[int], list[float]]:
        """Validation mel distance with ``n`` codebooks, step by step."""
        steps, values = [], []
        for v in self.validations:
            for r in v.rows:
                if r.get("n_codebooks") == n:
                    steps.append(v.step)
                    values.append(_number(r.get("mel_distance")))
        return steps, values

    def latest_rate(self) -> float | None:
        finite = [r for r in self.steps_per_s if math.isfinite(r)]
        return finite[-1] if finite else None

    def recent_rate(self) -> float | None:
        """Steps per second over the latest reports covering :data:`RATE_WINDOW_STEPS` steps or more.

        Each report's rate is of the steps since the report before it, so the window's rate is
        its steps over the sum of their times: the pace now, not since the start."""
        steps = seconds = 0.0
        for k in range(len(self.steps) - 1, -1, -1):
            rate = self.steps_per_s[k]
            span = self.steps[k] - (self.steps[k - 1] if k > 0 else self._start_step())
            if not (math.isfinite(rate) and rate > 0 and span > 0):
                continue
            steps, seconds = steps + span, seconds + span / rate
            if steps >= RATE_WINDOW_STEPS:
                break
        return steps / seconds if seconds > 0 else None

    def _start_step(self) -> int:
        return int(self.start["step"]) if self.start else 0

    def _validates_at(self, step: int) -> bool:
        """Whether the trainer validates after ``step`` (every ``val_every`` steps, and at the end)."""
        if step == self.total_steps:
            return True
        return bool(self.val_every) and step % self.val_every == 0

    @property
    def phase(self) -> str:
        """What the run is doing: :data:`STARTING` (no ``start`` yet: loading, scanning the data),
        :data:`VALIDATING` (see :attr:`validating`) or :data:`TRAINING`."""
        if self.start is None:
            return STARTING
        return VALIDATING if self.validating is not None else TRAINING

    def validations_left(self) -> int:
        """Validations the run still runs: the one in progress, one every ``val_every`` steps, the final one."""
        if self.done is not None or not self.total_steps:
            return 0
        total = self.total_steps
        left = 1 if self.validating is not None and self.validating < total else 0
        if self.val_every:
            left += len(range(self.step + self.val_every - self.step % self.val_every, total, self.val_every))
        return left + 1  # the final validation, after the last step

    def eta(self) -> float | None:
        """Seconds left: the remaining steps at the recent pace and the remaining validations at the
        mean time of those measured so far (None before either is known)."""
        if self.done is not None or not self.total_steps:
            return None
        remaining = max(0, self.total_steps - self.step)
        rate = self.recent_rate()
        if remaining and rate is None:
            return None
        validations = self.validations_left()
        if validations and not self.validation_seconds:
            return None
        per_validation = sum(self.validation_seconds) / len(self.validation_seconds) if validations else 0.0
        return (remaining / rate if remaining else 0.0) + validations * per_validation
