"""A rendering view shades what is not rendered yet, labelled, and nothing once all is there."""
import numpy as np
from PySide6.QtCore import QRectF

from app.studio.rendering_spectrograms import RenderingSpectrogram
from ui.time_views import NotYetShade, SpectrogramPlot


def snapshot(not_yet, columns=100, seconds_per_column=0.1):
    db = np.full((columns, 8), -40.0, np.float32)
    return RenderingSpectrogram(db, seconds_per_column, "log", 22050.0, not_yet)


def test_unrendered_spans_are_covered_and_the_widest_is_labelled(qtbot):
    plot = SpectrogramPlot("spectrogramResidual", "Residual")
    qtbot.addWidget(plot)
    plot.resize(800, 200)
    plot.show()
    plot.set_duration(10.0)
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
