"""Models offered in the picker, demo clips, devices, and remembered recent files."""
from PySide6.QtCore import QSettings

from app.studio.model_catalog import available_devices, demo_clips, model_entries, official_dac_weights
from app.studio.settings import MAX_RECENT, StudioSettings


def test_official_dac_weights_are_listed_from_the_cache_folder(tmp_path):
    (tmp_path / "weights_44khz_8kbps_0.0.1.pth").write_bytes(b"x")
    (tmp_path / "weights_16khz_8kbps_0.0.5.pth").write_bytes(b"x")
    (tmp_path / "notes.txt").write_text("not a model")
    labels = [e.label for e in official_dac_weights(tmp_path)]
    assert labels == ["DAC 16khz_8kbps_0.0.5", "DAC 44khz_8kbps_0.0.1"]
    assert official_dac_weights(tmp_path / "missing") == []


def test_picker_lists_default_first_then_official_then_existing_recent(tmp_path):
    (tmp_path / "weights_24khz.pth").write_bytes(b"x")
    mine = tmp_path / "mine.safetensors"
    mine.write_bytes(b"x")
    entries = model_entries([str(mine), str(tmp_path / "deleted.pth")], dac_folder=tmp_path)
    assert [e.source for e in entries] == ["default", str(tmp_path / "weights_24khz.pth"), str(mine)]


def test_demo_clips_are_audio_files_in_name_order(tmp_path):
    for name in ("b.flac", "a.wav", "README.md"):
        (tmp_path / name).write_bytes(b"x")
    assert [p.name for p in demo_clips(tmp_path)] == ["a.wav", "b.flac"]


def test_cpu_is_always_offered():
    assert available_devices()[0] == "cpu"


def test_recent_files_are_newest_first_unique_and_bounded(tmp_path):
    settings = StudioSettings(QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    for i in range(MAX_RECENT + 3):
        settings.add_recent_file(f"/clips/{i}.wav")
    settings.add_recent_file("/clips/5.wav")
    recent = settings.recent_files()
    assert recent[0] == "/clips/5.wav" and len(recent) == MAX_RECENT and len(set(recent)) == MAX_RECENT
    settings.add_recent_model("default")
    assert settings.recent_models() == []  # the bundled model needs no remembering
