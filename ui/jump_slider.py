"""A slider whose groove, clicked, jumps to the value under the pointer (as media players do).

Qt's platform styles page one step towards a click on the groove instead. With the codebook
slider's step of one count, or a MUSHRA rating's step of a few points, that looked as if the
click did nothing. Jumping is done in the widget, not through a proxy style: a style shared
with Python outlives or predeceases the widgets unpredictably at exit (a crash on quit), and a
proxy built from the slider's style name loses the application's style under a style sheet.

The press then goes on as a drag of the handle, so a click gives exactly the signals a drag to
the same place does (``sliderPressed``, ``sliderMoved``, ``valueChanged``, ``sliderReleased``).
Keys and the wheel are the slider's own.
"""
from __future__ import annotations

from PySide6.QtCore import QPoint, QPointF, QRect, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QSlider, QStyle, QStyleOptionSlider


class JumpSlider(QSlider):
    """A QSlider on which a left click on the groove sets the value where it lands."""

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt's name)
        at = event.position().toPoint()
        handle = self._handle_rect()
        if event.button() != Qt.MouseButton.LeftButton or handle.contains(at):
            super().mousePressEvent(event)
            return
        # Grab the handle where it is (the slider is now down: sliderPressed), then move it under
        # the pointer as a drag would (sliderMoved, valueChanged); the press's offset into the
        # handle is its centre, so the drag that follows keeps the handle centred on the pointer.
        grab = QPointF(handle.center())
        super().mousePressEvent(QMouseEvent(event.type(), grab, event.globalPosition() + grab - event.position(),
                                            event.button(), event.buttons(), event.modifiers()))
        if self.isSliderDown():
            self.setSliderPosition(self.value_at(at))
        event.accept()

    def value_at(self, at: QPoint) -> int:
        """The value whose handle would be centred on ``at``, as the style lays the groove out."""
        option = QStyleOptionSlider()
        self.initStyleOption(option)
        groove = self.style().subControlRect(QStyle.ComplexControl.CC_Slider, option,
                                             QStyle.SubControl.SC_SliderGroove, self)
        handle = self._handle_rect()
        if self.orientation() == Qt.Orientation.Horizontal:
            start, length, span, pos = groove.x(), handle.width(), groove.width(), at.x()
        else:
            start, length, span, pos = groove.y(), handle.height(), groove.height(), at.y()
        return QStyle.sliderValueFromPosition(self.minimum(), self.maximum(), pos - length // 2 - start,
                                              span - length, option.upsideDown)

    def _handle_rect(self) -> QRect:
        option = QStyleOptionSlider()
        self.initStyleOption(option)
        return self.style().subControlRect(QStyle.ComplexControl.CC_Slider, option,
                                           QStyle.SubControl.SC_SliderHandle, self)
