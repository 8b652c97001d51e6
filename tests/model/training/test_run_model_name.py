"""A run's model is named after the run, whatever it was fine-tuned from; the base is in its summary."""
from __future__ import annotations

import torch
from training_helpers import tiny_args

from app.cli.command_line import main
from model import load_codec
from model.export import save_model_file
from model.registry import family, preset
from model.training.exported_model import read_model_header, read_training_summary


def test_a_fine_tuned_model_is_named_after_its_run_fresh_and_resumed(audio_folder, tmp_path):
    architecture = preset("tiny").architecture
    torch.manual_seed(0)
    base = tmp_path / "base.safetensors"
    save_model_file(family("dac").build(architecture), base, family="dac", config=architecture, name="my base")
    out = tmp_path / "voice run"
    assert main(tiny_args(audio_folder, out, "--from", str(base), "--steps", "2")) == 0
    model_file = out / "model.safetensors"
    assert read_model_header(model_file)["name"] == "voice run" and load_codec(model_file).name == "voice run"
    assert read_training_summary(model_file)["base_model"] == str(base)
    assert main(tiny_args(audio_folder, out, "--resume", "--steps", "4")) == 0
    assert read_training_summary(out / "latest.safetensors")["steps"] == 4  # exported by the resumed run
    for exported in (model_file, out / "latest.safetensors"):
        assert read_model_header(exported)["name"] == "voice run"
        assert read_training_summary(exported)["base_model"] == str(base)
