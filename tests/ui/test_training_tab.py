"""The training tab in the real window, offscreen, with the real `rvq-studio train` process.

The studio opens a clip with an untrained copy of the ``tiny`` architecture as its model; the
tab fine-tunes it (tiny preset, generated recordings) so that the run's model can be compared
with the studio's on the same clip, sample clock and codebook slider.  A fixture fails a test
that leaves a training process of its own behind.
"""
from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QScrollArea, QWidget

from app.training.run_launch import process_alive
from synthetic_audio import write_recordings_folder
from app.training.run import ACTIVE, FAILED, FINISHED, PAUSED, RUNNING, STOPPED
from model import load_codec
from model.export import save_model_file
from model.training.exported_model import read_training_summary
from model.registry import family, preset
from ui.main_window import build_main_window
from ui.training_tab import TrainingTab

OBJECT_NAMES = ["trainingTab", "trainDataPath", "trainPreset", "trainSteps", "trainStart", "trainPause",
                "trainStop", "trainLossPlot", "trainUseModel"]
TIMEOUT_MS = 120_000


def training_processes(folder: Path) -> list[int]:
    """PIDs of live processes whose command line mentions ``folder``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if str(folder) in cmdline and process_alive(int(entry.name), None):
                found.append(int(entry.name))
    return found


@pytest.fixture(autouse=True)
def closing_stops_the_run(monkeypatch):
    """No modal question in tests: closing a window stops its run unless a test answers otherwise."""
    monkeypatch.setattr(TrainingTab, "ask_close_choice", lambda self: "stop")


@pytest.fixture
def no_leftover_training(tmp_path):
    yield
    deadline = time.monotonic() + 60  # a stopped run finishes its step and writes a checkpoint first
    while training_processes(tmp_path) and time.monotonic() < deadline:
        time.sleep(0.2)
    left = training_processes(tmp_path)
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert not left, f"training processes left running: {left}"


@pytest.fixture
def tiny_base(tmp_path) -> Path:
    torch.manual_seed(0)
    architecture = preset("tiny").architecture
    path = tmp_path / "tiny-base.safetensors"
    save_model_file(family("dac").build(architecture), path, family="dac", config=architecture, name="tiny base",
                    trained=False)
    return path


@pytest.fixture
def recordings(tmp_path) -> Path:
    return write_recordings_folder(tmp_path / "recordings")


def open_window(qtbot, clip: Path, model: Path):
    window = build_main_window(str(clip), str(model), open_demo=False)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitUntil(lambda: window.session.clip is not None, timeout=TIMEOUT_MS)
    return window


@pytest.fixture
def window(qtbot, music_path, tiny_base, no_leftover_training):
    w = open_window(qtbot, music_path, tiny_base)
    w.pages.setCurrentWidget(w.training)
    yield w
    w.shutdown()


def choose_data(qtbot, tab, folder: Path) -> None:
    tab.data_panel.set_folder(str(folder))
    qtbot.waitUntil(lambda: tab.data is not None, timeout=TIMEOUT_MS)


def set_up_quick_tiny(tab, steps: int) -> None:
    tab.setup.mode_box.setCurrentIndex(tab.setup.mode_box.findData("quick"))
    tab.setup.preset_box.setCurrentText("tiny")
    tab.findChild(QWidget, "trainSteps").setValue(steps)


def start_tiny_run(qtbot, tab, recordings: Path, until_step: int) -> None:
    """A quick decoder-only fine-tune with the tiny preset, running until it has reached ``until_step``."""
    choose_data(qtbot, tab, recordings)
    set_up_quick_tiny(tab, 2000)
    click(qtbot, tab, "trainStart")
    assert tab.run.state == RUNNING
    qtbot.waitUntil(lambda: tab.history.step >= until_step, timeout=TIMEOUT_MS)


def click(qtbot, tab, name: str) -> None:
    button = tab.findChild(QWidget, name)
    assert button.isEnabled(), f"{name} is disabled"
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def test_key_controls_have_stable_object_names(window):
    for name in OBJECT_NAMES:
        assert window.findChild(QWidget, name) is not None, name


def test_a_dropped_folder_is_scanned_and_too_little_audio_is_said(qtbot, window, recordings):
    tab = window.training
    (recordings / "field" / "broken.wav").write_bytes(b"RIFF....WAVEfmt not audio")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(recordings))])
    drop = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                      Qt.KeyboardModifier.NoModifier)
    tab.dropEvent(drop)
    qtbot.waitUntil(lambda: tab.data is not None, timeout=TIMEOUT_MS)
    assert tab.findChild(QWidget, "trainDataPath").text() == str(recordings)
    groups = tab.findChild(QWidget, "trainDataGroups")
    assert [groups.item(i, 0).text() for i in range(groups.rowCount())] == ["field", "music", "speech"]
    assert tab.data_panel.unreadable.item(0).text() == "✕ field/broken.wav"
    warnings = tab.findChild(QWidget, "trainDataWarnings")
    tab.setup.mode_box.setCurrentIndex(tab.setup.mode_box.findData("scratch"))
    tab.setup.preset_box.setCurrentText("default")  # validates on 24 x 2 s: far more than the held-out files hold
    assert "Too little audio for validation" in warnings.text()
    tab.setup.preset_box.setCurrentText("tiny")  # 2 x 0.5 s
    assert "Too little audio for validation" not in warnings.text()
    assert "cannot be read" in warnings.text()


def test_typing_a_number_into_the_setup_does_not_move_the_studios_slider(qtbot, window):
    steps = window.training.findChild(QWidget, "trainSteps")
    n = window.session.n
    steps.setFocus()
    steps.selectAll()
    qtbot.keyClicks(steps, "1")
    assert steps.value() == 1 and window.session.n == n


def test_a_crashing_training_is_reported_and_the_studio_carries_on(qtbot, window, recordings, tiny_base, tmp_path):
    tab = window.training
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{\"format\": oops}")
    choose_data(qtbot, tab, recordings)
    set_up_quick_tiny(tab, 50)
    tab.setup.select_base(str(broken))
    click(qtbot, tab, "trainStart")
    qtbot.waitUntil(lambda: tab.run.state == FAILED, timeout=TIMEOUT_MS)
    assert tab.messages.level == "error"
    assert "Training failed" in tab.messages.text() and "broken.safetensors" in tab.messages.text()
    assert tab.findChild(QWidget, "trainStart").isEnabled()
    window.session.set_n(1)  # the studio is untouched
    assert window.session.n == 1 and window.session.model.source == str(tiny_base)


def test_a_killed_training_process_is_reported_and_the_studio_carries_on(qtbot, window, recordings):
    tab = window.training
    start_tiny_run(qtbot, tab, recordings, until_step=1)
    os.kill(tab.run.pid, signal.SIGKILL)  # as the out-of-memory killer would: no report, no checkpoint
    qtbot.waitUntil(lambda: tab.run.state == FAILED, timeout=TIMEOUT_MS)
    assert tab.messages.level == "error"
    assert "killed by signal 9" in tab.messages.text() and "without a final report" in tab.messages.text()
    assert tab.findChild(QWidget, "trainStart").isEnabled() and window.isVisible()
    window.findChild(QWidget, "codebookSlider").setValue(1)  # the studio is untouched
    assert window.session.n == 1 and window.session.clip is not None


def test_a_segfaulting_training_process_is_reported_with_its_last_words(qtbot, window, recordings, tmp_path):
    tab = window.training
    crashing = tmp_path / "crashing-python"  # stands in for the interpreter: dies of SIGSEGV at once
    crashing.write_text("#!/bin/sh\necho 'Fatal Python error: Segmentation fault' >&2\nkill -SEGV $$\n")
    crashing.chmod(0o755)
    tab.run.python = str(crashing)
    choose_data(qtbot, tab, recordings)
    set_up_quick_tiny(tab, 50)
    click(qtbot, tab, "trainStart")
    qtbot.waitUntil(lambda: tab.run.state == FAILED, timeout=TIMEOUT_MS)
    text = tab.messages.text()
    assert "killed by signal 11" in text and "Fatal Python error: Segmentation fault" in text
    assert tab.findChild(QWidget, "trainStart").isEnabled()


def test_reopening_offers_to_resume_a_paused_run_and_resume_continues_it(qtbot, music_path, tiny_base,
                                                                         recordings, no_leftover_training):
    first = open_window(qtbot, music_path, tiny_base)
    tab = first.training
    start_tiny_run(qtbot, tab, recordings, until_step=2)
    click(qtbot, tab, "trainPause")
    qtbot.waitUntil(lambda: tab.run.state == PAUSED, timeout=TIMEOUT_MS)
    paused_at, folder = tab.history.step, tab.run.run_folder
    assert first.close()  # nothing runs: no question asked

    second = open_window(qtbot, music_path, tiny_base)
    try:
        again = second.training
        assert again.run.state == PAUSED and again.run.run_folder == folder
        offer = again.messages.text()
        assert f"stopped at step {paused_at:,}" in offer and "Resume continues it" in offer
        resume = again.findChild(QWidget, "trainPause")
        assert resume.text().endswith("Resume") and resume.isEnabled()
        click(qtbot, again, "trainPause")
        qtbot.waitUntil(lambda: again.run.state == RUNNING and again.history.step > paused_at, timeout=TIMEOUT_MS)
        assert again.history.start["resumed"] and again.history.start["step"] == paused_at
        click(qtbot, again, "trainStop")
        qtbot.waitUntil(lambda: again.run.state == STOPPED, timeout=TIMEOUT_MS)
    finally:
        second.shutdown()


def test_the_setup_column_is_not_covered_by_its_scroll_bar_and_tables_fit_their_rows(qtbot, window, recordings):
    tab = window.training
    (recordings / "field" / "broken.wav").write_bytes(b"RIFF....WAVEfmt not audio")
    window.resize(1280, 800)
    choose_data(qtbot, tab, recordings)
    qtbot.wait(50)
    scroll = tab.findChild(QScrollArea)
    assert scroll.verticalScrollBar().isVisible()  # 800 px: the column scrolls...
    assert scroll.widget().width() <= scroll.viewport().width()  # ...beside its content, not over it
    groups = tab.findChild(QWidget, "trainDataGroups")
    assert groups.viewport().height() == groups.verticalHeader().length()  # three rows, no blank band
    unreadable = tab.data_panel.unreadable
    assert unreadable.isVisible() and unreadable.viewport().height() == unreadable.sizeHintForRow(0)
    (recordings / "field" / "broken.wav").unlink()
    choose_data(qtbot, tab, recordings)
    assert not unreadable.isVisible()  # shown only when some file cannot be read


def finished_tiny_run(qtbot, tab, recordings: Path, steps: int, lr: float | None = None) -> None:
    """A quick tiny fine-tune of ``steps`` steps (validated at step 0, 3, 6...) run to its end."""
    choose_data(qtbot, tab, recordings)
    set_up_quick_tiny(tab, steps)
    if lr is not None:
        tab.setup.lr_box.setValue(lr)
    click(qtbot, tab, "trainStart")
    qtbot.waitUntil(lambda: tab.run.state == FINISHED, timeout=TIMEOUT_MS)


def test_when_the_best_is_the_starting_model_use_this_model_says_so_and_keeps_the_chosen_latest(
        qtbot, window, recordings):
    tab = window.training
    (recordings / "field" / "broken.wav").write_bytes(b"RIFF....WAVEfmt not audio")  # the data panel at its tallest
    choose_data(qtbot, tab, recordings)
    set_up_quick_tiny(tab, 3)
    tab.setup.lr_box.setValue(1.0)  # far too high: step 3 validates worse than the untrained base
    click(qtbot, tab, "trainMeasure")
    estimate = tab.findChild(QWidget, "trainEstimate")
    qtbot.waitUntil(lambda: "This run:" in estimate.text(), timeout=TIMEOUT_MS)
    measured = estimate.text()
    finished_tiny_run(qtbot, tab, recordings, 3, lr=1.0)
    assert tab.history.best.step == 0 and tab.history.validations[-1].step == 3

    note = tab.findChild(QWidget, "trainKeepNote")
    assert note.isVisible() and "the best by validation is the base model unchanged" in note.text()
    best, latest = tab.findChild(QWidget, "trainKeepBest"), tab.findChild(QWidget, "trainKeepLatest")
    assert best.isChecked() and best.text().startswith("best by validation: step 0")
    assert latest.isVisible() and latest.text().startswith("latest: step 3")
    latest.click()
    assert "validation at step 3:" in tab.findChild(QWidget, "trainResultSummary").toPlainText()

    use = tab.findChild(QWidget, "trainUseModel")
    for size in ((1600, 1000), (1280, 800)):  # "Use this model" in view, however the setup above it scrolls
        window.resize(*size)
        qtbot.wait(50)
        assert use.isVisible() and tab.rect().contains(use.mapTo(tab, use.rect().bottomRight()))
        assert not use.visibleRegion().isEmpty() and use.visibleRegion().boundingRect() == use.rect()

    click(qtbot, tab, "trainUseModel")
    kept = window.settings.models_folder() / f"{tab.run.run_folder.name}.safetensors"
    assert load_codec(kept).digest() == load_codec(tab.run.run_folder / "latest.safetensors").digest()
    assert read_training_summary(kept)["steps"] == 3 and "Kept the latest: step 3" in tab.messages.text()
    # keeping a model leaves the setup as it was: steps, learning rate, measurement
    assert tab.setup.steps_box.value() == 3 and tab.setup.lr_box.value() == 1.0
    assert tab.setup.preset_box.currentText() == "tiny" and estimate.text() == measured


def test_a_new_run_clears_the_previous_result_and_says_what_it_is_doing(qtbot, window, recordings):
    tab = window.training
    finished_tiny_run(qtbot, tab, recordings, 3)
    use = tab.findChild(QWidget, "trainUseModel")
    assert use.isEnabled()
    click(qtbot, tab, "trainStart")
    assert tab.run.state == RUNNING
    assert not use.isEnabled() and "appear here after its first validation" in tab.result.text.text()
    assert "No model chosen yet" in tab.details.model_summary.toPlainText()
    phase, progress = tab.findChild(QWidget, "trainPhase"), tab.findChild(QWidget, "trainProgress")
    assert phase.text().startswith("Starting: loading the model")
    assert progress.maximum() == 0  # busy, not a bar stuck at step 0
    qtbot.waitUntil(lambda: tab.run.state == FINISHED, timeout=TIMEOUT_MS)
    assert phase.text() == "" and progress.maximum() == 3 and use.isEnabled()


def test_the_setup_and_the_recordings_come_back_at_the_next_launch(qtbot, music_path, tiny_base, recordings,
                                                                   no_leftover_training):
    first = open_window(qtbot, music_path, tiny_base)
    tab = first.training
    choose_data(qtbot, tab, recordings)
    set_up_quick_tiny(tab, 60)
    tab.setup.select_base(str(tiny_base))
    tab.setup.lr_box.setValue(0.002)
    first.shutdown()

    second = open_window(qtbot, music_path, tiny_base)
    try:
        again = second.training
        assert again.setup.mode == "quick" and again.setup.base_model == str(tiny_base)
        assert again.setup.preset_box.currentText() == "tiny" and again.setup.steps_box.value() == 60
        assert again.setup.lr_box.value() == pytest.approx(0.002)
        assert again.data_panel.folder() == str(recordings)
        qtbot.waitUntil(lambda: again.data is not None, timeout=TIMEOUT_MS)
    finally:
        second.shutdown()


@pytest.mark.slow
def test_train_watch_preview_pause_resume_stop_and_use_the_model(qtbot, window, recordings):
    tab, session = window.training, window.session
    start_tiny_run(qtbot, tab, recordings, until_step=3)
    # the scan's minutes are the trainer's
    assert tab.history.data["train"]["minutes"] == pytest.approx(tab.data.train_minutes, abs=1e-3)
    assert tab.history.data["validation"]["minutes"] == pytest.approx(tab.data.validation_minutes, abs=1e-3)
    # the charts are redrawn from the history at most every REDRAW_MS, so wait for one redraw
    mel = tab.charts.loss_curves["mel"]
    qtbot.waitUntil(lambda: mel.xData is not None and len(mel.xData) >= 3, timeout=TIMEOUT_MS)
    assert list(mel.xData) == tab.history.steps[: len(mel.xData)] and np.isfinite(mel.yData).all()

    # the preview: Fine-tuned beside Base on the studio's switch
    qtbot.waitUntil(lambda: session.comparison.renders(session.clip), timeout=TIMEOUT_MS)
    toggle = window.transport.source_toggle
    assert not toggle.buttons["finetuned"].isHidden() and toggle.buttons["reconstruction"].text() == "Base"
    session.set_source("finetuned")
    n = session.n
    qtbot.waitUntil(lambda: session.comparison.clip.cache.is_complete(n), timeout=TIMEOUT_MS)
    assert session.player.requested == ("finetuned", n)

    click(qtbot, tab, "trainPause")
    qtbot.waitUntil(lambda: tab.run.state == PAUSED, timeout=TIMEOUT_MS)
    paused_at = tab.history.step
    assert tab.findChild(QWidget, "trainPause").text().endswith("Resume")

    # paused, the run's files hold still: the preview must be exactly the last validated model on the clip
    latest = tab.history.validations[-1]
    assert read_training_summary(tab.run.run_folder / "latest.safetensors")["steps"] == latest.step
    tuned = load_codec(tab.run.run_folder / "latest.safetensors")
    qtbot.waitUntil(lambda: session.comparison.renders(session.clip) and session.comparison.worker.codec is not None
                    and session.comparison.worker.codec.digest() == tuned.digest(), timeout=TIMEOUT_MS)
    clip = session.comparison.clip
    qtbot.waitUntil(lambda: clip.encoding.complete and clip.cache.is_complete(n), timeout=TIMEOUT_MS)
    assert np.array_equal(clip.codes, session.clip.codes)  # decoder-only: the base's codes, unchanged
    whole = tuned.decode(torch.from_numpy(clip.codes[:, :n]))[:, 0, : clip.length].numpy().T
    np.testing.assert_allclose(clip.cache.assemble(n) * np.float32(clip.gain), whole, atol=1e-5)

    click(qtbot, tab, "trainPause")  # Resume
    qtbot.waitUntil(lambda: tab.run.state == RUNNING and tab.history.step > paused_at, timeout=TIMEOUT_MS)
    assert tab.history.start["resumed"] and tab.history.start["step"] == paused_at
    click(qtbot, tab, "trainStop")
    qtbot.waitUntil(lambda: tab.run.state == STOPPED, timeout=TIMEOUT_MS)

    click(qtbot, tab, "trainUseModel")
    kept = window.settings.models_folder() / f"{tab.run.run_folder.name}.safetensors"
    best = load_codec(tab.run.run_folder / "model.safetensors")
    assert load_codec(kept).digest() == best.digest()  # the best, kept
    picker = window.model_box
    index = picker.findData(str(kept))
    assert index >= 0 and "fine-tuned from tiny-base.safetensors" in picker.itemData(index, Qt.ItemDataRole.ToolTipRole)
    window.load_model(str(kept))
    qtbot.waitUntil(lambda: session.model is not None and session.model.source == str(kept), timeout=TIMEOUT_MS)
    assert session.model.name == kept.stem  # under its own name, not its base's


@pytest.mark.slow  # a training process started and followed by two windows (about 9 s): the fast suite keeps its ten-minute budget
def test_closing_asks_about_a_running_training_and_the_next_window_follows_it(qtbot, music_path, tiny_base,
                                                                              recordings, no_leftover_training):
    first = open_window(qtbot, music_path, tiny_base)
    tab = first.training
    start_tiny_run(qtbot, tab, recordings, until_step=1)
    pid, folder = tab.run.pid, tab.run.run_folder
    tab.ask_close_choice = lambda: "cancel"
    assert not first.close() and first.isVisible()
    tab.ask_close_choice = lambda: "leave"
    assert first.close()
    assert process_alive(pid, None)  # left running in the background

    second = open_window(qtbot, music_path, tiny_base)
    try:
        follower = second.training
        assert follower.run.state == RUNNING and follower.run.run_folder == folder
        assert "Following the training run" in follower.messages.text()
        seen = follower.history.step
        assert seen >= 1 and follower.history.data is not None  # replayed from the start
        qtbot.waitUntil(lambda: follower.history.step > seen, timeout=TIMEOUT_MS)
        follower.ask_close_choice = lambda: "stop"
        assert second.close()
    finally:
        second.shutdown()
    qtbot.waitUntil(lambda: not process_alive(pid, None), timeout=TIMEOUT_MS)
    assert tab.run.state in ACTIVE  # the first window stopped following; the process ended on its own
