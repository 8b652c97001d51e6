"""View > Fast mode: the model reloads in bfloat16, the status bar names the measured cost, and
switching it off brings the exact model back; the choice is remembered."""
import re

import pytest

from app.studio.settings import StudioSettings


@pytest.mark.slow
def test_fast_mode_toggle_reloads_the_model_and_names_its_cost(qtbot, loaded):
    window = loaded
    assert not window.fast_action.isChecked() and window.session.model.fast_mode == ""
    window.fast_action.trigger()
    qtbot.waitUntil(lambda: window.session.model.fast_mode != "" and window.session.clip is not None,
                    timeout=120_000)
    assert re.search(r"fast mode \(bf16\): mel [+-]\d+\.\d\d$", window.status_model.full_text())
    assert StudioSettings().fast_mode() is True
    window.fast_action.trigger()
    qtbot.waitUntil(lambda: window.session.model.fast_mode == "" and window.session.clip is not None,
                    timeout=120_000)
    assert "fast mode" not in window.status_model.full_text()
    assert StudioSettings().fast_mode() is False
