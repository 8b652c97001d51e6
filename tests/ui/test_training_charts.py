"""The training charts read in their own units from the first point of a run."""
import pytest

from app.training.history import RunHistory
from ui.training_charts import MIN_STEP_SPAN, TrainingCharts


@pytest.fixture
def charts(shown):
    return shown(TrainingCharts(), 900, 600)


def first_points() -> RunHistory:
    """A run's history right after its first validation (at step 0) and its first two steps."""
    history = RunHistory()
    history.ingest({"event": "start", "step": 0, "total_steps": 200})
    history.ingest({"event": "validation", "step": 0, "best": True, "mel_distance": 1.6,
                    "rows": [{"n_codebooks": 12, "mel_distance": 1.6}]})
    for step, rate in ((1, 0.7), (2, 0.8)):
        history.ingest({"event": "step", "step": step, "total_steps": 200, "losses": {"mel": 2.0},
                        "steps_per_s": rate})
    return history


def axis_reading(plot, side: str) -> tuple[str, list[float], list[float]]:
    """The axis's label, the shown range and the major tick values, as drawn."""
    item = plot.getPlotItem()
    axis = item.getAxis(side)
    low, high = item.getViewBox().viewRange()[0 if side == "bottom" else 1]
    length = axis.width() if side == "bottom" else axis.height()
    major = axis.tickValues(low, high, length)[0][1]
    return axis.labelString(), [low, high], list(major)


def test_a_single_validation_at_step_0_gives_a_step_axis_of_whole_steps_from_0(qtbot, charts):
    charts.draw(first_points())
    qtbot.wait(50)
    for plot in (charts.validation, charts.losses, charts.speed):
        label, (low, high), ticks = axis_reading(plot, "bottom")
        assert "(x" not in label  # no SI multiplier
        assert low == 0 and high >= MIN_STEP_SPAN
        assert ticks and all(t == int(t) and t >= 0 for t in ticks)


def test_the_speed_axis_reads_steps_per_second_from_zero(qtbot, charts):
    charts.draw(first_points())
    qtbot.wait(50)
    label, (low, high), ticks = axis_reading(charts.speed, "left")
    assert "(x" not in label and charts.speed.getPlotItem().getAxis("left").autoSIPrefixScale == 1
    assert low == 0 and 0.8 < high < 1.0
    assert max(ticks) < 1.0  # 0.2, 0.4 ... as rates, not 600, 800
