"""'Use this model': a run's model copied to the user's models, listed in the picker, summarised by `info`."""
from __future__ import annotations

import json

import pytest
import soundfile as sf
import torch
from safetensors.torch import load_file

from app.cli.command_line import main
from app.studio.model_catalog import model_entries
from app.studio.settings import StudioSettings
from synthetic_audio import write_music_clip, write_recordings_folder
from app.training.summary import model_summary_text, summary_lines
from app.training.user_models import KeepModelError, keep_model, kept_models
from model import load_codec
from model.compression import compress_file, decompress_file
from model.export import save_model_file
from model.registry import family, preset
from model.training.exported_model import read_model_header, read_training_summary
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
    assert _tensors(first) == _tensors(second) == _tensors(run_model)
    assert kept_models(tmp_path / "models") == sorted([first, second])
    assert not list((tmp_path / "models").glob(".*"))  # no temporary file left behind


def _tensors(path) -> dict[str, bytes]:
    return {key: value.numpy().tobytes() for key, value in load_file(str(path)).items()}


def test_a_kept_model_is_named_after_its_file(run_model, tmp_path, capsys):
    kept = keep_model(run_model, tmp_path / "models", "my run")
    kept_again = keep_model(run_model, tmp_path / "models", "my run")
    assert load_codec(kept).name == "my-run" and load_codec(kept_again).name == "my-run-2"
    header, run_header = read_model_header(kept), read_model_header(run_model)
    assert header == {**run_header, "name": "my-run"}  # the training summary and all else travel unchanged
    assert main(["info", str(kept)]) == 0
    assert capsys.readouterr().out.splitlines()[0] == "my-run"


def test_rvq_files_made_with_the_run_model_decode_with_the_kept_one(run_model, tmp_path):
    wav = write_music_clip(tmp_path / "c.wav", 0.5, 16000)
    kept = keep_model(run_model, tmp_path / "models", "my run")
    compress_file(load_codec(run_model), wav, tmp_path / "c.rvq")
    by_run, by_kept = tmp_path / "run.wav", tmp_path / "kept.wav"
    decompress_file(load_codec(run_model), tmp_path / "c.rvq", by_run)
    decompress_file(load_codec(kept), tmp_path / "c.rvq", by_kept)
    assert sf.read(by_kept)[0].tolist() == sf.read(by_run)[0].tolist()


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
