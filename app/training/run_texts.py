"""What the training tab says about a run in words: its log lines, its pace, a setup's duration.

The wording of progress events is the trainer's own (:func:`model.training.progress.event_text`,
also what ``rvq-studio train`` prints on a terminal), so the tab's log reads like the command's.
"""
from __future__ import annotations

from pathlib import Path

from app.training.history import RunHistory
from app.training.request import TrainingPreset
from model.training.progress import event_text, format_duration
from model.training.step_timing import StepTiming

SEPARATOR = "  ·  "
VALIDATION_FORMATS = ("{}", "{:.2f}", "{:.3f}", "{:.3f}", "{:.2f}")  # n, kbps, mel, STFT, SI-SDR


def log_line(event: dict, run_folder: Path | None) -> str:
    """The event as a log line, paths inside the run folder relative to it ("" if it has no words)."""
    try:
        text = event_text(event)
    except (KeyError, TypeError, ValueError):  # an event this version does not know how to word
        return ""
    return text.replace(f"{run_folder}/", "") if run_folder is not None else text


def pace_text(history: RunHistory, active: bool) -> str:
    """Steps per second (or seconds per step), the time left while the run is active, the best so far."""
    parts = []
    rate = history.latest_rate()
    if rate:
        parts.append(f"{rate:.2f} steps/s" if rate >= 0.1 else f"{1 / rate:.1f} s/step")
    if active and history.eta_s is not None:
        parts.append(f"ETA {format_duration(history.eta_s)}")
    best = history.best
    if best is not None and best.mel_distance is not None:
        parts.append(f"best mel {best.mel_distance:.3f} (step {best.step:,})")
    return SEPARATOR.join(parts)


def step_text(history: RunHistory) -> str:
    """"step 1,200 / 5,000" once the run's length is known, else ""."""
    total = history.total_steps or 0
    return f"{SEPARATOR}step {history.step:,} / {total:,}" if total else ""


def estimate_text(timing: StepTiming, recipe: TrainingPreset, steps: int) -> str:
    """How long a run of ``steps`` steps of ``recipe`` takes at the measured pace (validation aside)."""
    gan_start = min(recipe.gan_start_step, steps)
    parts = []
    if gan_start > 0:
        parts.append(f"{format_duration(1000 * timing.mel_only_seconds)} per 1000 steps before the GAN starts "
                     f"(step {recipe.gan_start_step:,})")
    if steps > recipe.gan_start_step:
        parts.append(f"{format_duration(1000 * timing.gan_seconds)} per 1000 GAN steps")
    scaled = (f" (timed at batch {timing.measured_batch}, scaled to {timing.batch_size})"
              if timing.measured_batch != timing.batch_size else "")
    total = format_duration(timing.run_seconds(0, steps, recipe.gan_start_step))
    return f"{'; '.join(parts)}{scaled}. This run: about {total} of training steps on {timing.device}, plus validation."


def validation_rows(history: RunHistory) -> list[tuple[str, ...]]:
    """The latest validation, a row per codebook count: n, kbps, mel, STFT, SI-SDR ("—" where missing)."""
    latest = history.validations[-1] if history.validations else None
    rows = []
    for r in latest.rows if latest else []:
        cells = [r.get("n_codebooks"), r.get("kbps"), r.get("mel_distance"), r.get("stft_distance"), r.get("si_sdr")]
        rows.append(tuple("—" if value is None else fmt.format(value)
                          for value, fmt in zip(cells, VALIDATION_FORMATS)))
    return rows
