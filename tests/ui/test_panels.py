"""The codebook and quality panels on known data."""
import numpy as np
import pytest
import torch

from app.studio.session import CodebookStats
from model.evaluation import RateRow
from model.metrics import bitrate_efficiency, codebook_entropy
from ui.codebook_panel import GROUP_COLOURS, CodebookPanel, gather_columns
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


def test_a_multi_scale_codebook_counts_each_code_once_not_once_per_frame_it_lasts():
    """SNAC's coarse codebook holds each code for 4 frames: 500 frames are 125 of its codes."""
    rng = np.random.default_rng(2)
    coarse = np.repeat(rng.integers(0, 16, (1, 125)), 4, axis=1)
    codes = np.stack([coarse, rng.integers(0, 16, (1, 500))], axis=1)  # [C=1, N=2, F=500]
    stats = CodebookStats(codes, 16, (4, 1))
    assert stats.counts.sum(axis=1).tolist() == [125, 500]
    assert stats.counts[0].tolist() == np.bincount(coarse[0, ::4], minlength=16).tolist()
    assert stats.entropy_bits.tolist() == codebook_entropy(torch.from_numpy(codes), 16, (4, 1)).tolist()
    assert stats.efficiency == pytest.approx(bitrate_efficiency(stats.entropy_bits, 16, (4, 1)))


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


def test_named_runs_of_codebooks_carry_their_name_and_are_separated(qtbot, stats):
    """Mimi's first codebook is semantic, the others acoustic: the rows say so."""
    panel = CodebookPanel()
    qtbot.addWidget(panel)
    panel.set_stats(stats, None, (("semantic", 0, 1), ("acoustic", 1, 4)))
    ticks = panel.usage.getPlotItem().getAxis("left")._tickLevels[0]
    assert [label for _, label in ticks] == ["semantic 1", "2", "3", "4"]  # a longer run: the line says it
    assert [line.value() for line in panel.group_lines] == [1.5]


def test_a_named_row_among_many_keeps_its_label_clear_of_the_next(qtbot):
    """Mimi's 32 rows are labelled every fourth: the row after "semantic 1" is not, its label would hide the name."""
    codes = np.random.default_rng(1).integers(0, 16, (1, 32, 200))
    panel = CodebookPanel()
    qtbot.addWidget(panel)
    panel.set_stats(CodebookStats(codes, 16), None, (("semantic", 0, 1), ("acoustic", 1, 32)))
    ticks = panel.usage.getPlotItem().getAxis("left")._tickLevels[0]
    assert [label for _, label in ticks] == ["semantic 1", *(str(i + 1) for i in range(4, 32, 4))]


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
    assert [panel.table.item(2, j).text() for j in (6, 7, 8)] == ["1.500", "2.000", "12.00"]  # Opus mel, STFT, SI-SDR
    assert panel.table.selectedItems()[0].row() == 1
    x, y = panel.codec_curve.getData()
    assert list(x) == [1.0, 2.0, 3.0] and list(y) == [2.5, 2.0, 1.5]
    assert list(panel.opus_curve.getData()[0]) == [3.2]
    assert list(panel.current.getData()[0]) == [2.0]


def test_a_slider_move_moves_only_the_quality_plots_marker(qtbot, monkeypatch):
    """Redrawing the curves and relabelling the axis took 3-4 ms of every slider move."""
    panel = QualityPanel()
    qtbot.addWidget(panel)
    panel.reset((1.0, 2.0, 3.0))
    panel.update_results({n: RateRow(n, float(n), 3.0 - n * 0.5, 4.0, 5.0 * n) for n in (1, 2, 3)}, {})
    redrawn = []
    monkeypatch.setattr(panel.codec_curve, "setData", lambda *args, **kwargs: redrawn.append("curve"))
    monkeypatch.setattr(panel.plot.getPlotItem(), "setLabel", lambda *args, **kwargs: redrawn.append("label"))
    panel.set_selected(3)
    assert redrawn == [] and list(panel.current.getData()[0]) == [3.0]


def test_codes_are_gathered_into_columns_by_their_largest_count():
    counts = np.array([[0, 3, 0, 0, 7, 1, 0]])
    assert gather_columns(counts, 3).tolist() == [[3, 7, 0]]  # a used code never vanishes between pixels
    assert gather_columns(counts, 1).tolist() == counts.tolist()


@pytest.fixture
def panel(shown):
    return shown(CodebookPanel(), 440, 700)


def test_the_heatmap_shows_each_code_when_it_fits_with_a_count_scale(panel, stats):
    panel.order_box.setCurrentText("code index")
    panel.set_stats(stats)
    assert panel.codes_per_column == 1
    # the image is float32: the exact value rounded, give or take the float32 log10's last bit
    np.testing.assert_array_max_ulp(panel.image.image, np.log10(1.0 + stats.counts).astype(np.float32), maxulp=1)
    ticks = [label for _, label in panel.count_bar.axis._tickLevels[0]]
    assert ticks == ["0", "1", "10", "100"]  # counts up to 500
    assert panel.describe_cell(3, 0) == "Codebook 3, code 0 — counts 0: 500"


def test_a_large_codebook_is_gathered_to_the_width_and_ordered_by_usage_cropped(panel):
    rng = np.random.default_rng(1)
    codes = np.stack([rng.integers(0, 100, (1, 3000)), rng.integers(0, 40, (1, 3000))], axis=1)
    stats = CodebookStats(codes, 1024)
    panel.order_box.setCurrentText("code index")
    panel.set_stats(stats)
    k = panel.codes_per_column
    assert k > 1 and panel.image.image.shape == (2, -(-1024 // k))
    assert panel.describe_cell(1, k).startswith(f"Codebook 1, codes {k}–{2 * k - 1} — counts {k}: ")
    panel.order_box.setCurrentText("usage (most used first)")
    assert panel.usage.getPlotItem().vb.viewRange()[0] == [0, 110]  # 100 entries used at most, then unused
    row = panel.image.image[1]
    assert (np.diff(row) <= 0).all() and row[-1] == 0  # most used first; past its 40 entries, nothing
    assert panel.codes_per_column == 1  # 110 ranks fit the width one per column
    most = int(np.argmax(stats.counts[1]))
    assert panel.describe_cell(2, 0) == f"Codebook 2, usage rank 1 — counts code {most}: {stats.counts[1, most]:,}"


def test_codebooks_past_n_are_dimmed_with_a_line_at_n(panel, stats):
    panel.set_stats(stats)
    panel.set_selected(2)
    rect = panel.unheard.rect()
    assert (rect.top(), rect.height()) == (2.5, 2.0) and panel.n_line.value() == 2.5 and panel.n_line.isVisible()
    panel.set_selected(4)
    assert not panel.n_line.isVisible()
