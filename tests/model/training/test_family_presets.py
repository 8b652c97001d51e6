"""The family-agnostic trainer trains every family of the registry from scratch with its tiny recipe."""
from __future__ import annotations

import pytest
import torch

from app.cli.command_line import main
from model.loading import load_codec
from model.registry import FAMILIES


@pytest.mark.slow  # a few seconds per family on one thread
@pytest.mark.parametrize("family", list(FAMILIES))
def test_tiny_family_preset_trains_and_exports_a_loadable_model(family, audio_folder, tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["train", "--data", str(audio_folder), "--out", str(out), "--preset", FAMILIES[family].recipes.tiny,
                 "--threads", "1", "--workers", "0"])
    assert code == 0, capsys.readouterr().err
    codec = load_codec(out / "model.safetensors")
    assert codec.family == family and codec.trained
    codes = codec.encode(0.3 * torch.randn(1, 1, 1600))
    assert codes.shape == (1, codec.n_codebooks, 50)
    assert torch.isfinite(codec.decode(codes)).all()
