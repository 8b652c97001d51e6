"""The CPU-sized SNAC recipe runs through the GAN trainer and resumes, on a tiny SNAC.

Its run settings (discriminator, losses, optimiser, code revival) are kept; only the
architecture and the batch are shrunk so that two steps take a moment.
"""
from __future__ import annotations

import json

import pytest
import torch

from app.cli.command_line import main
from model.loading import load_codec
from model.registry import preset
from model.training import run_config
from model.training.checkpoint import load_checkpoint

SHRUNK = dict(architecture=preset("snac-tiny").architecture, batch_size=2, excerpt_seconds=0.2, gan_start_step=1,
              val_every=2, ckpt_every=1, val_examples=2, val_seconds=0.5, log_every=1, revival_window=1,
              revival_min_uses=1)


@pytest.mark.slow  # about 8 CPU seconds: the recipe's discriminator (width 1/4) and validation
def test_snac_small_recipe_trains_two_steps_and_resumes(audio_folder, tmp_path, monkeypatch, capsys):
    recipe = preset("snac-small").with_overrides(**SHRUNK)
    real_preset = run_config.preset
    monkeypatch.setattr(run_config, "preset", lambda name: recipe if name == "snac-small" else real_preset(name))
    out = tmp_path / "run"
    args = ["train", "--data", str(audio_folder), "--out", str(out), "--threads", "1", "--workers", "0"]
    assert main([*args, "--preset", "snac-small", "--steps", "1"]) == 0, capsys.readouterr().err
    first = load_checkpoint(out / "checkpoints" / "step-000000001.pt")
    assert main([*args, "--resume", "--steps", "2"]) == 0, capsys.readouterr().err

    saved = json.loads((out / "config.json").read_text())
    assert saved["family"] == "snac" and saved["preset"]["name"] == "snac-small"
    small = preset("snac-small").to_dict()
    kept = {k: v for k, v in small.items() if k not in SHRUNK and k != "steps"}
    assert {k: saved["preset"][k] for k in kept} == json.loads(json.dumps(kept))
    second = load_checkpoint(out / "checkpoints" / "step-000000002.pt")
    assert second["step"] == 2
    changed = [k for k, v in first["generator"].items() if not torch.equal(v, second["generator"][k])]
    assert len(changed) > len(first["generator"]) // 2  # the resumed step trained (a GAN step: step 1 on)
    codec = load_codec(out / "model.safetensors")
    assert codec.family == "snac" and codec.n_codebooks == 3
    assert torch.isfinite(codec.decode(codec.encode(0.3 * torch.randn(1, 1, 1600)))).all()
