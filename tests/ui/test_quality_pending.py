"""The quality panel says which rows are still being measured, and on what."""
from model.evaluation import RateRow
from ui.quality_panel import QualityPanel

ON_EXCERPTS = "Measured on 20 s of the 3:00 clip: 5 excerpts of 4 s spread evenly over it."


def test_pending_rows_are_listed_codec_and_opus_apart_until_all_are_in(qtbot):
    panel = QualityPanel()
    qtbot.addWidget(panel)
    panel.reset((1.0, 2.0, 3.0, 4.0, 5.0), ON_EXCERPTS)
    assert panel.status.text() == f"Measuring: codec n = 1–5; Opus n = 1–5. {ON_EXCERPTS}"
    rows = {n: RateRow(n, float(n), 1.0, 2.0, 3.0) for n in (1, 2, 4)}
    panel.update_results(rows, {1: None, 2: (2.1, RateRow(2, 2.1, 1.0, 2.0, 3.0))})
    assert panel.status.text() == f"Measuring: codec n = 3, 5; Opus n = 3–5. {ON_EXCERPTS}"
    every = {n: RateRow(n, float(n), 1.0, 2.0, 3.0) for n in range(1, 6)}
    panel.update_results(every, dict.fromkeys(range(1, 6)))
    assert panel.status.text() == ON_EXCERPTS


def test_without_a_clip_nothing_is_pending(qtbot):
    panel = QualityPanel()
    qtbot.addWidget(panel)
    panel.reset((1.0, 2.0))
    assert panel.status.text() == ""
