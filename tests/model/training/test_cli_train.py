"""`rvq-studio train` end to end on generated audio: from scratch, fine-tuning, freezing, errors."""
from __future__ import annotations

import json

import pytest
import torch
from training_helpers import FIXTURES, json_events, tiny_args, write_tone
from safetensors import safe_open

from app.cli.command_line import main
from model.loading import load_codec, load_network
from model.training.checkpoint import load_checkpoint
from model.training.exported_model import read_training_summary
from model.training.progress import event_text

DAC_FIXTURE = FIXTURES / "dac" / "dac44k.pth"


def run(args, capsys) -> tuple[int, list[dict], str]:
    code = main(args)
    captured = capsys.readouterr()
    return code, json_events(captured.out), captured.err


def test_tiny_run_from_scratch_completes_and_exports_a_loadable_model(audio_folder, tmp_path, capsys):
    out = tmp_path / "run"
    code, events, _ = run(tiny_args(audio_folder, out, "--json-progress"), capsys)
    assert code == 0
    assert events[-1]["event"] == "done" and events[-1]["reason"] == "completed" and events[-1]["step"] == 6
    codec = load_codec(out / "model.safetensors")
    assert (codec.sample_rate, codec.n_codebooks, codec.codebook_size) == (16000, 3, 32)
    with safe_open(str(out / "model.safetensors"), framework="pt") as f:
        summary = json.loads(f.metadata()["training"])
    best = events[-1]["best_step"]
    assert summary["steps"] == best and summary["preset"] == "tiny"
    data = events[0]
    assert summary["data_minutes"] == pytest.approx(data["train"]["minutes"], abs=1e-3)
    assert summary["data_minutes"] + summary["validation_minutes"] == pytest.approx(3 * (1.0 + 1.25) / 60, abs=1e-3)
    assert [r["n_codebooks"] for r in summary["validation"]["rows"]] == [1, 2, 3]
    config = json.loads((out / "config.json").read_text())
    assert config["preset"]["name"] == "tiny" and config["family"] == "dac"
    final = load_checkpoint(out / "checkpoints" / "step-000000006.safetensors")
    assert final["step"] == 6


def test_json_progress_follows_the_documented_schema(audio_folder, tmp_path, capsys):
    code, events, _ = run(tiny_args(audio_folder, tmp_path / "run", "--json-progress"), capsys)
    assert code == 0
    kinds = [e["event"] for e in events]
    assert kinds[:3] == ["data", "start", "validation"]
    assert set(kinds) <= {"data", "start", "step", "validation", "checkpoint", "warning", "done"}
    data = events[0]
    assert data["train"]["groups"].keys() | data["validation"]["groups"].keys() == {"speech", "music", "general"}
    assert data["train"]["files"] + data["validation"]["files"] == 6 and data["validation_source"] == "held-out"
    assert [u["path"] for u in data["unreadable"]] == ["general/broken.wav"]
    start = events[1]
    assert start["world_size"] == 1 and start["threads"] == torch.get_num_threads()  # what CPU-hours count
    steps = [e for e in events if e["event"] == "step"]
    assert [e["step"] for e in steps] == [1, 2, 3, 4, 5, 6]
    for e in steps:
        assert {"step", "total_steps", "losses", "grad_norms", "lr", "steps_per_s", "eta_s", "gan"} <= e.keys()
        assert {"mel", "stft", "waveform", "codebook", "commitment", "total"} <= e["losses"].keys()
        assert (("adversarial" in e["losses"]) == e["gan"]) and (e["gan"] == (e["step"] > 2))
    assert steps[0]["lr"] == pytest.approx(1e-4 * 0.999996)
    for e in (e for e in events if e["event"] == "validation"):
        assert len(e["rows"]) == 3 and len(e["entropy_bits"]) == 3
        assert {"n_codebooks", "kbps", "mel_distance", "stft_distance", "si_sdr"} == e["rows"][0].keys()
        assert e["mel_distance"] == e["rows"][-1]["mel_distance"]
    assert [e["step"] for e in events if e["event"] == "validation"] == [0, 3, 6]
    assert {e["model"] for e in events if e["event"] == "validation"} == {str(tmp_path / "run" / "latest.safetensors")}
    assert [(e["kind"], e["step"]) for e in events if e["event"] == "checkpoint" and e["kind"] != "best"] == [
        ("periodic", 2), ("periodic", 4), ("final", 6)]


def test_fine_tune_from_official_dac_layout_keeps_its_architecture(audio_folder, tmp_path, capsys):
    out = tmp_path / "run"
    code, events, _ = run(tiny_args(audio_folder, out, "--from", str(DAC_FIXTURE), "--steps", "3",
                                    "--json-progress"), capsys)
    assert code == 0
    start = next(e for e in events if e["event"] == "start")
    assert start["base_model"] == str(DAC_FIXTURE)
    base = load_codec(DAC_FIXTURE)
    tuned = load_codec(out / "model.safetensors")
    assert tuned.config == base.config and tuned.n_parameters() == base.n_parameters()
    assert tuned.sample_rate == 44100 and tuned.trained


