"""What the training tab says about a run in words: its log lines, its phase, its pace, a setup's duration.

The wording of progress events is the trainer's own (:func:`model.training.progress.event_text`,
also what ``rvq-studio train`` prints on a terminal), so the tab's log reads like the command's.
"""
from __future__ import annotations

from pathlib import Path

from app.training.history import STARTING, TRAINING, RunHistory
from app.training.request import TrainingPreset
from model.training.progress import event_text, format_duration
from model.training.step_timing import StepTiming

SEPARATOR = "  ·  "
BUSY_FACTOR_SHOWN = 1.25  # other work slowed the measured steps by this much or more: say what that means
VALIDATION_FORMATS = ("{}", "{:.2f}", "{:.3f}", "{:.3f}", "{:.2f}")  # n, kbps, mel, STFT, SI-SDR


def log_line(event: dict, run_folder: Path | None) -> str:
    """The event as a log line, paths inside the run folder relative to it ("" if it has no words)."""
    try:
        text = event_text(event)
    except (KeyError, TypeError, ValueError):  # an event this version does not know how to word
        return ""
    return text.replace(f"{run_folder}/", "") if run_folder is not None else text


def phase_text(history: RunHistory) -> str:
    """What a running process is doing, for the minutes before its first step and during validations."""
    phase = history.phase
    if phase == STARTING:
        return "Starting: loading the model, scanning the recordings…"
    if phase == TRAINING:
        return "Training" if history.steps and history.steps[-1] > history.start["step"] else "Training: first steps…"
    step, data = history.validating, history.data or {}
    if step == 0 and not history.steps:
        examples = data.get("validation_examples")
        what = f" on {examples} excerpts of {data.get('validation_seconds', '?')} s" if examples else ""
        text = f"First validation: measuring the starting model{what}…"
    else:
        text = "Final validation…" if step == history.total_steps else f"Validating the model of step {step:,}…"
    if history.validation_seconds:
        mean = sum(history.validation_seconds) / len(history.validation_seconds)
        text += f" (about {format_duration(mean)} each)"
    return text


def pace_text(history: RunHistory, active: bool) -> str:
    """The current training pace in steps per second (or seconds per step), the time left
    (validations included) while the run is active, the best so far."""
    parts = []
    rate = history.latest_rate()
    if rate:
        parts.append(f"{rate:.2f} steps/s" if rate >= 0.1 else f"{1 / rate:.1f} s/step")
    eta = history.eta() if active else None
    if eta is not None:
        parts.append(f"ETA {format_duration(eta)}")
    best = history.best
    if best is not None and best.mel_distance is not None:
        parts.append(f"best mel {best.mel_distance:.3f} (step {best.step:,})")
    return SEPARATOR.join(parts)


def step_text(history: RunHistory) -> str:
    """"step 1,200 / 5,000" once the run's length is known, else ""."""
    total = history.total_steps or 0
    return f"{SEPARATOR}step {history.step:,} / {total:,}" if total else ""


def estimate_text(timing: StepTiming, recipe: TrainingPreset, steps: int) -> str:
    """How long a run of ``steps`` steps of ``recipe`` takes at the measured pace (validation aside),
    and at the load the measurement met when that slowed it (:attr:`StepTiming.busy_factor`)."""
    gan_start = min(recipe.gan_start_step, steps)
    parts = []
    if gan_start > 0:
        parts.append(f"{format_duration(1000 * timing.mel_only_seconds)} per 1000 steps before the GAN starts "
                     f"(step {recipe.gan_start_step:,})")
    if steps > recipe.gan_start_step:
        parts.append(f"{format_duration(1000 * timing.gan_seconds)} per 1000 GAN steps")
    scaled = (f" (timed at batch {timing.measured_batch}, scaled to {timing.batch_size})"
              if timing.measured_batch != timing.batch_size else "")
    seconds = timing.run_seconds(0, steps, recipe.gan_start_step)
    text = (f"{'; '.join(parts)}{scaled}. This run: about {format_duration(seconds)} of training steps on "
            f"{timing.device}, plus validation.")
    if timing.busy_factor >= BUSY_FACTOR_SHOWN:
        text += (f" Other work slowed the measured steps {timing.busy_factor:.1f}x: as busy as that, "
                 f"about {format_duration(seconds * timing.busy_factor)}.")
    return text


def validation_rows(history: RunHistory) -> list[tuple[str, ...]]:
    """The latest validation, a row per codebook count: n, kbps, mel, STFT, SI-SDR ("—" where missing)."""
    latest = history.validations[-1] if history.validations else None
    rows = []
    for r in latest.rows if latest else []:
        cells = [r.get("n_codebooks"), r.get("kbps"), r.get("mel_distance"), r.get("stft_distance"), r.get("si_sdr")]
        rows.append(tuple("—" if value is None else fmt.format(value)
                          for value, fmt in zip(cells, VALIDATION_FORMATS)))
    return rows
