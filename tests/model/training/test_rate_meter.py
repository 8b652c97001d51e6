"""The trainer reports the pace of the steps since its previous report, not a mean carrying the first step's start-up."""
from __future__ import annotations

import pytest

from model.training import loop


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_each_report_has_the_rate_of_its_own_steps(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(loop.time, "perf_counter", clock)
    meter = loop._RateMeter()
    clock.now += 30.0  # the first step: loader processes start, first batch, first-call allocations
    meter.tick()
    for _ in range(9):
        clock.now += 1.0
        meter.tick()
    assert meter.rate() == pytest.approx(10 / 39.0)
    for _ in range(10):
        clock.now += 0.5
        meter.tick()
    assert meter.rate() == pytest.approx(2.0)  # the pace now: the start-up is in the first report only


def test_validation_time_is_not_a_training_step(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(loop.time, "perf_counter", clock)
    meter = loop._RateMeter()
    clock.now += 1.0
    meter.tick()
    with meter.paused():
        clock.now += 60.0  # a validation
    clock.now += 1.0
    meter.tick()
    assert meter.rate() == pytest.approx(1.0)