def test_freezing_encoder_and_quantizer_keeps_them_bit_identical(audio_folder, tmp_path, capsys):
    out = tmp_path / "run"
    code, _, _ = run(tiny_args(audio_folder, out, "--from", str(DAC_FIXTURE), "--steps", "4",
                               "--freeze", "encoder,quantizer", "--val-every", "100"), capsys)
    assert code == 0
    _, _, base, _ = load_network(DAC_FIXTURE)
    tuned = load_checkpoint(out / "checkpoints" / "step-000000004.safetensors")["generator"]
    before = base.state_dict()
    frozen = [k for k in before if k.startswith(("encoder.", "quantizer."))]
    assert frozen and all(torch.equal(before[k], tuned[k]) for k in frozen)
    changed = [k for k in before if k.startswith("decoder.") and not torch.equal(before[k], tuned[k])]
    assert len(changed) > 10  # the decoder did train


@pytest.mark.slow  # a few CPU seconds: two fine-tuning steps of the Mimi fixture
def test_freezing_the_quantizer_keeps_ema_codebooks(audio_folder, tmp_path, capsys):
    """EMA codebooks learn without gradients (moving averages, k-means, restarts): frozen, they stay."""
    out, base = tmp_path / "run", FIXTURES / "mimi" / "mimi.safetensors"
    code, _, err = run(["train", "--data", str(audio_folder), "--out", str(out), "--from", str(base), "--preset",
                        "mimi-tiny", "--threads", "1", "--workers", "0", "--steps", "2", "--batch", "2",
                        "--freeze", "encoder,quantizer", "--val-every", "100"], capsys)
    assert code == 0, err
    before = load_network(base)[2].state_dict()
    tuned = load_checkpoint(out / "checkpoints" / "step-000000002.safetensors")["generator"]
    codebooks = [k for k in before if k.startswith("quantizer.") and k.endswith((".embed", ".cluster_size"))]
    assert codebooks and all(torch.equal(before[k], tuned[k]) for k in before if not k.startswith("decoder."))
    assert any(not torch.equal(before[k], tuned[k]) for k in before if k.startswith("decoder."))


def test_a_model_the_trainer_cannot_train_is_refused_in_one_line(audio_folder, tmp_path, capsys):
    base = FIXTURES / "encodec" / "encodec48k.th"  # stereo, with per-segment scales
    code, _, err = run(["train", "--data", str(audio_folder), "--out", str(tmp_path / "run"), "--from", str(base),
                        "--threads", "1", "--workers", "0"], capsys)
    assert code == 2 and "cannot be trained here" in err and "2 channels" in err and "scales" in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "run").exists()


def test_freeze_without_a_base_model_is_refused(audio_folder, tmp_path, capsys):
    code, _, err = run(tiny_args(audio_folder, tmp_path / "run", "--freeze", "encoder"), capsys)
    assert code == 2 and "--freeze needs --from" in err


def test_unknown_freeze_part_is_refused(audio_folder, tmp_path, capsys):
    code, _, err = run(tiny_args(audio_folder, tmp_path / "run", "--freeze", "encoder,wings"), capsys)
    assert code == 2 and "unknown part 'wings'" in err


def test_missing_data_folder_is_a_clear_error(tmp_path, capsys):
    code, events, err = run(tiny_args(tmp_path / "nowhere", tmp_path / "run", "--json-progress"), capsys)
    assert code == 2
    assert "training folder not found" in err
    assert events == [{"event": "error", "message": f"training folder not found: {tmp_path / 'nowhere'}"}]
    assert not (tmp_path / "run").exists()  # nothing written before the data was checked


def test_folder_without_audio_is_a_clear_error(tmp_path, capsys):
    (tmp_path / "empty" / "notes").mkdir(parents=True)
    (tmp_path / "empty" / "notes" / "readme.txt").write_text("no audio here")
    code, _, err = run(tiny_args(tmp_path / "empty", tmp_path / "run"), capsys)
    assert code == 2 and "no audio files in the training folder" in err


def test_folder_of_unreadable_files_is_a_clear_error(tmp_path, capsys):
    bad = tmp_path / "bad"
    bad.mkdir()
    for name in ("a.wav", "b.flac"):
        (bad / name).write_bytes(b"not audio at all")
    code, _, err = run(tiny_args(bad, tmp_path / "run"), capsys)
    assert code == 2 and "all 2 audio files are unreadable" in err


