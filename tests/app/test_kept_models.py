"""'Use this model': a run's model copied to the user's models, listed in the picker, summarised by `info`."""
from __future__ import annotations

import json

import pytest
import torch

from app.cli.command_line import main
from app.studio.model_catalog import model_entries
from app.studio.settings import StudioSettings
from synthetic_audio import write_recordings_folder
from app.training.summary import model_summary_text, summary_lines
from app.training.user_models import KeepModelError, keep_model, kept_models
from model.export import save_model_file
from model.registry import family, preset
from model.training.exported_model import read_training_summary
from model.training.run_folder import RunFolder


@pytest.fixture(scope="module")
def run_model(tmp_path_factory):
    """The model.safetensors of a real (tiny, 2-step) training run."""
    root = tmp_path_factory.mktemp("kept")
    data = write_recordings_folder(root / "recordings", (("a", 16000, 1.5), ("b", 22050, 1.5)))
    out = root / "my run"
    assert main(["train", "--data", str(data), "--out", str(out), "--preset", "tiny", "--steps", "2",
                 "--workers", "0", "--threads", "1"]) == 0
    return RunFolder(out).model_path


def test_keeping_copies_the_model_whole_under_a_new_name_each_time(run_model, tmp_path):
    first = keep_model(run_model, tmp_path / "models", "my run")
    second = keep_model(run_model, tmp_path / "models", "my run")
    assert (first.name, second.name) == ("my-run.safetensors", "my-run-2.safetensors")
    assert first.read_bytes() == second.read_bytes() == run_model.read_bytes()
    assert kept_models(tmp_path / "models") == sorted([first, second])
    assert not list((tmp_path / "models").glob(".*"))  # no temporary file left behind


def test_only_a_training_runs_model_can_be_kept(run_model, tmp_path):
    with pytest.raises(KeepModelError, match="no model to keep yet"):
        keep_model(tmp_path / "missing.safetensors", tmp_path / "models", "x")
    torch.manual_seed(0)
    plain = tmp_path / "plain.safetensors"
    architecture = preset("tiny").architecture
    save_model_file(family("dac").build(architecture), plain, family="dac", config=architecture, name="p")
    with pytest.raises(KeepModelError, match="not a model exported by a training run"):
        keep_model(plain, tmp_path / "models", "x")


def test_kept_models_are_in_the_picker_with_their_training_summary(run_model, tmp_path):
    kept = keep_model(run_model, tmp_path / "models", "voice")
    entries = model_entries([], dac_folder=tmp_path / "none", kept_folder=tmp_path / "models")
    assert [(e.label, e.source) for e in entries] == [("Default (bundled)", "default"), ("Mine: voice", str(kept))]
    summary = read_training_summary(kept)
    assert entries[1].summary == "\n".join(summary_lines(summary)) == model_summary_text(kept)
    assert summary["preset"] == "tiny" and summary["base_model"] is None
    assert entries[1].summary.startswith("trained from scratch, preset tiny")


def test_info_prints_the_training_summary(run_model, capsys):
    assert main(["info", str(run_model)]) == 0
    text = capsys.readouterr().out
    for line in summary_lines(read_training_summary(run_model)):
        assert line in text
    assert main(["info", str(run_model), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["training"] == read_training_summary(run_model)


def test_the_data_folder_sits_beside_a_private_settings_file(monkeypatch, tmp_path):
    monkeypatch.setenv("RVQ_STUDIO_SETTINGS", str(tmp_path / "s.ini"))
    settings = StudioSettings()
    assert settings.models_folder() == tmp_path / "models" and settings.runs_folder() == tmp_path / "runs"
