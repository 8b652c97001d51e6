"""The blind listening test window: set a test up, run its trials, show the results.

What a listener sees during a trial is letters, sliders and buttons, nothing else: no contestant
names, no clip names or paths, no tooltips, and object names made of letters only, so the
hidden assignment cannot be read off the window (the tests walk every visible widget to check).
The names appear on the results page, after the last trial.

MUSHRA (ITU-R BS.1534-3): the open reference, then every stimulus under a letter with a 0-100
slider on the recommendation's five-band scale; a trial is accepted once something is rated 100.
ABX: A and B, and X that is one of them; the listener says which. Switching letters is seamless
(the player crossfades at the sample being played), by button or letter key (R for the
reference), and the excerpt loops by default. The author chooses each clip's excerpt on the
setup page (start and length; by default the loudest window of the length, or the loop region
given for the studio's clip); the test file records it. Every
answer is saved to the test file at once; "Save and pause" leaves it there, and opening the file
later continues at the first unanswered trial. A trial without sound says why under it (no
output device, or one that stopped and that the letter pressed could not open again): a
listener must not rate silence unaware.
"""
from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (QButtonGroup, QCheckBox, QComboBox, QFileDialog, QFormLayout, QGridLayout,
                               QHBoxLayout, QLabel, QLineEdit, QListWidget, QListWidgetItem, QPushButton,
                               QDoubleSpinBox, QSlider, QSpinBox, QStackedWidget, QVBoxLayout, QWidget)

from app.listening_test.excerpts import DEFAULT_SECONDS, Excerpt
from app.listening_test.plan import LETTERS
from app.listening_test.preparation import ProviderFactory, StimulusPreparation
from app.listening_test.results import abx_summary, mushra_summary, write_listener_results
from app.listening_test.session import ListenerSession
from app.listening_test.stimuli import ANCHOR_KIND, HIDDEN_REFERENCE_KIND, REFERENCE
from app.listening_test.test_file import ListeningTest, ListeningTestFileError, load_test
from app.listening_test.trial_audio import TrialAudio
from app.playback.audio_output import StreamFactory
from app.playback.player import AudioPlayer
from ui import theme
from ui.jump_slider import JumpSlider
from ui.listening_test_chart import BANDS, ResultsChart

AUDIO_SUFFIXES = {".wav", ".flac", ".ogg", ".opus", ".mp3", ".aif", ".aiff"}
TEST_FILTER = "Listening tests (*.json);;All files (*)"
CONTESTANT_KINDS_EXCLUDED_FROM_ABX = {REFERENCE, HIDDEN_REFERENCE_KIND, ANCHOR_KIND}
PLAYING_STYLE = f"QPushButton:checked {{ background: {theme.ACCENT}; color: #0b0c0e; font-weight: bold; }}"


def _seconds_box(name: str, low: float, high: float, prefix: str = "") -> QDoubleSpinBox:
    box = QDoubleSpinBox()
    box.setObjectName(name)
    box.setRange(low, high)
    box.setDecimals(1)
    box.setPrefix(prefix)
    box.setSuffix(" s")
    return box


