"""Checkpoint files, random states, presets and run configuration."""
from __future__ import annotations

import json
import random

import numpy as np
import pytest
import torch

from model.dac import DEFAULT_MODEL_ARCHITECTURE
from model.registry import preset, presets
from model.training.checkpoint import (
    CheckpointFolder,
    TrainingStateError,
    capture_rng_state,
    load_checkpoint,
    restore_rng_state,
    save_checkpoint,
)
from model.training.progress import HumanReporter, JsonLinesReporter
from model.training.run_config import RunConfig, TrainingOptions, new_config, parse_freeze, resumed_config
from model.training.recipes import PresetError, TrainingPreset, build_discriminator


def _draws():
    return random.random(), float(np.random.rand()), float(torch.rand(()))


def test_random_states_round_trip_through_a_weights_only_checkpoint(tmp_path):
    random.seed(1)
    np.random.seed(2)
    torch.manual_seed(3)
    _draws()
    save_checkpoint(tmp_path / "c.pt", {"rng": [capture_rng_state()]})
    expected = [_draws() for _ in range(3)]
    _draws()
    restore_rng_state(load_checkpoint(tmp_path / "c.pt")["rng"][0])
    assert [_draws() for _ in range(3)] == expected


def test_checkpoint_folder_keeps_the_last_k_and_ignores_partial_files(tmp_path):
    folder = CheckpointFolder(tmp_path / "ck")
    for step in (5, 10, 15, 20):
        folder.save(step, {"step": step}, keep=2)
    (tmp_path / "ck" / ".step-000000025.safetensors.abc.part").write_bytes(b"half a file")
    assert [s for s, _ in folder.periodic()] == [15, 20]
    state, path, warnings = folder.load_latest()
    assert state["step"] == 20 and path.name == "step-000000020.safetensors" and warnings == []


def test_an_unreadable_newest_checkpoint_falls_back_to_the_previous_one(tmp_path):
    folder = CheckpointFolder(tmp_path / "ck")
    folder.save(1, {"step": 1}, keep=3)
    path = folder.save(2, {"step": 2}, keep=3)
    path.write_bytes(path.read_bytes()[:100])  # e.g. a disk that lost the end of the file
    state, _, warnings = folder.load_latest()
    assert state["step"] == 1 and len(warnings) == 1 and "step-000000002.safetensors" in warnings[0]


def test_checkpoints_with_python_objects_are_refused(tmp_path):
    torch.save({"format": "rvq-studio-training-checkpoint", "version": 1, "evil": TrainingOptions(out="x")},
               tmp_path / "c.pt")
    with pytest.raises(TrainingStateError, match="refused"):
        load_checkpoint(tmp_path / "c.pt")


def test_a_foreign_file_is_not_a_checkpoint(tmp_path):
    torch.save({"weights": torch.zeros(2)}, tmp_path / "c.pt")
    with pytest.raises(TrainingStateError, match="not an RVQ Studio training checkpoint"):
        load_checkpoint(tmp_path / "c.pt")


@pytest.mark.parametrize("name", sorted(presets()))
def test_presets_survive_config_json(name):
    recipe = preset(name)
    assert TrainingPreset.from_dict(json.loads(json.dumps(recipe.to_dict()))) == recipe


def test_default_preset_uses_the_bundled_architecture_and_a_quarter_width_discriminator():
    recipe = preset("default")
    assert recipe.architecture == DEFAULT_MODEL_ARCHITECTURE
    quarter = sum(p.numel() for p in build_discriminator(recipe.discriminator).parameters())
    full = sum(p.numel() for p in build_discriminator(preset("dac-44k").discriminator).parameters())
    assert full == 42_519_760 and quarter < full / 12


def test_dac_44k_preset_is_the_paper_recipe():
    recipe = preset("dac-44k")
    assert (recipe.lr, recipe.betas, recipe.lr_gamma, recipe.batch_size) == (1e-4, (0.8, 0.99), 0.999996, 72)
    assert (recipe.grad_clip_generator, recipe.grad_clip_discriminator, recipe.excerpt_seconds) == (1e3, 10.0, 0.38)
    w = recipe.weights
    assert (w.mel, w.adversarial, w.feature_matching, w.codebook, w.commitment) == (15, 1, 2, 1, 0.25)
    assert recipe.gan_start_step == 0 and recipe.discriminator.width == 1.0


def test_bad_settings_are_refused():
    with pytest.raises(PresetError, match="batch_size"):
        preset("tiny").with_overrides(batch_size=0)
    with pytest.raises(PresetError, match="unknown preset"):
        preset("huge")


def test_resume_accepts_changes_that_do_not_alter_a_step(tmp_path):
    options = TrainingOptions(out=str(tmp_path), data=str(tmp_path), preset="tiny")
    saved = new_config(options, None)
    again = RunConfig.from_json(json.loads(json.dumps(saved.to_json())))
    longer = resumed_config(again, TrainingOptions(out=str(tmp_path), data=str(tmp_path), steps=50, keep=9,
                                                   resume=True))
    assert (longer.preset.steps, longer.preset.keep, longer.preset.lr) == (50, 9, saved.preset.lr)
    with pytest.raises(ValueError, match="--batch differs"):
        resumed_config(again, TrainingOptions(out=str(tmp_path), batch=7, resume=True))


