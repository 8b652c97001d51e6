"""Events folded into curves; a run resumed from an older checkpoint does not double its history;
what a run is doing and how long it has left, validations included."""
from __future__ import annotations

import math

import pytest

from app.training.history import STARTING, TRAINING, VALIDATING, RunHistory
from training_events import history_of


def step(n: int, mel: float, gan: bool = False) -> dict:
    losses = {"mel": mel, "stft": 2 * mel, "total": 15 * mel}
    if gan:
        losses.update(adversarial=1.0, discriminator=2.0)
    return {"event": "step", "step": n, "total_steps": 10, "losses": losses, "steps_per_s": 2.0 + n, "eta_s": 1.0}


def validation(n: int, mels: list[float], best: bool) -> dict:
    rows = [{"n_codebooks": k + 1, "kbps": 1.5 * (k + 1), "mel_distance": m} for k, m in enumerate(mels)]
    return {"event": "validation", "step": n, "rows": rows, "mel_distance": mels[-1], "best": best}


def start(n: int, resumed: bool) -> dict:
    return {"event": "start", "step": n, "total_steps": 10, "resumed": resumed}


def test_losses_speed_and_validation_curves_follow_the_events():
    h = RunHistory()
    for e in [start(0, False), validation(0, [3.0, 2.5], True), step(1, 4.0), step(2, 3.0, gan=True),
              validation(2, [2.8, 2.6], False)]:
        h.ingest(e)
    assert h.steps == [1, 2] and h.losses["mel"] == [4.0, 3.0] and h.losses["stft"] == [8.0, 6.0]
    assert math.isnan(h.losses["adversarial"][0]) and h.losses["adversarial"][1] == 1.0  # only once GAN is on
    assert h.steps_per_s == [3.0, 4.0] and h.latest_rate() == 4.0
    assert h.codebook_counts() == [1, 2]
    assert h.validation_curve(2) == ([0, 2], [2.5, 2.6])
    assert h.best.step == 0  # the model file is still step 0's: step 2 was not better
    assert (h.step, h.total_steps) == (2, 10)


def test_a_resume_from_an_older_checkpoint_forgets_what_the_lost_process_did_after_it():
    h = RunHistory()
    for e in [start(0, False), step(1, 5.0), step(2, 4.0), validation(2, [3.0], True), step(3, 3.5),
              validation(3, [2.9], True), step(4, 3.0)]:  # then killed; the last checkpoint was at step 2
        h.ingest(e)
    for e in [start(2, True), step(3, 3.4), step(4, 3.1)]:
        h.ingest(e)
    assert h.steps == [1, 2, 3, 4] and h.losses["mel"] == [5.0, 4.0, 3.4, 3.1]
    assert [v.step for v in h.validations] == [2] and h.best.step == 2


def test_done_ends_the_eta_and_a_new_start_clears_done():
    h = RunHistory()
    for e in [start(0, False), step(1, 1.0), {"event": "done", "step": 1, "reason": "interrupted"}]:
        h.ingest(e)
    assert h.done["reason"] == "interrupted" and h.eta() is None
    h.ingest(start(1, True))
    assert h.done is None and h.steps == [1]


def timed_validation(n: int, seconds: float) -> dict:
    return {**validation(n, [2.0], n == 0), "seconds": seconds}


def paced_step(n: int, rate: float, total: int = 6) -> dict:
    return {"event": "step", "step": n, "total_steps": total, "losses": {"mel": 1.0}, "steps_per_s": rate}


def new_run(total: int = 6, val_every: int = 3) -> dict:
    return {"event": "start", "step": 0, "total_steps": total, "resumed": False, "val_every": val_every}


def test_a_run_is_starting_until_its_start_event_then_validates_the_model_it_starts_from():
    h = RunHistory()
    assert h.phase == STARTING  # loading the model, scanning the recordings: no event says so yet
    h.ingest({"event": "data", "validation_examples": 2, "validation_seconds": 0.5})
    assert h.phase == STARTING
    h.ingest(new_run())
    assert (h.phase, h.validating) == (VALIDATING, 0)
    h.ingest(timed_validation(0, 40.0))
    assert h.phase == TRAINING


def test_a_step_that_ends_on_a_validation_step_or_the_last_step_is_followed_by_validating():
    h = history_of(new_run(), timed_validation(0, 40.0), paced_step(1, 1.0), paced_step(2, 1.0))
    assert h.phase == TRAINING
    h.ingest(paced_step(3, 1.0))
    assert (h.phase, h.validating) == (VALIDATING, 3)
    h.ingest(timed_validation(3, 40.0))
    h.ingest(paced_step(6, 1.0))
    assert (h.phase, h.validating) == (VALIDATING, 6)  # the final validation


def test_a_resumed_run_does_not_validate_first_and_is_starting_again_until_its_process_reports():
    h = history_of(new_run(), timed_validation(0, 40.0), paced_step(1, 1.0))
    h.launched()
    assert h.phase == STARTING
    h.ingest({"event": "start", "step": 1, "total_steps": 6, "resumed": True, "val_every": 3})
    assert h.phase == TRAINING


def test_the_eta_counts_the_validations_left_at_the_time_validations_took():
    h = history_of(new_run(total=9), timed_validation(0, 40.0), paced_step(1, 0.5, 9), paced_step(2, 0.5, 9))
    # 7 steps at 0.5 steps/s, then the validations after steps 3 and 6 and the final one, 40 s each
    assert h.validations_left() == 3 and h.eta() == pytest.approx(7 / 0.5 + 3 * 40.0)


def test_at_the_last_step_the_eta_is_the_final_validation_not_zero():
    h = history_of(new_run(total=3), timed_validation(0, 40.0), paced_step(3, 1.0, 3))
    assert h.phase == VALIDATING and h.eta() == pytest.approx(40.0)


def test_the_eta_waits_for_a_measured_validation_and_ends_with_the_run():
    assert history_of(new_run()).eta() is None  # the first validation runs: no time known yet
    h = history_of(new_run(), timed_validation(0, 40.0), paced_step(1, 1.0), {"event": "done", "step": 1})
    assert h.eta() is None


def test_the_eta_paces_the_steps_left_at_the_recent_rate_not_the_first_reports():
    slow_start = [paced_step(10, 0.1, 1000)]  # the first report carries the start-up: 100 s for 10 steps
    steady = [paced_step(n, 2.0, 1000) for n in range(20, 90, 10)]  # then 2 steps/s
    h = history_of(new_run(total=1000, val_every=1000), timed_validation(0, 40.0), *slow_start, *steady)
    assert h.recent_rate() == pytest.approx(2.0)  # the latest 50 steps (reports of 10 steps each)
    assert h.eta() == pytest.approx((1000 - 80) / 2.0 + 40.0)