class ListeningTestWindow(QWidget):
    def __init__(self, make_provider: ProviderFactory, clips: list[str], *, default_spec: str = "2, 4, 8",
                 spec_label: str = "Codebook counts", stream_factory: StreamFactory | None = None,
                 clock: Callable[[], float] = time.monotonic, seed_source: Callable[[], int] | None = None,
                 excerpts: dict[str, Excerpt] | None = None) -> None:
        super().__init__()
        self.excerpts = dict(excerpts or {})  # the author's excerpt by clip; the others: the loudest window
        self.setObjectName("listeningTestMode")
        self.setWindowTitle("Listening test")
        self.resize(980, 640)
        self.make_provider, self.clock = make_provider, clock
        self.seed_source = seed_source or (lambda: secrets.randbelow(2 ** 31))
        # file choices go through these, so scripts and tests can answer without a dialog
        self.ask_save_path = lambda: QFileDialog.getSaveFileName(self, "Save the test as", "listening-test.json",
                                                                 TEST_FILTER)[0]
        self.ask_open_path = lambda: QFileDialog.getOpenFileName(self, "Open a listening test", "", TEST_FILTER)[0]
        self.ask_folder = lambda title: QFileDialog.getExistingDirectory(self, title)
        self.ask_png_path = lambda: QFileDialog.getSaveFileName(self, "Export the chart", "results.png",
                                                                "PNG images (*.png)")[0]
        self.player = AudioPlayer(stream_factory)
        self.audio = TrialAudio(self.player)
        self.session: ListenerSession | None = None
        self.prepared: list[dict] = []
        self._preparation: StimulusPreparation | None = None
        self._pending: tuple | None = None
        self.pages = QStackedWidget()
        self.setup_page = self._build_setup(clips, default_spec, spec_label)
        self.mushra_page = QWidget()
        self.abx_page = self._build_abx()
        self.results_page = self._build_results()
        for page in (self.setup_page, self.mushra_page, self.abx_page, self.results_page):
            self.pages.addWidget(page)
        self.sound_note = QLabel()  # why nothing is heard during a trial; hidden while a device plays
        self.sound_note.setObjectName("soundNote")
        self.sound_note.setWordWrap(True)
        self.sound_note.setStyleSheet(f"color: {theme.RESIDUAL};")
        self.sound_note.hide()
        layout = QVBoxLayout(self)
        layout.addWidget(self.pages)
        layout.addWidget(self.sound_note)

    # -- setup ------------------------------------------------------------------------------
    def _build_setup(self, clips: list[str], default_spec: str, spec_label: str) -> QWidget:
        page = QWidget()
        form = QFormLayout()
        self.kind = QComboBox()
        self.kind.setObjectName("testKind")
        self.kind.addItem("MUSHRA: rate every version against the reference", "mushra")
        self.kind.addItem("ABX: tell the original from one version", "abx")
        self.listener_name = QLineEdit()
        self.listener_name.setObjectName("listenerName")
        self.listener_name.setPlaceholderText("who is listening")
        self.contestants = QLineEdit(default_spec)
        self.contestants.setObjectName("testContestants")
        self.repeats = QSpinBox()
        self.repeats.setObjectName("abxRepeats")
        self.repeats.setRange(1, 100)
        self.repeats.setValue(10)
        form.addRow("Test", self.kind)
        form.addRow("Listener", self.listener_name)
        form.addRow(spec_label, self.contestants)
        exact = QLabel("Models render exactly (float32) here, whatever View > Fast mode says: "
                       "the scores are the codec's own, not those of its faster approximation.")
        exact.setObjectName("testExactNote")
        exact.setWordWrap(True)
        form.addRow("", exact)
        form.addRow("ABX trials per version and clip", self.repeats)
        self.clip_list = QListWidget()
        self.clip_list.setObjectName("testClips")
        for clip in clips:
            self.add_clip(clip, checked=False)
        add_folder = QPushButton("Add a folder of clips…")
        add_folder.setObjectName("addClipFolder")
        add_folder.clicked.connect(self._add_folder)
        self.start_button = QPushButton("Start a new test…")
        self.start_button.setObjectName("listeningTestStart")
        self.start_button.clicked.connect(self.start_new)
        self.open_button = QPushButton("Continue a saved test…")
        self.open_button.setObjectName("listeningTestOpen")
        self.open_button.clicked.connect(lambda: self.resume(self.ask_open_path()))
        self.status = QLabel("Choose the clips (a MUSHRA trial per clip), then start.")
        self.status.setObjectName("testStatus")
        self.status.setWordWrap(True)
        buttons = QHBoxLayout()
        buttons.addWidget(add_folder)
        buttons.addStretch(1)
        buttons.addWidget(self.open_button)
        buttons.addWidget(self.start_button)
        layout = QVBoxLayout(page)
        layout.addLayout(form)
        layout.addWidget(QLabel("Clips"))
        layout.addWidget(self.clip_list, 1)
        layout.addLayout(self._build_excerpt_row())
        layout.addLayout(buttons)
        layout.addWidget(self.status)
        return page

    def _build_excerpt_row(self) -> QHBoxLayout:
        """The selected clip's excerpt: the loudest window of a length, or from a chosen start."""
        self.excerpt_loudest = QCheckBox("the loudest")
        self.excerpt_loudest.setObjectName("excerptLoudest")
        self.excerpt_start = _seconds_box("excerptStart", 0.0, 86400.0, "from ")
        self.excerpt_length = _seconds_box("excerptLength", 1.0, 60.0)
        for signal in (self.excerpt_loudest.toggled, self.excerpt_start.valueChanged, self.excerpt_length.valueChanged):
            signal.connect(self._excerpt_edited)
        self.clip_list.currentRowChanged.connect(self._show_excerpt)
        row = QHBoxLayout()
        row.addWidget(QLabel("Excerpt of the selected clip:"))
        row.addWidget(self.excerpt_length)
        row.addWidget(self.excerpt_loudest)
        row.addWidget(self.excerpt_start)
        row.addStretch(1)
        self._show_excerpt(-1)
        return row

    def excerpt_of(self, clip: str) -> Excerpt:
        """The excerpt chosen for ``clip`` (its start None: the loudest window of its length)."""
        return self.excerpts.get(clip, Excerpt(None, DEFAULT_SECONDS))

    def _show_excerpt(self, row: int) -> None:
        item = self.clip_list.item(row) if row >= 0 else None
        excerpt = self.excerpt_of(item.text()) if item is not None else Excerpt(None, DEFAULT_SECONDS)
        editors = (self.excerpt_loudest, self.excerpt_start, self.excerpt_length)
        for editor in editors:
            editor.blockSignals(True)
            editor.setEnabled(item is not None)
        self.excerpt_loudest.setChecked(excerpt.start is None)
        self.excerpt_start.setValue(excerpt.start or 0.0)
        self.excerpt_length.setValue(excerpt.seconds)
        self.excerpt_start.setEnabled(item is not None and excerpt.start is not None)
        for editor in editors:
            editor.blockSignals(False)

    def _excerpt_edited(self) -> None:
        item = self.clip_list.currentItem()
        if item is None:
            return
        loudest = self.excerpt_loudest.isChecked()
        start = None if loudest else self.excerpt_start.value()
        self.excerpts[item.text()] = Excerpt(start, self.excerpt_length.value())
        self.excerpt_start.setEnabled(not loudest)

    def add_clip(self, path: str, checked: bool = True) -> None:
        item = QListWidgetItem(str(path))
        item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
        item.setCheckState(Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked)
        self.clip_list.addItem(item)

    def _add_folder(self) -> None:
        folder = self.ask_folder("Add the audio files of a folder")
        if folder:
            for path in sorted(Path(folder).iterdir()):
                if path.suffix.lower() in AUDIO_SUFFIXES:
                    self.add_clip(str(path))

    def chosen_clips(self) -> list[str]:
        return [self.clip_list.item(i).text() for i in range(self.clip_list.count())
                if self.clip_list.item(i).checkState() == Qt.CheckState.Checked]

    def _say(self, text: str) -> None:
        self.status.setText(text)
        self.pages.setCurrentWidget(self.setup_page)

    def start_new(self) -> None:
        """Render the chosen clips' stimuli, then save a new test and play its first trial."""
        clips, name = self.chosen_clips(), self.listener_name.text().strip()
        if not clips or not name:
            self._say("Choose at least one clip and enter the listener's name.")
            return
        path = self.ask_save_path()
        if path:
            self._prepare(("new", path, clips), self.contestants.text(), clips, [self.excerpt_of(c) for c in clips])

    def resume(self, path: str) -> None:
        """Open a saved test and continue it for the listener named in the setup (added if new)."""
        if not path:
            return
        if not self.listener_name.text().strip():
            self._say("Enter the listener's name to continue a test.")
            return
        try:
            test = load_test(path)
        except ListeningTestFileError as exc:
            self._say(f"Could not open the test: {exc}")
            return
        self._prepare(("resume", path, test), test.contestant_spec, test.clips, test.excerpts)

    def _prepare(self, pending: tuple, spec: str, clips: list[str], excerpts: list[Excerpt]) -> None:
        self._pending = pending
        self.start_button.setEnabled(False)
        self.open_button.setEnabled(False)
        self._say("Preparing the sounds…")
        self._preparation = StimulusPreparation(self.make_provider, spec, clips, excerpts)
        self._preparation.progress.connect(lambda done, total: self._say(f"Preparing the sounds: clip {done + 1} of {total}…"))
        self._preparation.prepared.connect(self._on_prepared)
        self._preparation.failed.connect(self._on_failed)
        self._preparation.start()

    def _end_preparation(self) -> None:
        if self._preparation is not None:
            self._preparation.wait()
            self._preparation = None
        self.start_button.setEnabled(True)
        self.open_button.setEnabled(True)

    def _on_failed(self, reason: str) -> None:
        self._end_preparation()
        self._say(f"Could not prepare the sounds: {reason}")

    def _on_prepared(self, prepared: list[dict], excerpts: list[Excerpt]) -> None:
        self._end_preparation()
        self.prepared = prepared
        mode, path, third = self._pending
        stimuli = prepared[0]
        if mode == "new":
            original = next(name for name, s in stimuli.items() if s.kind == REFERENCE)
            kind = self.kind.currentData()
            names = [n for n, s in stimuli.items() if s.kind != REFERENCE] if kind == "mushra" else \
                [n for n, s in stimuli.items() if s.kind not in CONTESTANT_KINDS_EXCLUDED_FROM_ABX]
            test = ListeningTest(kind, third, self.contestants.text(), original, names, self.seed_source(),
                                 self.repeats.value(), excerpts=excerpts)
        else:
            test = third
            missing = sorted(set(test.stimuli + [test.original]) - set(stimuli))
            if missing:
                self._say(f"Could not continue the test: the sounds no longer include {', '.join(missing)}")
                return
        try:
            self.session = ListenerSession(test, self.listener_name.text().strip(), path, self.clock)
        except OSError as exc:
            self._say(f"Could not save the test: {exc}")
            return
        if test.kind == "mushra":
            self._build_mushra(len(test.stimuli))
        self._next_trial()

    # -- trials -----------------------------------------------------------------------------
    def _transport(self, layout: QHBoxLayout) -> None:
        stop = QPushButton("Stop")
        stop.setObjectName("stopPlayback")
        stop.clicked.connect(self.audio.stop)
        loop = QCheckBox("Loop")
        loop.setObjectName("loopPlayback")
        loop.setChecked(True)
        loop.toggled.connect(self.audio.set_looping)
        pause = QPushButton("Save and pause")
        pause.setObjectName("pauseTest")
        pause.clicked.connect(self.pause)
        layout.addWidget(stop)
        layout.addWidget(loop)
        layout.addStretch(1)
        layout.addWidget(pause)

    def _letter_button(self, letter: str, group: QButtonGroup, text: str | None = None) -> QPushButton:
        button = QPushButton(text or letter)
        button.setObjectName(f"play{letter}")
        button.setCheckable(True)
        button.setMinimumHeight(36)
        button.setStyleSheet(PLAYING_STYLE)
        key = QShortcut(QKeySequence(letter[0]), group.parent())  # A, B, C... and R for the reference
        key.activated.connect(button.click)  # a page's keys work while it is shown
        group.addButton(button)
        button.clicked.connect(lambda _=False, l=letter: self._note_sound(self.audio.select(l)))
        return button

    def _build_mushra(self, count: int) -> None:
        old = self.mushra_page
        page = QWidget()
        self.pages.insertWidget(self.pages.indexOf(old), page)
        self.pages.removeWidget(old)
        old.deleteLater()
        self.mushra_page = page
        self.mushra_counter = QLabel()
        self.mushra_counter.setObjectName("trialCounter")
        group = QButtonGroup(page)
        self.letter_buttons = [self._letter_button("Ref", group, "Reference")]
        grid = QGridLayout()
        grid.addWidget(self.letter_buttons[0], 0, 0)
        scale = QVBoxLayout()
        for _low, label in BANDS:
            text = QLabel(label)
            text.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            scale.addWidget(text, 1)
        grid.addLayout(scale, 1, 0)
        self.sliders: dict[str, JumpSlider] = {}
        self.slider_values: dict[str, QLabel] = {}
        for column, letter in enumerate(LETTERS[:count], 1):
            self.letter_buttons.append(self._letter_button(letter, group))
            slider = JumpSlider(Qt.Orientation.Vertical)  # a click on the scale rates where it lands
            slider.setObjectName(f"rate{letter}")
            slider.setRange(0, 100)
            slider.setMinimumHeight(260)
            slider.setTickPosition(QSlider.TickPosition.TicksBothSides)
            slider.setTickInterval(20)
            value = QLabel("0")
            value.setObjectName(f"score{letter}")
            value.setAlignment(Qt.AlignmentFlag.AlignCenter)
            slider.valueChanged.connect(lambda v, label=value: (label.setText(str(v)), self._update_submit()))
            self.sliders[letter], self.slider_values[letter] = slider, value
            grid.addWidget(self.letter_buttons[-1], 0, column)
            grid.addWidget(slider, 1, column, Qt.AlignmentFlag.AlignHCenter)
            grid.addWidget(value, 2, column)
        self.submit = QPushButton("Next trial")
        self.submit.setObjectName("submitTrial")
        self.submit.clicked.connect(self.submit_mushra)
        self.mushra_hint = QLabel("Rate every letter against the reference; the reference is also hidden among "
                                  "them, so rate at least one 100.")
        self.mushra_hint.setWordWrap(True)
        transport = QHBoxLayout()
        self._transport(transport)
        transport.addWidget(self.submit)
        layout = QVBoxLayout(page)
        layout.addWidget(self.mushra_counter)
        layout.addLayout(grid, 1)
        layout.addWidget(self.mushra_hint)
        layout.addLayout(transport)

    def _build_abx(self) -> QWidget:
        page = QWidget()
        self.abx_counter = QLabel()
        self.abx_counter.setObjectName("trialCounter")
        group = QButtonGroup(page)
        row = QHBoxLayout()
        self.abx_buttons = [self._letter_button(letter, group) for letter in ("A", "B", "X")]
        for button in self.abx_buttons:
            row.addWidget(button)
        answers = QHBoxLayout()
        for letter in ("A", "B"):
            button = QPushButton(f"X is {letter}")
            button.setObjectName(f"answer{letter}")
            button.setMinimumHeight(44)
            button.clicked.connect(lambda _=False, l=letter: self.submit_abx(l))
            answers.addWidget(button)
        transport = QHBoxLayout()
        self._transport(transport)
        layout = QVBoxLayout(page)
        layout.addWidget(self.abx_counter)
        layout.addWidget(QLabel("Listen to A, B and X as often as you like, then say which one X is."))
        layout.addLayout(row)
        layout.addStretch(1)
        layout.addLayout(answers)
        layout.addLayout(transport)
        return page

    def _next_trial(self) -> None:
        session = self.session
        if session.finished:
            self.audio.stop()
            self.show_results()
            return
        stimuli = self.prepared[session.clip]
        letters = session.letters()
        playable = {letter: stimuli[session.stimulus_for(letter)] for letter in letters}
        counter = f"Trial {session.index + 1} of {session.total}"
        if session.test.kind == "mushra":
            self.audio.load({"Ref": stimuli[session.test.original], **playable})
            for slider in self.sliders.values():
                slider.setValue(0)
            self.mushra_counter.setText(counter)
            self._update_submit()
            self.letter_buttons[0].setChecked(True)
            self.pages.setCurrentWidget(self.mushra_page)
        else:
            self.audio.load(playable)
            self.abx_counter.setText(counter)
            self.abx_buttons[0].setChecked(True)
            self.pages.setCurrentWidget(self.abx_page)
        self._note_sound(self.player.unavailable_reason)
        session.begin_trial()

    def _note_sound(self, silent: str | None) -> None:
        """Say why nothing is heard (no device, or it stopped and a letter could not open it again), or nothing."""
        self.sound_note.setText(f"{silent[:1].upper()}{silent[1:]}." if silent else "")
        self.sound_note.setVisible(bool(silent))

    def _update_submit(self) -> None:
        self.submit.setEnabled(any(s.value() == 100 for s in self.sliders.values()))

    def submit_mushra(self) -> None:
        self._answer(lambda: self.session.submit_mushra({l: s.value() for l, s in self.sliders.items()}))

    def submit_abx(self, answer: str) -> None:
        self._answer(lambda: self.session.submit_abx(answer))

    def _answer(self, submit: Callable[[], object]) -> None:
        """Record an answer and go on; if it cannot be saved, stop there (the trial stays unanswered)."""
        try:
            submit()
        except OSError as exc:
            self.audio.stop()
            self._say(f"Could not save the answer, the test is paused: {exc}")
            return
        self._next_trial()

    def pause(self) -> None:
        """Stop here: every answer so far is in the test file; the trial in progress is asked again."""
        self.audio.stop()
        session = self.session
        self._say(f"Paused after {session.index} of {session.total} trials; the answers are saved. "
                  "Continue with “Continue a saved test…”.")

    # -- results ----------------------------------------------------------------------------
    def _build_results(self) -> QWidget:
        page = QWidget()
        page.setObjectName("listeningTestResults")
        self.chart = ResultsChart()
        self.results_text = QLabel()
        self.results_text.setObjectName("resultsText")
        self.results_text.setWordWrap(True)
        self.results_text.setTextFormat(Qt.TextFormat.RichText)
        export_png = QPushButton("Export the chart as PNG…")
        export_png.setObjectName("exportChart")
        export_png.clicked.connect(lambda: self.export_chart(self.ask_png_path()))
        export_tables = QPushButton("Export results (CSV and JSON)…")
        export_tables.setObjectName("exportResults")
        export_tables.clicked.connect(lambda: self.export_results(self.ask_folder("Export the results to")))
        new_test = QPushButton("Back to setup")
        new_test.clicked.connect(lambda: self._say("Choose the clips, then start."))
        buttons = QHBoxLayout()
        buttons.addWidget(new_test)
        buttons.addStretch(1)
        buttons.addWidget(export_tables)
        buttons.addWidget(export_png)
        layout = QVBoxLayout(page)
        layout.addWidget(self.chart, 1)
        layout.addWidget(self.results_text)
        layout.addLayout(buttons)
        return page

    def show_results(self) -> None:
        self._note_sound(None)
        test = self.session.test
        if test.kind == "mushra":
            summary = mushra_summary(test)
            self.chart.show_mushra(summary, test.stimuli)
            lines = [f"{name}: {i.mean:.1f}" + (f" ± {i.half_width:.1f}" if i.half_width is not None else "") +
                     f" (95 % interval, {i.count} scores)" for name, i in summary.overall.items()]
            excluded = [s for s in summary.screenings if s.excluded]
            lines += [f"Excluded by post-screening: {s.listener} rated the hidden reference below 90 in "
                      f"{s.low_reference_trials} of {s.trials} trials (more than 15 %)." for s in excluded]
            if not excluded:
                lines.append(f"Post-screening (hidden reference below 90 in more than 15 % of trials): "
                             f"all {len(summary.screenings)} listeners kept.")
        else:
            scores = abx_summary(test)
            self.chart.show_abx(scores)
            lines = [f"{s.listener}, {s.contestant}: {s.correct} of {s.trials} right, one-sided p = {s.p_value:.4g}"
                     for s in scores]
        self.results_text.setText("<br>".join(lines))
        self.pages.setCurrentWidget(self.results_page)

    def export_chart(self, path: str) -> None:
        if path:
            self.chart.grab().save(path, "PNG")

    def export_results(self, folder: str) -> list[Path]:
        """Every listener's CSV and JSON into ``folder``; their paths."""
        if not folder:
            return []
        test = self.session.test
        written = [p for listener in test.listeners for p in write_listener_results(test, listener, folder)]
        self.results_text.setText(self.results_text.text() + f"<br>Wrote {len(written)} files.")
        return written

    def closeEvent(self, event) -> None:
        if self._preparation is not None:
            self._preparation.cancel()
            self._end_preparation()
        self.player.close()
        super().closeEvent(event)