def test_single_file_without_validation_folder_is_a_clear_error(tmp_path, capsys):
    write_tone(tmp_path / "one" / "a.wav", 16000, 1.0)
    code, _, err = run(tiny_args(tmp_path / "one", tmp_path / "run"), capsys)
    assert code == 2 and "single usable file" in err and "--val" in err


def test_existing_run_is_not_overwritten_without_resume(audio_folder, tmp_path, capsys):
    out = tmp_path / "run"
    assert run(tiny_args(audio_folder, out, "--steps", "1"), capsys)[0] == 0
    code, _, err = run(tiny_args(audio_folder, out, "--steps", "1"), capsys)
    assert code == 2 and "already holds a training run" in err and "--resume" in err


def test_resume_refuses_settings_that_change_what_a_step_computes(audio_folder, tmp_path, capsys):
    out = tmp_path / "run"
    assert run(tiny_args(audio_folder, out, "--steps", "1"), capsys)[0] == 0
    code, _, err = run(tiny_args(audio_folder, out, "--resume", "--lr", "0.01"), capsys)
    assert code == 2 and "--lr differs from the run being resumed" in err


def test_resume_may_change_the_learning_rate_decay_from_the_rate_reached(audio_folder, tmp_path, capsys):
    out = tmp_path / "run"
    assert run(tiny_args(audio_folder, out, "--steps", "3"), capsys)[0] == 0
    before = load_checkpoint(out / "checkpoints" / "step-000000003.safetensors")
    lr_at_3 = before["optimizer_generator"]["param_groups"][0]["lr"]
    code, events, _ = run(tiny_args(audio_folder, out, "--resume", "--steps", "5", "--lr-gamma", "0.5",
                                    "--json-progress"), capsys)
    assert code == 0
    start = next(e for e in events if e["event"] == "start")
    assert start["lr"] == pytest.approx(lr_at_3) and start["lr_gamma"] == 0.5
    assert start["resumed_lr_gamma"] == before["scheduler_generator"]["gamma"] != 0.5
    assert f"decay 0.5 per step (changed from {start['resumed_lr_gamma']})" in event_text(start)
    after = load_checkpoint(out / "checkpoints" / "step-000000005.safetensors")
    for part in ("generator", "discriminator"):
        assert after[f"scheduler_{part}"]["gamma"] == 0.5
        reached = before[f"optimizer_{part}"]["param_groups"][0]["lr"]  # the critic's decays from the GAN's start
        assert after[f"optimizer_{part}"]["param_groups"][0]["lr"] == pytest.approx(reached * 0.5**2)
    assert json.loads((out / "config.json").read_text())["preset"]["lr_gamma"] == 0.5  # holds for later resumes
    code, events, _ = run(tiny_args(audio_folder, out, "--resume", "--steps", "6", "--json-progress"), capsys)
    assert code == 0 and next(e for e in events if e["event"] == "start")["lr_gamma"] == 0.5
    final = load_checkpoint(out / "checkpoints" / "step-000000006.safetensors")
    assert final["optimizer_generator"]["param_groups"][0]["lr"] == pytest.approx(lr_at_3 * 0.5**3)


@pytest.mark.parametrize("gamma", ["0", "1.5", "-0.1"])
def test_a_learning_rate_decay_outside_0_to_1_is_a_clear_error(audio_folder, tmp_path, capsys, gamma):
    code, _, err = run(tiny_args(audio_folder, tmp_path / "run", "--lr-gamma", gamma), capsys)
    assert code == 2 and "decay per step must be within (0, 1]" in err
    assert not (tmp_path / "run").exists()


def test_validation_folder_is_used_instead_of_a_held_out_split(audio_folder, tmp_path, capsys):
    write_tone(tmp_path / "val" / "v.wav", 44100, 1.0, freq=1000.0)
    code, events, _ = run(tiny_args(audio_folder, tmp_path / "run", "--val", str(tmp_path / "val"), "--steps", "1",
                                    "--json-progress"), capsys)
    assert code == 0
    data = events[0]
    assert data["validation_source"] == "folder" and data["validation"]["files"] == 1
    assert data["train"]["files"] == 6  # nothing held out


def test_latest_model_is_the_last_validated_and_model_the_best(audio_folder, tmp_path, capsys):
    out = tmp_path / "run"
    code, events, _ = run(tiny_args(audio_folder, out, "--json-progress"), capsys)
    assert code == 0
    validations = [e for e in events if e["event"] == "validation"]
    best = min(validations, key=lambda e: e["mel_distance"])
    latest, kept = read_training_summary(out / "latest.safetensors"), read_training_summary(out / "model.safetensors")
    assert latest["steps"] == validations[-1]["step"] and kept["steps"] == best["step"]
    assert latest["validation"]["rows"] == validations[-1]["rows"]
