"""The transport: play/stop/loop, the clock, the A/B source switch, the codebook slider, meters.

Only widgets and signals: the window connects them to the session. The source switch is a
segmented control (three exclusive buttons) so what is selected is visible at a glance; a
small "hearing" note says when the player is still on the previous source because the new
one is not rendered at the playhead yet. While a training run's model is offered for comparison,
the switch gains "Fine-tuned" and "Reconstruction" reads "Base".
"""
from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont, QFontMetrics
from PySide6.QtWidgets import QButtonGroup, QHBoxLayout, QLabel, QPushButton, QSlider, QVBoxLayout, QWidget

from ui.jump_slider import JumpSlider
from ui.level_meter import LevelMeter
from ui.steady_label import SteadyLabel

SOURCE_LABELS = {"original": "Original", "reconstruction": "Reconstruction", "finetuned": "Fine-tuned",
                 "residual": "Residual"}
SOURCE_TIPS = {"original": "Hear the input (A toggles)",
               "reconstruction": "Hear the codec's output at n codebooks (A toggles)",
               "residual": "Hear what the codec removed, lifted to the original's level (R)",
               "finetuned": "Hear the training run's model at the same n codebooks"}


def format_clock(seconds: float) -> str:
    minutes, rest = divmod(max(0.0, seconds), 60)
    return f"{int(minutes):02d}:{rest:06.3f}"


def bitrate_text(n: int, n_codebooks: int, kbps: float) -> str:
    return f"{n} of {n_codebooks} codebooks  ·  {kbps:.2f} kbps"


def hearing_note(source_label: str) -> str:
    """The note shown while the player still plays ``source_label`` because the chosen source is not rendered yet."""
    return f"hearing {source_label.lower()} until rendered"


class SourceToggle(QWidget):
    """Original | Reconstruction (| Fine-tuned) | Residual, one checked at a time."""

    sourceChosen = Signal(str)

    def __init__(self) -> None:
        super().__init__()
        self.setObjectName("sourceToggle")
        self.group = QButtonGroup(self)
        self.group.setExclusive(True)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        self.buttons: dict[str, QPushButton] = {}
        for key, label in SOURCE_LABELS.items():
            button = QPushButton(label)
            button.setObjectName("sourceButton")
            button.setCheckable(True)
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            button.setToolTip(SOURCE_TIPS[key])
            self.group.addButton(button)
            layout.addWidget(button)
            self.buttons[key] = button
            button.clicked.connect(lambda _=False, k=key: self.sourceChosen.emit(k))
        self.buttons["finetuned"].hide()

    def set_comparison(self, model_source: object) -> None:
        """Show "Fine-tuned" (and call the studio's reconstruction "Base") while a comparison is offered."""
        comparing = model_source is not None
        self.buttons["finetuned"].setVisible(comparing)
        self.buttons["reconstruction"].setText("Base" if comparing else SOURCE_LABELS["reconstruction"])

    def set_source(self, key: str) -> None:
        self.buttons[key].setChecked(True)

    def source(self) -> str:
        return next(k for k, b in self.buttons.items() if b.isChecked())


