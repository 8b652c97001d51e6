"""The "Get models..." dialog against a local server standing in for the sources (the mirror
setting): licences shown before anything is fetched, progress, cancel, errors as a message,
the new model in the studio's picker."""
import threading
from pathlib import Path

import pytest

from app.model_downloads.catalogue import find_entry
from model_server import serve_models, without_family
from ui.get_models_dialog import COLUMNS, GetModelsDialog

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
DAC_PATH = "/descriptinc/descript-audio-codec/releases/download/0.0.1/weights.pth"
TIMEOUT_MS = 30_000


@pytest.fixture
def server(monkeypatch, tmp_path):
    source = serve_models(monkeypatch, tmp_path)
    source.served.files[DAC_PATH] = (FIXTURES / "dac" / "dac44k.pth").read_bytes()
    yield source
    source.stop()


@pytest.fixture
def dialog(qtbot, server):
    shown = GetModelsDialog()
    qtbot.addWidget(shown)
    shown.show()
    yield shown
    shown.shutdown()


def cell(dialog, name: str, column: str) -> str:
    row = [s.entry.name for s in dialog.states].index(name)
    return dialog.table.item(row, COLUMNS.index(column)).text()


def kept_dac() -> Path:
    return Path.home() / ".cache" / "descript" / "dac" / "weights_44khz_8kbps_0.0.1.pth"


def test_the_catalogue_shows_licences_before_anything_is_fetched(qtbot, server, monkeypatch):
    without_family(monkeypatch, "snac")  # as a version lacking a family shows it
    dialog = GetModelsDialog()
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.objectName() == "getModelsDialog"
    assert cell(dialog, "mimi", "Licence") == find_entry("mimi").licence == "CC-BY 4.0"
    assert cell(dialog, "dac-44khz-8kbps", "Status") == "not downloaded"
    dialog.select("snac-24khz")
    assert not dialog.download_button.isEnabled() and "not supported" in dialog.message.text()
    dialog.select("dac-44khz-8kbps")
    assert dialog.download_button.isEnabled()
    assert server.served.requests == []
    dialog.shutdown()


def test_a_download_shows_progress_and_ends_downloaded(qtbot, dialog, server):
    dialog.select("dac-44khz-8kbps")
    with qtbot.waitSignal(dialog.modelAdded, timeout=TIMEOUT_MS) as added:
        dialog.download_button.click()
        assert dialog.progress.isVisible() and dialog.cancel_button.isEnabled()
    assert added.args == [str(kept_dac())] and kept_dac().is_file()
    qtbot.waitUntil(lambda: dialog.worker is None, timeout=TIMEOUT_MS)
    row = [s.entry.name for s in dialog.states].index("dac-44khz-8kbps")
    status = dialog.table.item(row, COLUMNS.index("Status"))
    assert status.text() == "downloaded" and status.toolTip() == f"downloaded: {kept_dac()}"
    assert not dialog.progress.isVisible() and not dialog.download_button.isEnabled()


def test_cancel_keeps_what_arrived_for_the_next_download(qtbot, dialog, server):
    release = threading.Event()
    server.served.hold[DAC_PATH] = (200_000, release)
    dialog.select("dac-44khz-8kbps")
    dialog.download_button.click()
    qtbot.waitUntil(lambda: dialog.progress.maximum() == 1000, timeout=TIMEOUT_MS)  # bytes are arriving
    dialog.cancel_button.click()
    release.set()
    qtbot.waitUntil(lambda: dialog.worker is None, timeout=TIMEOUT_MS)
    assert "cancelled" in dialog.message.text()
    part = kept_dac().with_name(kept_dac().name + ".part")
    assert not kept_dac().exists() and part.stat().st_size >= 200_000
    assert "partly downloaded" in cell(dialog, "dac-44khz-8kbps", "Status")


def test_an_error_is_a_message_in_the_dialog(qtbot, dialog, server):
    dialog.select("dac-16khz")  # not on the server
    dialog.download_button.click()
    qtbot.waitUntil(lambda: dialog.worker is None, timeout=TIMEOUT_MS)
    assert "HTTP 404" in dialog.message.text() and dialog.isVisible()
    assert dialog.download_button.isEnabled()  # ready to try again


def test_a_downloaded_model_appears_in_the_studios_picker(qtbot, studio, server):
    studio.show_get_models()
    dialog = studio.get_models
    assert str(kept_dac()) not in [studio.model_box.itemData(i) for i in range(studio.model_box.count())]
    dialog.select("dac-44khz-8kbps")
    with qtbot.waitSignal(dialog.modelAdded, timeout=TIMEOUT_MS):
        dialog.download_button.click()
    assert str(kept_dac()) in [studio.model_box.itemData(i) for i in range(studio.model_box.count())]
    dialog.close()


def test_a_second_download_of_the_same_file_is_refused_while_one_runs(qtbot, dialog, server, capsys):
    from app.cli.command_line import main

    release = threading.Event()
    server.served.hold[DAC_PATH] = (200_000, release)
    dialog.select("dac-44khz-8kbps")
    dialog.download_button.click()
    qtbot.waitUntil(lambda: dialog.progress.maximum() == 1000, timeout=TIMEOUT_MS)
    assert main(["models", "get", "dac-44khz-8kbps"]) == 2
    assert "another download of this file is running" in capsys.readouterr().err
    release.set()
    with qtbot.waitSignal(dialog.modelAdded, timeout=TIMEOUT_MS):
        pass
    assert kept_dac().read_bytes() == (FIXTURES / "dac" / "dac44k.pth").read_bytes()
