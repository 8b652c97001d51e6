"""The tab's three ways to train are command lines the trainer accepts, with the right options."""
from __future__ import annotations

import pytest
import torch

from app.cli.command_line import build_parser
from app.training.request import (TrainingRequest, default_preset, model_family, presets_for, resume_args)
from model.export import save_model_file
from model.registry import family, preset, presets
from model.training.run_config import parse_freeze


def parsed(args: list[str]):
    return build_parser().parse_args(args)


def test_quick_fine_tune_freezes_encoder_and_quantizer_of_the_base():
    request = TrainingRequest("/data", "/runs/a", "quick", "tiny", base_model="default", steps=500, lr=3e-4,
                              threads=1, workers=0)
    args = parsed(request.train_args())
    assert (args.data, args.out, args.from_model, args.preset) == ("/data", "/runs/a", "default", "tiny")
    assert parse_freeze(args.freeze) == ("encoder", "quantizer")
    assert (args.steps, args.lr, args.batch, args.threads, args.workers) == (500, 3e-4, None, 1, 0)
    assert args.json_progress and not args.resume


def test_full_fine_tune_trains_every_part_and_scratch_has_no_base():
    full = parsed(TrainingRequest("/d", "/o", "full", "default", base_model="/m.pth").train_args())
    assert full.from_model == "/m.pth" and full.freeze is None
    scratch = parsed(TrainingRequest("/d", "/o", "scratch", "tiny", base_model="/ignored.pth").train_args())
    assert scratch.from_model is None and scratch.freeze is None and scratch.preset == "tiny"


def test_a_fine_tune_needs_a_base_and_modes_are_checked():
    with pytest.raises(ValueError, match="base model"):
        TrainingRequest("/d", "/o", "quick", "tiny")
    with pytest.raises(ValueError, match="unknown training mode"):
        TrainingRequest("/d", "/o", "sideways", "tiny")


def test_resume_needs_only_the_run_folder_and_may_raise_the_steps():
    args = parsed(resume_args("/runs/a", "cpu", 2, 1, steps=900))
    assert (args.out, args.resume, args.steps, args.threads, args.data) == ("/runs/a", True, 900, 2, None)


def test_the_recipe_is_the_preset_with_the_requests_changes():
    recipe = TrainingRequest("/d", "/o", "scratch", "tiny", steps=40, batch=3).recipe()
    assert (recipe.steps, recipe.batch_size, recipe.lr) == (40, 3, preset("tiny").lr)


def test_fine_tuning_offers_the_presets_of_the_bases_family(tmp_path):
    torch.manual_seed(0)
    architecture = preset("hificodec-tiny").architecture
    path = tmp_path / "hifi.safetensors"
    save_model_file(family("hificodec").build(architecture), path, family="hificodec", config=architecture,
                    name="h", trained=False)
    assert model_family(str(path)) == "hificodec" and model_family("default") == "dac"
    assert presets_for("full", "hificodec") == ["hificodec-24k", "hificodec-tiny"]
    assert default_preset("quick", "hificodec") == "hificodec-24k"
    assert presets_for("scratch", "hificodec") == list(presets()) and default_preset("scratch", None) == "default"
    (tmp_path / "weights.pth").write_bytes(b"PK not really")
    assert model_family(str(tmp_path / "weights.pth")) is None  # unknown without loading: all presets offered
    assert presets_for("quick", None) == list(presets())
