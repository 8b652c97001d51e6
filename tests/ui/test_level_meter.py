"""The level meter's ballistics, on a known sequence of block peaks and clock times."""
import pytest
from PySide6.QtCore import Qt

from ui.level_meter import FALL_DB_PER_S, FLOOR_DB, HOLD_S, LevelMeter


@pytest.fixture
def meter(qtbot):
    widget = LevelMeter()
    qtbot.addWidget(widget)
    return widget


def test_the_bar_rises_at_once_and_falls_at_its_rate_while_the_hold_stays(meter):
    meter.set_peaks([0.5, 0.1], now=10.0)
    assert meter.level_db == pytest.approx([-6.0206, -20.0], abs=1e-3)
    meter.set_peaks([0.0, 0.0], now=10.5)
    assert meter.level_db == pytest.approx([-6.0206 - FALL_DB_PER_S * 0.5, -20.0 - FALL_DB_PER_S * 0.5], abs=1e-3)
    assert meter.hold_db == pytest.approx([-6.0206, -20.0], abs=1e-3)  # held for HOLD_S
    meter.set_peaks([0.0, 0.0], now=10.0 + HOLD_S - 0.25)
    assert meter.hold_db[0] == pytest.approx(-6.0206, abs=1e-3)
    meter.set_peaks([0.0, 0.0], now=10.0 + HOLD_S + 0.5)  # hold expired: it falls like the bar
    assert meter.hold_db[0] == pytest.approx(-6.0206 - FALL_DB_PER_S * 0.75, abs=1e-3)
    for k in range(20):
        meter.set_peaks([0.0, 0.0], now=12.0 + k)
    assert meter.level_db == [FLOOR_DB, FLOOR_DB] and meter.hold_db == [FLOOR_DB, FLOOR_DB]


def test_full_scale_latches_the_clip_light_until_the_meter_is_clicked(qtbot, meter):
    meter.set_peaks([1.0, 0.7], now=0.0)
    meter.set_peaks([0.1, 0.1], now=5.0)
    assert meter.clipped == [True, False]
    qtbot.mouseClick(meter, Qt.MouseButton.LeftButton)
    assert meter.clipped == [False, False]


def test_the_scale_runs_from_the_floor_to_full_scale_across_the_bars(meter):
    meter.resize(300, 38)
    left, width = meter._bar_span()
    assert meter.x_of(FLOOR_DB) == left and meter.x_of(0.0) == left + width
    assert meter.x_of(-30.0) == pytest.approx(left + width / 2)
    assert meter.x_of(+3.0) == meter.x_of(0.0)  # above full scale the bar is simply full
