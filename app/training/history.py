"""A run's progress as curves: the JSON events folded into arrays the plots can draw.

Pure Python, no Qt: the training tab feeds it every event (live, or replayed from the run's
``progress.jsonl`` when the studio reopens) and redraws from it.  A run resumed after a crash
restarts from its last checkpoint, which may be older than the last step it reported; the
``start`` event of the resumed process says where it continues, and everything logged after
that step by the lost process is dropped, so the curves show what the model actually went
through, with no doubled stretch.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

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
    eta_s: float | None = None
    warnings: list[str] = field(default_factory=list)

    def ingest(self, event: dict) -> None:
        kind = event.get("event")
        if kind == "data":
            self.data = event
        elif kind == "start":
            self.start, self.done = event, None
            self.step, self.total_steps, self.eta_s = int(event["step"]), event.get("total_steps"), None
            self._forget_after(self.step)
        elif kind == "step":
            self.step, self.total_steps = int(event["step"]), event.get("total_steps")
            self.steps.append(self.step)
            losses = event.get("losses") or {}
            for key in LOSS_KEYS:
                self.losses[key].append(_number(losses.get(key)))
            self.steps_per_s.append(_number(event.get("steps_per_s")))
            self.eta_s = event.get("eta_s")
        elif kind == "validation":
            best = bool(event.get("best"))
            self.validations.append(ValidationPoint(int(event["step"]), list(event.get("rows") or []),
                                                    event.get("mel_distance"), best))
        elif kind == "warning":
            self.warnings.append(str(event.get("message", "")))
        elif kind == "done":
            self.done, self.step, self.eta_s = event, int(event.get("step", self.step)), None

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
