"""The CPU-sized SNAC and Mimi recipes run through the GAN trainer and resume, on tiny networks.

Their run settings (discriminator, losses, optimiser, code revival) are kept; only the
architecture (the family's tiny one) and the batch are shrunk so that two steps take a moment.
"""
from __future__ import annotations

import json

import pytest
import torch

from app.cli.command_line import main
from model.loading import load_codec
from model.registry import family, preset
from model.training import run_config
from model.training.checkpoint import load_checkpoint

SHRUNK = dict(batch_size=2, excerpt_seconds=0.2, gan_start_step=1, val_every=2, ckpt_every=1, val_examples=2,
              val_seconds=0.5, log_every=1, revival_window=1, revival_min_uses=1)


@pytest.mark.slow  # about 8 CPU seconds: the recipe's discriminator (width 1/4) and validation
@pytest.mark.parametrize("name, tiny", [("snac-small", "snac-tiny"), ("mimi-small", "mimi-tiny")])
def test_small_recipe_trains_two_steps_and_resumes(name, tiny, audio_folder, tmp_path, monkeypatch, capsys):
    architecture = preset(tiny).architecture
    recipe = preset(name).with_overrides(architecture=architecture, **SHRUNK)
    real_preset = run_config.preset
    monkeypatch.setattr(run_config, "preset", lambda wanted: recipe if wanted == name else real_preset(wanted))
    out = tmp_path / "run"
    args = ["train", "--data", str(audio_folder), "--out", str(out), "--threads", "1", "--workers", "0"]
    assert main([*args, "--preset", name, "--steps", "1"]) == 0, capsys.readouterr().err
    first = load_checkpoint(out / "checkpoints" / "step-000000001.safetensors")
    assert main([*args, "--resume", "--steps", "2"]) == 0, capsys.readouterr().err

    saved = json.loads((out / "config.json").read_text())
    assert saved["family"] == recipe.family and saved["preset"]["name"] == name
    kept = {k: v for k, v in preset(name).to_dict().items() if k not in SHRUNK and k not in ("architecture", "steps")}
    assert {k: saved["preset"][k] for k in kept} == json.loads(json.dumps(kept))
    second = load_checkpoint(out / "checkpoints" / "step-000000002.safetensors")
    assert second["step"] == 2
    changed = [k for k, v in first["generator"].items() if not torch.equal(v, second["generator"][k])]
    assert len(changed) > len(first["generator"]) // 2  # the resumed step trained (a GAN step: step 1 on)
    codec = load_codec(out / "model.safetensors")
    assert codec.family == recipe.family
    assert codec.n_parameters() == sum(p.numel() for p in family(recipe.family).build(architecture).parameters())
    wave = 0.3 * torch.randn(1, 1, codec.hop_length * 50)
    assert torch.isfinite(codec.decode(codec.encode(wave))).all()
