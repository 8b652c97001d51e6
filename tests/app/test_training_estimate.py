"""The speed measurement runs in its own process and reports the trainer's step times or the reason it could not."""
from __future__ import annotations

from PySide6.QtCore import QProcess

from app.training.estimate import SpeedEstimate, timing_args
from app.training.request import TrainingRequest
from model.training.step_timing import StepTiming


def request(preset: str = "tiny", **options) -> TrainingRequest:
    return TrainingRequest("", "", "scratch", preset, threads=1, **options)


def test_the_measurement_times_the_setup_the_run_would_train(qtbot):
    estimate = SpeedEstimate()
    with qtbot.waitSignal(estimate.measured, timeout=120_000) as result:
        estimate.measure(request(batch=3))
    timing = result.args[0]
    assert isinstance(timing, StepTiming) and timing.batch_size == 3 and timing.threads == 1
    assert timing.mel_only_seconds > 0 and timing.gan_seconds > 0
    assert not estimate.busy


def test_a_setup_that_cannot_be_built_reports_why(qtbot):
    estimate = SpeedEstimate()
    with qtbot.waitSignal(estimate.failed, timeout=120_000) as result:
        estimate.measure(TrainingRequest("", "", "quick", "tiny", base_model="/no/such/model.safetensors"))
    assert "model file not found" in result.args[0]


def test_a_newer_request_kills_the_measurement_in_progress(qtbot):
    estimate = SpeedEstimate()
    estimate.measure(request())
    process = estimate.findChild(QProcess, "speedEstimate")
    estimate.cancel()
    assert process.state() == QProcess.ProcessState.NotRunning and not estimate.busy


def test_quick_fine_tunes_are_timed_with_the_frozen_parts():
    args = timing_args(TrainingRequest("", "", "quick", "tiny", base_model="default", device="cpu", threads=2))
    assert args[:2] == ["-m", "model.training.step_timing"]
    assert args[args.index("--from") + 1] == "default" and args[args.index("--freeze") + 1] == "encoder,quantizer"
    assert args[args.index("--threads") + 1] == "2"