class TransportBar(QWidget):
    playToggled = Signal()
    stopClicked = Signal()
    loopToggled = Signal(bool)
    codebookChanged = Signal(int)

    def __init__(self) -> None:
        super().__init__()
        self.setObjectName("transportBar")
        self.play_button = QPushButton("▶  Play")
        self.play_button.setObjectName("playButton")
        self.play_button.setToolTip("Play / pause (Space)")
        self.play_button.setMinimumWidth(90)
        self.stop_button = QPushButton("■")
        self.stop_button.setToolTip("Stop and return to the start (Home)")
        self.stop_button.setFixedWidth(36)
        self.loop_button = QPushButton("⟲ Loop")
        self.loop_button.setObjectName("loopButton")  # the theme lights it while checked, as the source switch
        self.loop_button.setCheckable(True)
        self.loop_button.setToolTip("Loop the highlighted region of the overview (L)")
        for b in (self.play_button, self.stop_button, self.loop_button):
            b.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.clock = QLabel(format_clock(0))
        self.clock.setObjectName("clockLabel")
        clock_font = QFont("monospace", 11)
        clock_font.setStyleHint(QFont.StyleHint.Monospace)
        self.clock.setFont(clock_font)
        # A fixed size, wide enough for any time: a label whose size may change asks its window for
        # a new layout on every setText, and the window then repainted every widget in it 40
        # times a second while playing (20-25 ms of the GUI thread each time).
        self.clock.setFixedSize(QFontMetrics(clock_font).horizontalAdvance("00:00.000 / 00:00.000") + 8,
                                self.clock.sizeHint().height())
        self.source_toggle = SourceToggle()
        self.hearing = SteadyLabel("", Qt.AlignmentFlag.AlignCenter)  # steady: see ui.steady_label
        self.hearing.setObjectName("hearingLabel")
        self.slider = JumpSlider(Qt.Orientation.Horizontal)  # a click on the groove picks the count there
        self.slider.setObjectName("codebookSlider")
        self.slider.setRange(1, 1)
        self.slider.setPageStep(1)
        self.slider.setTickPosition(QSlider.TickPosition.TicksBelow)
        self.slider.setTickInterval(1)
        self.slider.setMinimumWidth(170)
        self.slider.setToolTip("Codebooks used for the reconstruction (keys 1-9)")
        self.bitrate = SteadyLabel("")
        self.bitrate.setObjectName("bitrateLabel")
        self.meter = LevelMeter()

        # Notes sit above or below their controls rather than beside them, so that no text that
        # comes and goes (the "hearing" note, the bitrate) widens the bar: it fits a 1280 px window.
        self.hearing.setStyleSheet("color: #ffd479; font-size: 8pt;")
        # reserved: the note comes and goes at the moment a slider move waits for its decode, and
        # growing then would repaint the whole window just when the GUI should leave the core to it
        self.hearing.reserve(hearing_note(label) for label in SOURCE_LABELS.values())
        source_column = QVBoxLayout()
        source_column.setSpacing(1)
        source_column.addWidget(self.source_toggle)
        source_column.addWidget(self.hearing, 0, Qt.AlignmentFlag.AlignHCenter)
        slider_column = QVBoxLayout()
        slider_column.setSpacing(0)
        slider_column.addWidget(self.bitrate)
        slider_column.addWidget(self.slider)

        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 4, 8, 4)
        layout.setSpacing(8)
        for w in (self.play_button, self.stop_button, self.loop_button, self.clock):
            layout.addWidget(w)
        layout.addSpacing(4)
        layout.addLayout(source_column)
        layout.addSpacing(8)
        layout.addLayout(slider_column, 1)
        layout.addSpacing(8)
        layout.addWidget(self.meter)

        self.play_button.clicked.connect(self.playToggled)
        self.stop_button.clicked.connect(self.stopClicked)
        self.loop_button.toggled.connect(self.loopToggled)
        self.slider.valueChanged.connect(self.codebookChanged)

    def set_codebook_range(self, kbps: tuple[float, ...], n: int) -> None:
        """A model of ``len(kbps)`` codebooks (``kbps[k - 1]`` the bitrate at k), ``n`` selected."""
        self.slider.blockSignals(True)
        self.slider.setRange(1, len(kbps))
        self.slider.setValue(n)
        self.slider.blockSignals(False)
        self.bitrate.reserve(bitrate_text(k, len(kbps), rate) for k, rate in enumerate(kbps, start=1))

    def set_codebooks(self, n: int, n_codebooks: int, kbps: float) -> None:
        if self.slider.value() != n:
            self.slider.blockSignals(True)
            self.slider.setValue(n)
            self.slider.blockSignals(False)
        self.bitrate.setText(bitrate_text(n, n_codebooks, kbps))

    def show_time(self, seconds: float, duration: float) -> None:
        """The clock: where the player is, of ``duration``.

        The player reads whole blocks, so its position passes the clip's end by up to a block
        before it stops; the clock shows the clip's own time, never beyond its length."""
        self.clock.setText(f"{format_clock(min(seconds, duration))} / {format_clock(duration)}")

    def set_playing(self, playing: bool) -> None:
        self.play_button.setText("❚❚  Pause" if playing else "▶  Play")
