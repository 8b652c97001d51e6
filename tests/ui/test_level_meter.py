"""The level meter: its ballistics on known levels and clock times, and what it shows of a known signal."""
import math

import numpy as np
import pytest
from PySide6.QtCore import Qt

from app.playback.audio_output import ManualOutputStream
from app.playback.player import AudioPlayer
from app.playback.sources import OriginalSource
from ui.level_meter import FALL_DB_PER_S, FLOOR_DB, HOLD_S, RMS_TIME_S, LevelMeter

QUIET = [0.0, 0.0]


@pytest.fixture
def meter(qtbot):
    widget = LevelMeter()
    qtbot.addWidget(widget)
    return widget


def test_the_bar_rises_at_once_and_falls_at_its_rate_while_the_hold_stays(meter):
    meter.set_levels([0.5, 0.1], QUIET, now=10.0)
    assert meter.level_db == pytest.approx([-6.0206, -20.0], abs=1e-3)
    meter.set_levels([0.0, 0.0], QUIET, now=10.5)
    assert meter.level_db == pytest.approx([-6.0206 - FALL_DB_PER_S * 0.5, -20.0 - FALL_DB_PER_S * 0.5], abs=1e-3)
    assert meter.hold_db == pytest.approx([-6.0206, -20.0], abs=1e-3)  # held for HOLD_S
    meter.set_levels([0.0, 0.0], QUIET, now=10.0 + HOLD_S - 0.25)
    assert meter.hold_db[0] == pytest.approx(-6.0206, abs=1e-3)
    meter.set_levels([0.0, 0.0], QUIET, now=10.0 + HOLD_S + 0.5)  # hold expired: it falls like the bar
    assert meter.hold_db[0] == pytest.approx(-6.0206 - FALL_DB_PER_S * 0.75, abs=1e-3)
    for k in range(20):
        meter.set_levels([0.0, 0.0], QUIET, now=12.0 + k)
    assert meter.level_db == [FLOOR_DB, FLOOR_DB] and meter.hold_db == [FLOOR_DB, FLOOR_DB]


def test_full_scale_latches_the_clip_light_until_the_meter_is_clicked(qtbot, meter):
    meter.set_levels([1.0, 0.7], QUIET, now=0.0)
    meter.set_levels([0.1, 0.1], QUIET, now=5.0)
    assert meter.clipped == [True, False]
    qtbot.mouseClick(meter, Qt.MouseButton.LeftButton)
    assert meter.clipped == [False, False]


def test_the_scale_runs_from_the_floor_to_full_scale_across_the_bars(meter):
    meter.resize(300, 38)
    left, width = meter.bar_span()
    assert meter.x_of(FLOOR_DB) == left and meter.x_of(0.0) == left + width
    assert meter.x_of(-30.0) == pytest.approx(left + width / 2)
    assert meter.x_of(+3.0) == meter.x_of(0.0)  # above full scale the bar is simply full


def test_the_rms_bar_integrates_the_mean_square_over_its_time_constant(meter):
    meter.set_levels([0.5, 0.5], [0.25, 0.1], now=0.0)  # the first reading counts whole
    assert meter.rms_db == pytest.approx([20 * math.log10(0.25), -20.0], abs=1e-9)
    meter.set_levels([0.0, 0.0], [0.0, 0.0], now=RMS_TIME_S)  # one time constant of silence: 1/e of the energy
    assert meter.rms_db == pytest.approx([20 * math.log10(0.25) - 10 * math.log10(math.e), -20 - 4.3429], abs=1e-3)
    for k in range(10):
        meter.set_levels([0.0, 0.0], [0.0, 0.0], now=1.0 + k)
    assert meter.rms_db == [FLOOR_DB, FLOOR_DB]


def test_a_sine_at_minus_6_dbfs_reads_its_peak_and_an_rms_3_db_lower(meter):
    """Through the player on a hand-driven stream, 25 ms of audio per frame as in the window."""
    rate, block = 44100, 512
    t = np.arange(2 * rate) / rate  # longer than what is played
    sine = np.sin(2 * np.pi * 441 * t)  # whole periods of 100 samples
    player = AudioPlayer(ManualOutputStream, blocksize=block)
    player.configure(rate, 2, OriginalSource(np.stack([10 ** (-6 / 20) * sine, 10 ** (-20 / 20) * sine], 1)
                                             .astype(np.float32)))
    try:
        player.play()
        for frame in range(40):  # one second: the RMS bar has settled, whatever it started from
            for _ in range(2 if frame % 3 else 3):  # 2.15 blocks a 25 ms frame
                player.output_stream.pull()
            meter.set_levels(*player.take_levels(), now=frame * 0.025)
    finally:
        player.close()
    assert meter.level_db == pytest.approx([-6.0, -20.0], abs=1e-3)
    assert meter.rms_db == pytest.approx([-9.0103, -23.0103], abs=0.01)  # over 2-3 blocks: not whole periods
    assert meter.clipped == [False, False]


def test_a_click_between_two_frames_reaches_the_peak_bar_and_the_hold(meter):
    rate, block = 44100, 512
    signal = np.full((4 * block, 1), 0.01, np.float32)
    signal[block + 7] = 0.8  # in the second of the three blocks played between two frames
    player = AudioPlayer(ManualOutputStream, blocksize=block)
    player.configure(rate, 1, OriginalSource(signal))
    try:
        player.play()
        meter.set_levels(*player.take_levels(), now=0.0)
        for _ in range(3):
            player.output_stream.pull()
        meter.set_levels(*player.take_levels(), now=0.025)
    finally:
        player.close()
    assert meter.level_db == pytest.approx([20 * math.log10(0.8)] * 2, abs=1e-4)
    assert meter.hold_db == meter.level_db
