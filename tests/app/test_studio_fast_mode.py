"""The studio's fast mode: switched on at model load with its measured cost as the label, kept
off (exact) with the reason for a model that cannot run it, and remembered between sessions."""
import re
from pathlib import Path

from app.studio.fast_mode import enable_fast_mode
from app.studio.settings import StudioSettings
from model import load_codec

FIXTURES = Path(__file__).parent.parent / "fixtures"


def test_fast_mode_label_states_the_measured_mel_cost():
    codec = load_codec(FIXTURES / "dac" / "dac16k.pth")
    label = enable_fast_mode(codec)
    assert codec.fast_mode == "bf16"
    assert re.fullmatch(r"fast mode \(bf16\): mel [+-]\d+\.\d\d", label)


def test_a_model_that_cannot_run_fast_mode_stays_exact_and_says_so():
    codec = load_codec(FIXTURES / "encodec" / "encodec24k.th")
    assert enable_fast_mode(codec) == "fast mode unavailable for this model"
    assert codec.fast_mode is None


def test_fast_mode_setting_is_off_by_default_and_remembered(tmp_path, monkeypatch):
    monkeypatch.setenv("RVQ_STUDIO_SETTINGS", str(tmp_path / "settings.ini"))
    assert StudioSettings().fast_mode() is False
    StudioSettings().set_fast_mode(True)
    assert StudioSettings().fast_mode() is True
