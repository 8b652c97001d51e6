"""The quality panel's listening-metric columns and picker, and the where-it-breaks lane in the window."""
import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from app.studio.where_it_breaks import LaneFigures
from model.evaluation import RateRow
from model.listening_metrics import MetricOutcome
from ui.break_lane import GOOD, moment_text
from ui.quality_panel import LISTENING, QualityPanel

KBPS = (1.5, 3.0, 4.5)
ON_WHOLE = "Measured on the whole clip."


def column(name):
    return next(j for j, (header, *_rest) in enumerate(LISTENING) if header == name)


def outcomes_for(n):
    return {"stoi": MetricOutcome("stoi", {"stoi": 0.5 + 0.1 * n}),
            "visqol": MetricOutcome("visqol", {"visqol": None}, "ViSQOL needs visqol-python, which cannot be imported"),
            "dnsmos": MetricOutcome("dnsmos", {"dnsmos_sig": 3.1, "dnsmos_bak": 3.9, "dnsmos_ovrl": 2.75})}


def test_listening_cells_say_pending_absent_off_or_the_figure(qtbot):
    panel = QualityPanel()
    qtbot.addWidget(panel)
    panel.reset(KBPS, ON_WHOLE)
    panel.update_listening({}, enabled=True)
    table = panel.listening_table
    assert table.columnCount() == len(LISTENING)
    assert {table.item(i, j).text() for i in range(3) for j in range(1, len(LISTENING))} == {"…"}
    assert panel.listening_status.text() == "Listening metrics, after the rows above: n = 1–3 to come."
    panel.update_listening({2: outcomes_for(2)}, enabled=True)
    assert table.item(1, column("STOI")).text() == "0.700"
    visqol = table.item(1, column("ViSQOL"))
    assert visqol.text() == "—" and "visqol-python" in visqol.toolTip()
    dnsmos = table.item(1, column("DNS\nMOS"))
    assert dnsmos.text() == "2.75" and "SIG 3.10" in dnsmos.toolTip() and "BAK 3.90" in dnsmos.toolTip()
    assert table.item(0, column("STOI")).text() == "…"
    panel.update_listening({2: outcomes_for(2)}, enabled=False)
    assert table.item(0, column("STOI")).text() == "off" and table.item(1, column("STOI")).text() == "0.700"
    assert panel.listening_status.text() == "Listening metrics are off (View menu)."


def test_the_plot_picker_draws_a_listening_metric_of_the_codec_alone(qtbot):
    panel = QualityPanel()
    qtbot.addWidget(panel)
    panel.reset(KBPS, ON_WHOLE)
    rows = {n: RateRow(n, KBPS[n - 1], 1.0, 2.0, 3.0) for n in (1, 2, 3)}
    panel.update_results(rows, {n: (KBPS[n - 1] + 0.1, rows[n]) for n in (2, 3)})
    panel.update_listening({1: outcomes_for(1), 3: outcomes_for(3)}, enabled=True)
    panel.set_selected(3)
    panel.metric_box.setCurrentText("STOI (higher is better)")
    x, y = panel.codec_curve.getData()
    assert list(x) == [1.5, 4.5] and list(y) == pytest.approx([0.6, 0.8])
    assert panel.opus_curve.getData()[0] is None or len(panel.opus_curve.getData()[0]) == 0
    marker = panel.current.getData()
    assert list(marker[0]) == [4.5] and list(marker[1]) == pytest.approx([0.8])
    panel.metric_box.setCurrentText("ViSQOL MOS (higher is better)")  # absent everywhere: nothing drawn
    assert panel.codec_curve.getData()[0] is None or len(panel.codec_curve.getData()[0]) == 0


def lane_complete(studio):
    s = studio.session
    figures = studio._lanes.get(s.n)
    return figures is not None and not np.isnan(figures.values).any()


def test_a_worst_moment_seeks_there_and_loops_around_it(qtbot, loaded):
    studio, session = loaded, loaded.session
    qtbot.waitUntil(lambda: lane_complete(studio), timeout=120_000)
    figures = studio._lanes[session.n]
    worst = figures.worst()
    buttons = studio.timeline.worst.buttons
    assert [b.text() for b in buttons[:len(worst)]] == [moment_text(s) for s, _e, _d in worst]
    start, end, _ = worst[0]
    qtbot.mouseClick(buttons[0], Qt.MouseButton.LeftButton)
    rate = session.model.sample_rate
    duration = session.clip.length / rate
    loop_start, loop_end = max(0.0, start - 0.25), min(duration, end + 0.25)
    assert session.player.loop == (int(loop_start * rate), int(loop_end * rate))
    assert studio.transport.loop_button.isChecked()
    assert studio.timeline.overview.loop.getRegion() == pytest.approx((loop_start, loop_end))
    assert session.worker.loop == session.player.loop


def test_the_lane_shows_the_selected_count_and_not_yet_where_it_is_missing(qtbot, loaded):
    studio, session = loaded, loaded.session
    qtbot.waitUntil(lambda: lane_complete(studio), timeout=120_000)
    plot = studio.timeline.breaks
    assert plot.figures is studio._lanes[session.n] and plot.not_yet.spans == ()
    other = 1 if session.n != 1 else 2
    studio._lanes.pop(other, None)
    session.set_n(other)  # its figures come from the view thread; until then the lane says not yet
    assert plot.figures is None
    assert plot.not_yet.spans == ((0.0, session.clip.length / session.model.sample_rate),)
    qtbot.waitUntil(lambda: plot.figures is not None and plot.figures.n == other, timeout=60_000)
    values = np.array([np.nan, 1.0, GOOD])
    plot.set_figures(LaneFigures(other, np.array([0.0, 0.5, 1.0]), np.array([0.5, 1.0, 1.6]), values, False))
    assert plot.not_yet.spans == ((0.0, 0.5),)


def test_the_listening_switch_is_remembered_and_reaches_the_session(qtbot, loaded):
    studio = loaded
    assert not studio.listening_action.isChecked() and not studio.session.listening.enabled  # tests' settings
    studio.listening_action.trigger()
    assert studio.session.listening.enabled and studio.settings.listening_metrics()
    table = studio.quality.listening_table
    assert {table.item(i, j).text() for i in range(table.rowCount()) for j in range(1, table.columnCount())} == {"…"}
    studio.listening_action.trigger()
    assert not studio.session.listening.enabled and not studio.settings.listening_metrics()


def test_new_lane_figures_and_listening_cells_ask_for_no_layout(qtbot, loaded, layout_requests):
    studio = loaded
    requests = layout_requests.watch(studio)
    for _ in range(20):
        QApplication.processEvents()
    requests.count = 0
    starts = np.arange(0.0, 3.0, 0.5)
    for k in range(6):
        values = np.where(np.arange(6) <= k, np.linspace(0.5, 3.0, 6)[::-1], np.nan)
        studio.timeline.show_breaks(LaneFigures(studio.session.n, starts, starts + 0.5, values, False), 3.0)
        studio.quality.update_listening({1: outcomes_for(1)} if k % 2 else {}, enabled=bool(k % 3))
        QApplication.processEvents()
    assert requests.count == 0


def test_the_slow_metrics_are_on_in_a_fresh_installation(monkeypatch, tmp_path):
    """They are computed in a process of their own, so the window does not feel them; a user who
    switched them off keeps them off."""
    from app.studio.settings import StudioSettings

    monkeypatch.setenv("RVQ_STUDIO_SETTINGS", str(tmp_path / "never_written.ini"))
    settings = StudioSettings()
    assert settings.listening_metrics()
    settings.set_listening_metrics(False)
    assert not StudioSettings().listening_metrics()
