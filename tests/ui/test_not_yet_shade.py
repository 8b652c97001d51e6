"""A rendering view shades what is not rendered yet, labelled, and nothing once all is there; it
marks an image drawn at another count than the selected one until the selected one arrives."""
import numpy as np
from PySide6.QtCore import QRectF

from app.studio.rendering_spectrograms import RenderingSpectrogram
from ui.time_views import NotYetShade, SpectrogramPlot


def snapshot(not_yet, columns=100, seconds_per_column=0.1, n=0):
    db = np.full((columns, 8), -40.0, np.float32)
    return RenderingSpectrogram(db, seconds_per_column, "log", 22050.0, not_yet, n)


def shown_plot(qtbot, name):
    """A shown 800 x 200 spectrogram view of a 10 s clip."""
    plot = SpectrogramPlot(f"spectrogram{name}", name)
    qtbot.addWidget(plot)
    plot.resize(800, 200)
    plot.show()
    plot.set_duration(10.0)
    return plot


def test_unrendered_spans_are_covered_and_the_widest_is_labelled(qtbot):
    plot = shown_plot(qtbot, "Residual")
    plot.set_spectrogram(snapshot(((0.0, 0.2), (4.0, 10.0))), (-90.0, 0.0))
    shade = plot.not_yet
    assert shade.cover.path().boundingRect() == QRectF(0.0, 0.0, 10.0, 1.0)
    assert shade.cover.path().contains(QRectF(4.1, 0.1, 5.8, 0.8)) and not shade.cover.path().contains(
        QRectF(1.0, 0.2, 2.0, 0.5))  # the rendered part stays visible
    assert shade.hatch.path() == shade.cover.path()
    assert shade.label.isVisible() and shade.label.toPlainText() == NotYetShade.LABEL
    assert 6.9 < shade.label.pos().x() < 7.1  # in the widest span, not in the 0.2 s sliver

    plot.set_spectrogram(snapshot(()), (-90.0, 0.0), 40, 100)  # everything rendered now
    assert shade.cover.path().isEmpty() and not shade.label.isVisible()


def test_the_original_and_a_cleared_view_have_no_shade(qtbot):
    from app.studio.spectrogram import Spectrogram

    plot = SpectrogramPlot("spectrogramOriginal", "Original")
    qtbot.addWidget(plot)
    plot.set_spectrogram(snapshot(((0.0, 10.0),)), (-90.0, 0.0))
    plot.clear_image()
    assert plot.not_yet.cover.path().isEmpty()
    plot.set_spectrogram(Spectrogram(np.zeros((10, 8), np.float32), 0.1, "log", 22050.0), (-90.0, 0.0))
    assert plot.not_yet.cover.path().isEmpty()


def test_an_image_of_another_count_is_dimmed_and_labelled_until_the_selected_one_arrives(qtbot):
    plot = shown_plot(qtbot, "Reconstruction")
    plot.set_spectrogram(snapshot((), n=12), (-90.0, 0.0))
    plot.set_selected_n(12)
    assert not plot.stale and plot.image.opacity() == 1.0 and not plot.drawing.isVisible()
    plot.set_selected_n(7)  # the slider moved; the image is still the one at 12
    assert plot.stale and plot.image.opacity() < 0.5
    assert plot.drawing.isVisible() and plot.drawing.toPlainText() == "drawing n = 7…"
    plot.set_spectrogram(snapshot(((5.0, 10.0),), n=7), (-90.0, 0.0))  # drawn at 7, partly rendered
    assert not plot.stale and plot.image.opacity() == 1.0 and not plot.drawing.isVisible()
    plot.clear_image()
    assert not plot.stale and not plot.drawing.isVisible()