def test_freeze_parsing():
    assert parse_freeze("quantizer, encoder") == ("encoder", "quantizer")
    with pytest.raises(ValueError, match="nothing to train"):
        parse_freeze("encoder,quantizer,decoder")


def test_json_lines_are_standard_json_even_for_nan(capsys):
    import io

    stream = io.StringIO()
    JsonLinesReporter(stream).emit({"event": "step", "losses": {"mel": float("nan")}, "eta_s": float("inf")})
    assert json.loads(stream.getvalue()) == {"event": "step", "losses": {"mel": None}, "eta_s": None}


def test_human_reporter_prints_validation_and_done_lines():
    import io

    stream = io.StringIO()
    reporter = HumanReporter(stream)
    rows = [{"n_codebooks": 3, "kbps": 7.5, "mel_distance": 1.25, "stft_distance": 2.5, "si_sdr": 4.0}]
    reporter.emit({"event": "validation", "step": 10, "rows": rows, "best": True})
    reporter.emit({"event": "done", "step": 12, "reason": "interrupted", "model": None})
    text = stream.getvalue()
    assert "validation at step 10: mel 1.250, STFT 2.500, SI-SDR 4.00 dB with 3 codebooks (best so far)" in text
    assert "interrupted; resume with --resume at step 12" in text


def test_human_reporter_draws_a_bar_on_a_terminal():
    import io

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Terminal()
    reporter = HumanReporter(stream)
    reporter.emit({"event": "step", "step": 30, "total_steps": 120, "losses": {"mel": 2.5, "adversarial": 1.0},
                   "steps_per_s": 0.5, "eta_s": 180.0})
    reporter.emit({"event": "checkpoint", "step": 30, "kind": "periodic", "path": "/r/step-30.pt"})
    text = stream.getvalue()
    assert text.startswith("\rstep 30/120 [#####...............]  25% mel 2.500 adversarial 1.000 | 0.50 steps/s | "
                           "ETA 3m00s")
    assert text.endswith("\r\x1b[Kcheckpoint (periodic) at step 30: /r/step-30.pt\n")  # the bar is cleared first


def test_checkpoints_are_safetensors_files_that_hold_the_whole_state(tmp_path):
    from safetensors import safe_open

    model = torch.nn.Linear(3, 2)
    optimiser = torch.optim.Adam(model.parameters())
    model(torch.randn(2, 3)).sum().backward()
    optimiser.step()
    path = CheckpointFolder(tmp_path / "ck").save(3, {"step": 3, "optimiser": optimiser.state_dict()}, keep=2)
    assert path.name == "step-000000003.safetensors"
    with safe_open(str(path), framework="pt") as f:
        assert f.metadata()["format"] == "rvq-studio-training-checkpoint"
    restored = torch.optim.Adam(model.parameters())
    restored.load_state_dict(load_checkpoint(path)["optimiser"])
    for key in ("exp_avg", "exp_avg_sq", "step"):
        assert all(torch.equal(restored.state[p][key], optimiser.state[p][key]) for p in model.parameters())


def test_checkpoints_of_earlier_versions_are_still_resumed(tmp_path):
    folder = tmp_path / "ck"
    folder.mkdir()
    torch.save({"format": "rvq-studio-training-checkpoint", "version": 1, "step": 4, "w": torch.ones(2)},
               folder / "step-000000004.pt")
    state, path, warnings = CheckpointFolder(folder).load_latest()
    assert (state["step"], path.name, warnings) == (4, "step-000000004.pt", [])
    assert torch.equal(state["w"], torch.ones(2))


def test_a_checkpoint_with_a_crafted_structure_is_refused_with_the_reason(tmp_path):
    from safetensors.torch import save_file

    save_file({"0": torch.zeros(1)}, str(tmp_path / "c.safetensors"),
              metadata={"format": "rvq-studio-training-checkpoint", "version": "2", "structure": '{"x": "1"}'})
    with pytest.raises(TrainingStateError, match="damaged checkpoint"):
        load_checkpoint(tmp_path / "c.safetensors")
    (tmp_path / "empty.safetensors").write_bytes(b"")
    with pytest.raises(TrainingStateError, match="unreadable checkpoint"):
        load_checkpoint(tmp_path / "empty.safetensors")


def test_the_best_state_of_an_earlier_version_is_found_until_this_version_writes_one(tmp_path):
    folder = CheckpointFolder(tmp_path)
    assert folder.best_to_read() == folder.best_path
    torch.save({"format": "rvq-studio-training-checkpoint", "version": 1, "step": 9}, tmp_path / "best.pt")
    assert load_checkpoint(folder.best_to_read())["step"] == 9
    folder.save_best({"step": 12})
    assert load_checkpoint(folder.best_to_read())["step"] == 12
