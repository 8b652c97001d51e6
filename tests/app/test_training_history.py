"""Events folded into curves; a run resumed from an older checkpoint does not double its history."""
from __future__ import annotations

import math

from app.training.history import RunHistory


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
    assert h.done["reason"] == "interrupted" and h.eta_s is None
    h.ingest(start(1, True))
    assert h.done is None and h.steps == [1]
