"""The studio says which model it uses: the status bar under the model's own name, fields that stay
put when the model changes, and the views naming the model they draw, also while another is heard."""
import shutil

import torch

from model.bundled_files import DEFAULT_MODEL_PATH
from model.export import save_model_file
from model.registry import family, preset

LONG_NAME = "a fine-tuned model with a rather long name, kept from a run on speech"


def _views_model_texts(window) -> set[str]:
    timeline = window.timeline
    plots = [timeline.spectrograms[key] for key in ("reconstruction", "residual", "adds")] + [timeline.tokens]
    return {timeline.frames[plot].model.text() for plot in plots}


def _wait_for_model(qtbot, window, source: str) -> None:
    qtbot.waitUntil(lambda: window.session.model is not None and window.session.model.source == source,
                    timeout=60_000)
    qtbot.waitUntil(lambda: window.session.clip is not None, timeout=60_000)


def test_the_status_bar_names_the_model_and_its_fields_stay_put_when_it_changes(qtbot, loaded, tmp_path):
    window = loaded
    assert window.status_model.full_text() == f"default  ·  {window.session.model.device}"
    fields = (window.status_rate, window.status_render, window.status_measured)
    placed = [(label.x(), label.width()) for label in fields]

    architecture = preset("tiny").architecture  # other rates, counts and bitrates than the default's
    torch.manual_seed(0)
    path = tmp_path / "mine.safetensors"
    save_model_file(family("dac").build(architecture), path, family="dac", config=architecture, name=LONG_NAME)
    window.load_model(str(path))
    _wait_for_model(qtbot, window, str(path))
    assert window.status_model.full_text() == f"{LONG_NAME}  ·  {window.session.model.device}"
    assert window.status_model.toolTip() == window.status_model.full_text()  # shown elided, whole on hover
    qtbot.wait(50)  # the status bar's layout
    assert [(label.x(), label.width()) for label in fields] == placed


def test_the_views_name_the_model_they_draw_and_say_when_another_is_heard(qtbot, loaded, tmp_path):
    window, session = loaded, loaded.session
    assert _views_model_texts(window) == {"model: default"}

    second = tmp_path / "tuned.safetensors"  # the same weights under another name: a second model to hear
    shutil.copyfile(DEFAULT_MODEL_PATH, second)
    session.compare_with(str(second))
    qtbot.waitUntil(lambda: session.comparison.renders(session.clip), timeout=60_000)
    session.set_source("finetuned")
    assert _views_model_texts(window) == {"model: default  ·  heard: Fine-tuned tuned, not drawn"}
    session.set_source("reconstruction")
    assert _views_model_texts(window) == {"model: default"}
