"""A model is shown under its own name; "default" names the bundled model only."""
import shutil

import pytest
import torch

import model.loading
from model import load_codec
from model.export import save_model_file
from model.registry import family, preset

ARCHITECTURE = preset("tiny").architecture


def _model_file(path, name: str):
    torch.manual_seed(0)
    save_model_file(family("dac").build(ARCHITECTURE), path, family="dac", config=ARCHITECTURE, name=name)
    return path


@pytest.fixture
def bundled(tmp_path, monkeypatch):
    """A bundled model file, as the release ships it: its header names it "default"."""
    (tmp_path / "bundled").mkdir()
    path = _model_file(tmp_path / "bundled" / "default.safetensors", "default")
    monkeypatch.setattr(model.loading, "DEFAULT_MODEL_PATH", path)
    return path


def test_a_model_is_shown_under_the_name_in_its_header(tmp_path):
    assert load_codec(_model_file(tmp_path / "file.safetensors", "voice")).name == "voice"
    assert load_codec(_model_file(tmp_path / "nameless.safetensors", "")).name == "nameless"


def test_the_bundled_model_is_default_by_name_and_by_path(bundled):
    assert load_codec("default").name == "default"
    assert load_codec(bundled).name == "default"


def test_another_file_claiming_default_is_shown_under_its_file_name(bundled, tmp_path):
    assert load_codec(_model_file(tmp_path / "impostor.safetensors", "default")).name == "impostor"
    copy = tmp_path / "my-copy.safetensors"
    shutil.copyfile(bundled, copy)
    codec = load_codec(copy)
    assert codec.name == "my-copy" and codec.digest() == load_codec("default").digest()
