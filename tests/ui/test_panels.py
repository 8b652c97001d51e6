"""The codebook and quality panels on known data."""
import numpy as np
import pytest

from app.studio_session import CodebookStats
from model.evaluation import RateRow
from ui.codebook_panel import GROUP_COLOURS, CodebookPanel
from ui.quality_panel import QualityPanel


@pytest.fixture
def stats():
    rng = np.random.default_rng(0)
    codes = np.stack([rng.integers(0, 16, (1, 500)), rng.integers(0, 4, (1, 500)),
                      np.zeros((1, 500), np.int64), rng.integers(0, 16, (1, 500))], axis=1)
    return CodebookStats(codes, 16)  # [C=1, N=4, F=500]


def test_codebook_stats_count_usage_and_entropy(stats):
    assert stats.counts.shape == (4, 16) and stats.counts.sum(axis=1).tolist() == [500] * 4
    assert list(stats.used) == [16, 4, 1, 16]
    assert stats.entropy_bits[2] == 0.0 and stats.entropy_bits[1] == pytest.approx(2.0, abs=0.05)
    assert stats.efficiency == pytest.approx(stats.entropy_bits.sum() / (4 * 4))


def test_grouped_quantizer_rows_are_labelled_and_levels_separated(qtbot, stats):
    panel = CodebookPanel()
    qtbot.addWidget(panel)
    groups = {"n_groups": 2, "group_of_codebook": [0, 1, 0, 1], "level_of_codebook": [0, 0, 1, 1]}
    panel.set_stats(stats, groups)
    ticks = panel.usage.getPlotItem().getAxis("left")._tickLevels[0]
    assert [label for _, label in ticks] == ["L0 G0", "L0 G1", "L1 G0", "L1 G1"]
    assert [line.value() for line in panel.group_lines] == [2.5]  # between level 0 and level 1
    panel.set_selected(3)
    colours = [b.color().name() for b in panel.bars.opts["brushes"]]
    assert colours[:3] == [GROUP_COLOURS[0], GROUP_COLOURS[1], GROUP_COLOURS[0]] and colours[3] != GROUP_COLOURS[1]
    assert "Bitrate efficiency" in panel.summary.text()


def test_quality_table_and_plot_follow_results_and_selection(qtbot):
    panel = QualityPanel()
    qtbot.addWidget(panel)
    panel.reset((1.0, 2.0, 3.0))
    rows = {n: RateRow(n, float(n), 3.0 - n * 0.5, 4.0, 5.0 * n) for n in (1, 2, 3)}
    opus = {1: None, 2: None, 3: (3.2, RateRow(3, 3.2, 1.5, 2.0, 12.0))}
    panel.update_results(rows, opus)
    panel.set_selected(2)
    assert panel.table.item(1, 2).text() == "2.000" and panel.table.item(0, 5).text() == "—"
    assert panel.table.item(2, 5).text() == "3.20"
    assert panel.table.selectedItems()[0].row() == 1
    x, y = panel.codec_curve.getData()
    assert list(x) == [1.0, 2.0, 3.0] and list(y) == [2.5, 2.0, 1.5]
    assert list(panel.opus_curve.getData()[0]) == [3.2]
    assert list(panel.current.getData()[0]) == [2.0]
