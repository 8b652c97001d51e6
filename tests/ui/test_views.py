"""The time views' axes and the colour scale, as widgets on known data."""
import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt

from app.studio.render_cache import ChunkGrid, RenderCache
from app.studio.rendering_spectrograms import RenderingSpectrograms
from app.studio.spectrogram import SpectrogramLayout
from ui.colour_scale import BAR_X, BAR_WIDTH
from ui import column_image, theme
from ui.column_image import colour_indices
from ui.time_views import (EDGE_MARGIN_PX, LABEL_SPACING_PX, TOKEN_LABEL_PX, FrequencyAxis, OverviewPlot,
                           SpectrogramPlot, TokenAxis, TokenPlot, time_label)
from ui.timeline_panel import TimelinePanel


def pixels(values, low, high, size):
    return [(v - low) / (high - low) * size for v in values]


@pytest.mark.parametrize("scale", ["log", "mel", "linear"])
@pytest.mark.parametrize("size", [60, 130, 300, 700])
def test_frequency_labels_fit_the_axis_they_have(qtbot, scale, size):
    axis = FrequencyAxis()
    axis.set_scale(scale, 22050.0)
    ticks = axis.tickValues(0.0, 1.0, size)[0][1]
    at = pixels(ticks, 0.0, 1.0, size)
    assert all(b - a >= LABEL_SPACING_PX for a, b in zip(at, at[1:]))  # never crammed
    assert all(EDGE_MARGIN_PX <= p <= size - EDGE_MARGIN_PX for p in at)  # never cut at an end
    assert len(ticks) >= min(2, size // LABEL_SPACING_PX - 1)


def test_a_short_log_axis_shows_the_telling_frequencies_and_a_tall_one_more(qtbot):
    axis = FrequencyAxis()
    axis.set_scale("log", 22050.0)

    def labels(size):
        return axis.tickStrings(axis.tickValues(0.0, 1.0, size)[0][1], 1, 1)

    assert labels(130) == ["100", "1k", "10k"]  # 20k (at 98.6 % of the height) would be cut: not shown
    assert labels(700) == ["50", "100", "200", "500", "1k", "2k", "5k", "10k", "20k"]  # 20 Hz: the bottom edge
    axis.set_scale("linear", 22050.0)
    assert labels(130) == ["5k", "10k", "15k", "20k"]
    assert labels(700) == [f"{k}k" for k in range(1, 22)]


def test_time_labels_carry_their_unit_and_as_many_decimals_as_the_ticks_need():
    assert time_label(0.5, 0.5, minutes=False) == "0.5 s"
    assert time_label(2.0, 1.0, minutes=False) == "2 s"
    assert time_label(1.25, 0.05, minutes=False) == "1.25 s"
    assert time_label(65.5, 0.5, minutes=True) == "1:05.5"
    assert time_label(120.0, 10.0, minutes=True) == "2:00"


@pytest.mark.parametrize("size", [40, 80, 150, 400])
def test_token_labels_number_every_channel_alike_and_never_touch(qtbot, size):
    axis = TokenAxis()
    gap = 0.6
    axis.set_layout([("L", 12 + gap), ("R", 0.0)], 12)
    top = 24 + gap
    values = axis.tickValues(0.0, top, size)[0][1]
    labels = axis.tickStrings(values, 1, 1)
    at = pixels(values, 0.0, top, size)
    assert all(b - a >= TOKEN_LABEL_PX for a, b in zip(at, at[1:])) or len(values) == 2
    lower, upper = labels[: len(labels) // 2], labels[len(labels) // 2:]
    assert lower[0] == "R 1" and upper[0] == "L 1" and lower[1:] == upper[1:]  # same numbers in both blocks
    if size == 400:  # 16 px a row: every codebook is labelled
        assert upper == ["L 1", *map(str, range(2, 13))]


def test_tokens_of_every_channel_with_the_codebooks_past_n_dimmed(qtbot):
    plot = TokenPlot()
    qtbot.addWidget(plot)
    codes = np.stack([np.full((12, 40), 5), np.full((12, 40), 9)])  # [C=2, N=12, F=40]
    plot.set_codes(codes, 1024, 0.01, ["L", "R"], final_frames=40)
    plot.set_selected(4)
    top, bottom = plot.bottoms
    assert [image.values[0, 0] for image in plot.images] == [5, 9]  # the first channel's block on top
    assert [image.image[0, 0] for image in plot.images] == [5 * 256 // 1023, 9 * 256 // 1023]  # colour indices
    assert top > bottom and plot.images[0].mapRectToParent(plot.images[0].boundingRect()).top() == top
    for shade, start in zip(plot.shades, plot.bottoms):
        rect = shade.rect()
        assert (rect.top(), rect.height(), rect.width()) == (start + 4, 8, pytest.approx(0.4))


def test_named_runs_of_codebooks_are_separated_in_every_channel_block(qtbot):
    plot = TokenPlot()
    qtbot.addWidget(plot)
    codes = np.zeros((2, 8, 40), np.int64)
    plot.set_codes(codes, 2048, 0.08, ["L", "R"], final_frames=40, spans=(("semantic", 0, 1), ("acoustic", 1, 8)))
    assert sorted(line.value() for line in plot.span_lines) == sorted(bottom + 1 for bottom in plot.bottoms)
    assert plot.toolTip() == "codebook 1: semantic  ·  codebooks 2–8: acoustic"
    plot.set_codes(codes, 1024, 0.01, ["L", "R"], final_frames=40)  # another model names none
    assert plot.span_lines == [] and plot.toolTip() == ""


def test_tokens_drawn_as_the_encode_advances_equal_the_tokens_drawn_once_encoded(qtbot):
    """Each piece's frames are drawn when they become final, though the encoder writes ahead of that."""
    final = np.random.default_rng(0).integers(0, 1024, (2, 9, 300))
    codes = np.zeros_like(final)  # what the clip holds before its encode
    growing, whole = TokenPlot(), TokenPlot()
    qtbot.addWidget(growing)
    qtbot.addWidget(whole)
    growing.set_codes(codes, 1024, 0.01, ["L", "R"], final_frames=0)
    for start, end in [(0, 86), (86, 172), (172, 258), (258, 300)]:
        codes[:, :, start:end] = final[:, :, start:end]
        codes[:, :, end : end + 20] = final[:, :, end : end + 20] // 2  # the next piece, half written
        growing.extend_final(end)
    codes[:] = final
    growing.extend_final(300)  # the encode's end: nothing left to draw
    whole.set_codes(final, 1024, 0.01, ["L", "R"], final_frames=300)
    for grown, once in zip(growing.images, whole.images):
        np.testing.assert_array_equal(grown.image, once.image)
        np.testing.assert_array_equal(grown.image, colour_indices(final[0 if grown is growing.images[0] else 1],
                                                                  (0, 1023)))


def test_a_spectrogram_drawn_column_range_by_range_equals_the_final_one_drawn_at_once(qtbot, monkeypatch):
    """A rendering arrives chunk by chunk; each update recolours only its columns, and a level change
    on the way recolours them all: the image is the final spectrogram's, pixel for pixel."""
    coloured = []  # columns converted per call
    convert = column_image.colour_indices
    monkeypatch.setattr(column_image, "colour_indices", lambda v, lv: coloured.append(v.shape[1]) or convert(v, lv))
    rate, length = 44100, 2 * 44100 + 1234
    rng = np.random.default_rng(3)
    original = (0.3 * rng.standard_normal((length, 1))).astype(np.float32)
    rendering = (original + 0.05 * rng.standard_normal((length, 1))).astype(np.float32)
    grid = ChunkGrid(length, -(-length // 441), 441, 20)
    cache = RenderCache(grid, 1, channels=1)
    views = RenderingSpectrograms(original, cache, 1, SpectrogramLayout(length, rate, "log"))
    growing, once = SpectrogramPlot("growing", "Growing"), SpectrogramPlot("once", "Once")
    qtbot.addWidget(growing)
    qtbot.addWidget(once)
    levels, spec, reported = (-90.0, 0.0), None, []
    for step, chunk in enumerate([None, 3, 0, 7, 1, 2, 4, 5, 6, 8, 9]):
        if chunk is not None:
            start, end = grid.samples(chunk)
            cache.put(1, chunk, rendering[start:end])
        if step == 5:
            levels = (-70.0, -10.0)  # the colour scale moved: every column is recoloured
            growing.image.setLevels(levels)
        for spec, first, end in [u[1:] for u in views.update() if u[0] == "residual"]:
            reported.append(end - first)
            growing.set_spectrogram(spec, levels, first, end)
            np.testing.assert_array_equal(growing.image.image, colour_indices(spec.db.T, levels))
    columns = spec.db.shape[0]
    assert reported[0] == columns and all(k < columns / 4 for k in reported[1:]) and len(reported) == 11
    assert coloured == [columns, *reported[1:5], columns, *reported[5:]]  # only the changed columns converted
    once.set_spectrogram(spec, levels)
    np.testing.assert_array_equal(growing.image.image, once.image.image)
    np.testing.assert_array_equal(once.image.image, colour_indices(spec.db.T, levels))


@pytest.fixture
def panel(shown):
    widget = shown(TimelinePanel(), 900, 700)
    widget.top.setValue(-10)
    widget.range.setValue(60)
    return widget


def drag(qtbot, widget, from_y: float, to_y: float) -> None:
    x = BAR_X + BAR_WIDTH // 2
    qtbot.mousePress(widget, Qt.MouseButton.LeftButton, pos=QPoint(x, round(from_y)))
    qtbot.mouseMove(widget, QPoint(x, round(to_y)))
    qtbot.mouseRelease(widget, Qt.MouseButton.LeftButton, pos=QPoint(x, round(to_y)))


def test_the_colour_scale_handles_are_the_top_and_bottom_of_the_range(panel):
    scale = panel.colour_scale
    assert (scale.low, scale.high) == (-70.0, -10.0)
    assert scale.grab_at(scale.y_of(-10.0)) == "top" and scale.grab_at(scale.y_of(-70.0)) == "bottom"
    assert scale.grab_at(scale.y_of(-40.0)) == "band"
    for plot in panel.spectrograms.values():
        assert tuple(plot.image.getLevels()) == (-70.0, -10.0)


def test_dragging_the_top_handle_edits_top_db_and_range_with_the_bottom_fixed(qtbot, panel):
    scale = panel.colour_scale
    per_px = scale.db_per_px()
    drag(qtbot, scale, scale.y_of(-10.0), scale.y_of(-10.0) + 20)
    moved = round(-20 * per_px)
    assert (panel.top.value(), panel.range.value()) == (-10 + moved, 60 + moved)
    assert panel.levels == (-70.0, -10.0 + moved) == (scale.low, scale.high)
    for plot in panel.spectrograms.values():
        assert tuple(plot.image.getLevels()) == panel.levels


def test_dragging_the_bottom_handle_edits_the_range_only_and_the_band_moves_both(qtbot, panel):
    scale = panel.colour_scale
    drag(qtbot, scale, scale.y_of(-70.0), scale.y_of(-70.0) + 30)
    assert panel.top.value() == -10 and panel.range.value() > 60
    low, high = panel.levels
    drag(qtbot, scale, scale.y_of((low + high) / 2), scale.y_of((low + high) / 2) - 25)
    assert panel.range.value() == high - low and panel.top.value() > -10


def test_the_colour_scale_bar_is_the_colour_map_between_the_handles_and_its_ends_past_them(panel):
    scale = panel.colour_scale
    image = scale.grab().toImage()
    lut = pg.colormap.get(theme.SPECTROGRAM_MAP).getLookupTable(nPts=256, alpha=False)

    def index_at(db: float) -> int:
        c = image.pixelColor(BAR_X + BAR_WIDTH // 2, int(scale.y_of(db)))
        return int(np.argmin(np.abs(lut.astype(int) - (c.red(), c.green(), c.blue())).sum(axis=1)))

    assert index_at(scale.high + 4) == 255 and index_at(scale.low - 4) == 0  # past the handles: the ends
    for db in (-60.0, -40.0, -20.0):  # between them: the map, linear in dB (one row is ~0.4 of an index)
        assert index_at(db) == pytest.approx((db - scale.low) / (scale.high - scale.low) * 255, abs=1.5)


def test_spin_boxes_move_the_handles(panel):
    panel.top.setValue(-20)
    panel.range.setValue(40)
    scale = panel.colour_scale
    assert (scale.low, scale.high) == (-60.0, -20.0)
    assert scale.grab_at(scale.y_of(-20.0)) == "top"


@pytest.mark.parametrize("height", [70, 160])
def test_the_rendered_lane_stays_six_pixels_tall_under_the_waveform(shown, height):
    plot = shown(OverviewPlot(), 600, height)
    plot.set_duration(1.5)
    plot.set_rendered(np.array([True, False, True]), 0.5, 4)
    vb = plot.getPlotItem().vb
    lane = vb.mapViewToDevice(plot.rendered.mapRectToParent(plot.rendered.boundingRect())).boundingRect()
    wave_bottom = vb.mapViewToDevice(QPointF(0, -1.0)).y()
    assert lane.height() == pytest.approx(OverviewPlot.LANE_PX, abs=0.5)
    assert lane.top() - wave_bottom == pytest.approx(OverviewPlot.GAP_PX, abs=0.5)
    assert "Rendered at n = 4: 67%" in plot.rendered.toolTip()


def test_a_steady_label_grows_to_fit_a_wider_text_and_keeps_its_size_for_a_narrower_one(qtbot):
    from ui.steady_label import SteadyLabel

    label = SteadyLabel("n = 1")
    qtbot.addWidget(label)
    narrow = label.width()
    label.setText("Reconstruction at n = 12")
    wide = label.width()
    label.setText("n = 2")
    assert wide > narrow and label.width() == wide and label.minimumSize() == label.maximumSize()
    label.reserve(["Reconstruction at n = 12, and more"])
    assert label.width() > wide and label.text() == "n = 2"
