"""What the training tab says about a run: log lines, pace, a setup's duration, the validation table."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from app.training.history import RunHistory
from app.training.request import find_preset
from app.training.run_texts import estimate_text, log_line, pace_text, phase_text, step_text, validation_rows
from model.training.step_timing import StepTiming
from training_events import history_of

RUN = Path("/runs/voice")


def step(n: int, steps_per_s: float) -> dict:
    return {"event": "step", "step": n, "total_steps": 5000, "losses": {"mel": 1.0}, "steps_per_s": steps_per_s,
            "eta_s": 3725.0}


def validation(n: int, mel: float, best: bool, **row) -> dict:
    return {"event": "validation", "step": n, "best": best, "mel_distance": mel,
            "rows": [{"n_codebooks": 4, "kbps": 3.0, "mel_distance": mel, "stft_distance": 2.0, "si_sdr": 5.0, **row}]}


def test_log_lines_name_files_inside_the_run_relative_to_it():
    event = {"event": "checkpoint", "kind": "periodic", "step": 200, "path": f"{RUN}/checkpoints/step-000000200.safetensors"}
    assert log_line(event, RUN) == "checkpoint (periodic) at step 200: checkpoints/step-000000200.safetensors"
    assert log_line(event, None) == f"checkpoint (periodic) at step 200: {RUN}/checkpoints/step-000000200.safetensors"


def test_an_event_without_words_or_that_this_version_cannot_word_logs_nothing():
    assert log_line(step(1, 2.0), RUN) == ""
    assert log_line({"event": "validation", "step": 3}, RUN) == ""  # rows missing: not a traceback


def test_the_pace_is_steps_per_second_or_seconds_per_step_with_the_eta_only_while_running():
    start = {"event": "start", "step": 0, "total_steps": 5000, "resumed": False, "val_every": 10_000}
    first_validation = {**validation(0, 2.0, True), "seconds": 60.0}
    fast = history_of(start, first_validation, step(1, 2.5))
    assert pace_text(fast, active=True) == "2.50 steps/s  ·  ETA 34m20s  ·  best mel 2.000 (step 0)"  # 4999 / 2.5 s + 60 s
    fast = history_of(step(1, 2.5))
    assert pace_text(fast, active=False) == "2.50 steps/s"
    assert pace_text(history_of(step(1, 0.05)), active=False) == "20.0 s/step"


def test_the_phase_says_what_a_run_does_before_its_first_step():
    data = {"event": "data", "validation_examples": 24, "validation_seconds": 2.0}
    start = {"event": "start", "step": 0, "total_steps": 60, "resumed": False, "val_every": 1000}
    assert phase_text(history_of()) == "Starting: loading the model, scanning the recordings…"
    assert phase_text(history_of(data, start)) == "First validation: measuring the starting model on 24 excerpts of 2.0 s…"
    validated = history_of(data, start, {**validation(0, 2.0, True), "seconds": 45.0})
    assert phase_text(validated) == "Training: first steps…"
    validated.ingest({**step(60, 1.0), "total_steps": 60})
    assert phase_text(validated) == "Final validation… (about 0m45s each)"


def test_the_pace_names_the_best_validation_so_far():
    history = history_of(step(100, 1.0), validation(100, 1.8, True), validation(200, 1.9, False))
    assert pace_text(history, active=False) == "1.00 steps/s  ·  best mel 1.800 (step 100)"


def test_the_step_line_appears_once_the_runs_length_is_known():
    assert step_text(RunHistory()) == ""
    assert step_text(history_of(step(1200, 1.0))) == "  ·  step 1,200 / 5,000"


def test_the_estimate_splits_the_steps_before_and_after_the_gan_starts():
    recipe = replace(find_preset("tiny"), gan_start_step=100)
    timing = StepTiming(mel_only_seconds=0.5, gan_seconds=1.0, batch_size=4, measured_batch=4, device="cpu", threads=1)
    assert estimate_text(timing, recipe, 400) == (
        "8m20s per 1000 steps before the GAN starts (step 100); 16m40s per 1000 GAN steps. "
        "This run: about 5m50s of training steps on cpu, plus validation.")  # 100 x 0.5 s + 300 x 1 s


def test_the_estimate_says_when_it_was_timed_at_a_smaller_batch():
    recipe = replace(find_preset("tiny"), gan_start_step=0)
    timing = StepTiming(mel_only_seconds=0.5, gan_seconds=1.0, batch_size=32, measured_batch=8, device="cpu", threads=1)
    assert estimate_text(timing, recipe, 60) == ("16m40s per 1000 GAN steps (timed at batch 8, scaled to 32). "
                                                 "This run: about 1m00s of training steps on cpu, plus validation.")


def test_the_estimate_says_what_the_run_takes_if_the_machine_stays_as_busy_as_while_measuring():
    recipe = replace(find_preset("tiny"), gan_start_step=0)
    timing = StepTiming(mel_only_seconds=0.5, gan_seconds=1.0, batch_size=4, measured_batch=4, device="cpu", threads=1,
                        busy_factor=2.0)
    assert estimate_text(timing, recipe, 60) == (
        "16m40s per 1000 GAN steps. This run: about 1m00s of training steps on cpu, plus validation. "
        "Other work slowed the measured steps 2.0x: as busy as that, about 2m00s.")
    assert "Other work" not in estimate_text(replace(timing, busy_factor=1.1), recipe, 60)


def test_the_validation_table_shows_the_latest_validation_with_dashes_for_what_it_lacks():
    assert validation_rows(RunHistory()) == []
    history = history_of(validation(100, 1.8, True), validation(200, 1.7512, True, si_sdr=None))
    assert validation_rows(history) == [("4", "3.00", "1.751", "2.000", "—")]
