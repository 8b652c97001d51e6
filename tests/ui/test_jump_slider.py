"""A click on a slider's groove jumps there, with the signals a drag gives; keys and wheel still step.

Driven with real mouse, key and wheel events (offscreen), on both orientations: the codebook
slider is horizontal, the MUSHRA ratings vertical (their minimum at the bottom).
"""
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication, QStyle, QStyleOptionSlider

from ui.jump_slider import JumpSlider

SIGNALS = ("sliderPressed", "sliderMoved", "valueChanged", "sliderReleased")


def _slider(qtbot, orientation: Qt.Orientation, value: int) -> JumpSlider:
    slider = JumpSlider(orientation)
    slider.setRange(0, 100)
    slider.setPageStep(20)
    slider.setValue(value)
    qtbot.addWidget(slider)
    slider.resize(300, 24) if orientation == Qt.Orientation.Horizontal else slider.resize(24, 300)
    slider.show()
    qtbot.waitExposed(slider)
    return slider


def _record(slider: JumpSlider) -> list[tuple]:
    heard: list[tuple] = []
    for name in SIGNALS:
        getattr(slider, name).connect(lambda *args, name=name: heard.append((name, *args)))
    return heard


def _rects(slider: JumpSlider):
    option = QStyleOptionSlider()
    slider.initStyleOption(option)
    style, control = slider.style(), QStyle.ComplexControl.CC_Slider
    return (style.subControlRect(control, option, QStyle.SubControl.SC_SliderGroove, slider),
            style.subControlRect(control, option, QStyle.SubControl.SC_SliderHandle, slider), option)


def _centre_for(slider: JumpSlider, value: int) -> QPoint:
    """Where the handle's centre sits at ``value``, as the style places it."""
    groove, handle, option = _rects(slider)
    if slider.orientation() == Qt.Orientation.Horizontal:
        offset = QStyle.sliderPositionFromValue(slider.minimum(), slider.maximum(), value,
                                                groove.width() - handle.width(), option.upsideDown)
        return QPoint(groove.x() + offset + handle.width() // 2, handle.center().y())
    offset = QStyle.sliderPositionFromValue(slider.minimum(), slider.maximum(), value,
                                            groove.height() - handle.height(), option.upsideDown)
    return QPoint(handle.center().x(), groove.y() + offset + handle.height() // 2)


@pytest.mark.parametrize("orientation", [Qt.Orientation.Horizontal, Qt.Orientation.Vertical])
def test_a_groove_click_sets_the_value_with_the_signals_of_a_drag(qtbot, orientation):
    clicked = _slider(qtbot, orientation, 10)
    clicks = _record(clicked)
    qtbot.mouseClick(clicked, Qt.MouseButton.LeftButton, pos=_centre_for(clicked, 70))
    assert clicked.value() == 70
    assert not clicked.isSliderDown()

    dragged = _slider(qtbot, orientation, 10)
    drags = _record(dragged)
    _, handle, _ = _rects(dragged)
    to = _centre_for(dragged, 70)
    qtbot.mousePress(dragged, Qt.MouseButton.LeftButton, pos=handle.center())
    qtbot.mouseMove(dragged, to)
    qtbot.mouseRelease(dragged, Qt.MouseButton.LeftButton, pos=to)
    assert dragged.value() == 70
    assert clicks == drags  # pressed, moved to 70, value 70, released: whoever listens sees a drag


def test_a_press_on_the_groove_goes_on_as_a_drag(qtbot):
    slider = _slider(qtbot, Qt.Orientation.Horizontal, 0)
    qtbot.mousePress(slider, Qt.MouseButton.LeftButton, pos=_centre_for(slider, 40))
    assert slider.value() == 40 and slider.isSliderDown()
    qtbot.mouseMove(slider, _centre_for(slider, 55))
    assert slider.value() == 55
    qtbot.mouseRelease(slider, Qt.MouseButton.LeftButton, pos=_centre_for(slider, 55))
    assert slider.value() == 55 and not slider.isSliderDown()


def test_a_click_on_the_handle_moves_nothing(qtbot):
    slider = _slider(qtbot, Qt.Orientation.Horizontal, 30)
    heard = _record(slider)
    _, handle, _ = _rects(slider)
    qtbot.mouseClick(slider, Qt.MouseButton.LeftButton, pos=handle.center() + QPoint(handle.width() // 3, 0))
    assert slider.value() == 30
    assert heard == [("sliderPressed",), ("sliderReleased",)]


def test_keys_and_the_wheel_still_step(qtbot):
    slider = _slider(qtbot, Qt.Orientation.Horizontal, 50)
    slider.setFocus()
    qtbot.keyClick(slider, Qt.Key.Key_Right)
    assert slider.value() == 51
    qtbot.keyClick(slider, Qt.Key.Key_PageUp)
    assert slider.value() == 71
    qtbot.keyClick(slider, Qt.Key.Key_Home)
    assert slider.value() == 0
    centre = QPointF(slider.rect().center())
    wheel = QWheelEvent(centre, slider.mapToGlobal(centre), QPoint(), QPoint(0, 120), Qt.MouseButton.NoButton,
                        Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(slider, wheel)
    assert slider.value() == QApplication.wheelScrollLines() * slider.singleStep()

