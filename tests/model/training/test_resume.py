"""Exact resume, SIGTERM and SIGKILL: a run can stop anywhere and continue as if it never had."""
from __future__ import annotations

import signal
import subprocess
import sys

import pytest
import torch
from training_helpers import REPO, cli_env, initial_tiny_generator_state, json_events, tiny_args

from app.cli.command_line import main
from model.training.checkpoint import CheckpointFolder, load_checkpoint


def _final_state(out):
    return load_checkpoint(out / "checkpoints" / "step-000000006.safetensors")


def _flatten(tree, prefix=""):
    """Every tensor and number of a nested checkpoint entry, by path."""
    if isinstance(tree, dict):
        return {k: v for key, value in tree.items() for k, v in _flatten(value, f"{prefix}{key}/").items()}
    if isinstance(tree, list | tuple):
        return {k: v for i, value in enumerate(tree) for k, v in _flatten(value, f"{prefix}{i}/").items()}
    return {prefix: tree}


def test_interrupted_and_resumed_run_equals_the_uninterrupted_one(audio_folder, tmp_path, capsys):
    straight, split = tmp_path / "straight", tmp_path / "split"
    # One data worker process here, none there: the data must not depend on who loads it.
    assert main(tiny_args(audio_folder, straight, "--workers", "1")) == 0
    assert main(tiny_args(audio_folder, split, "--steps", "3")) == 0  # stops after the GAN started
    assert main(tiny_args(audio_folder, split, "--resume", "--steps", "6")) == 0
    capsys.readouterr()
    a, b = _final_state(straight), _final_state(split)
    for part in ("generator", "discriminator", "optimizer_generator", "optimizer_discriminator",
                 "scheduler_generator", "scheduler_discriminator"):
        fa, fb = _flatten(a[part]), _flatten(b[part])
        assert fa.keys() == fb.keys()
        for key in fa:
            if isinstance(fa[key], torch.Tensor):
                torch.testing.assert_close(fa[key], fb[key], rtol=1e-6, atol=1e-7, msg=f"{part} {key}")
            else:
                assert fa[key] == fb[key], (part, key)
    initial = initial_tiny_generator_state()
    assert sum(not torch.equal(initial[k], a["generator"][k]) for k in initial) > len(initial) // 2  # it trained


def _start(args):
    return subprocess.Popen([sys.executable, "-m", "app.cli", *args], cwd=REPO, env=cli_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(proc, predicate) -> dict:
    for line in proc.stdout:
        event = json_events(line)[0]
        if predicate(event):
            return event
    raise AssertionError(f"the run ended first: {proc.stderr.read()[-2000:]}")


def test_sigterm_saves_a_checkpoint_and_exits_cleanly(audio_folder, tmp_path):
    out = tmp_path / "run"
    proc = _start(tiny_args(audio_folder, out, "--steps", "100000", "--ckpt-every", "1000", "--val-every", "1000",
                            "--json-progress"))
    try:
        _wait_for(proc, lambda e: e["event"] == "step" and e["step"] >= 3)
        proc.send_signal(signal.SIGTERM)
        rest, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    events = json_events(rest)
    done = events[-1]
    assert done["event"] == "done" and done["reason"] == "interrupted"
    saved = [e for e in events if e["event"] == "checkpoint" and e["kind"] == "interrupt"]
    assert len(saved) == 1 and saved[0]["step"] == done["step"] >= 3
    assert load_checkpoint(out / "checkpoints" / f"step-{done['step']:09d}.safetensors")["step"] == done["step"]
    assert any(e["event"] == "warning" and "SIGTERM" in e["message"] for e in events)


def test_after_sigkill_the_last_checkpoint_is_intact_and_resumes(audio_folder, tmp_path):
    out = tmp_path / "run"
    proc = _start(tiny_args(audio_folder, out, "--steps", "100000", "--ckpt-every", "1", "--keep", "2",
                            "--val-every", "1000", "--workers", "1", "--json-progress"))
    try:
        _wait_for(proc, lambda e: e["event"] == "checkpoint" and e["step"] >= 3)
        _wait_for(proc, lambda e: e["event"] == "step")  # the next checkpoint is being written now
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        proc.kill()
        proc.stdout.close()
        proc.stderr.close()
    folder = CheckpointFolder(out / "checkpoints")
    periodic = folder.periodic()
    assert 1 <= len(periodic) <= 2
    for step, path in periodic:
        assert load_checkpoint(path)["step"] == step
    latest = periodic[-1][0]
    args = tiny_args(tmp_path / "elsewhere", out, "--resume", "--steps", str(latest + 2), "--json-progress")
    args[args.index("--data") : args.index("--data") + 2] = []  # config.json knows the data
    resumed = subprocess.run([sys.executable, "-m", "app.cli", *args], cwd=REPO, env=cli_env(),
                             capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    events = json_events(resumed.stdout)
    start = next(e for e in events if e["event"] == "start")
    assert start["resumed"] and start["step"] == latest
    assert events[-1]["event"] == "done" and events[-1]["step"] == latest + 2


@pytest.mark.slow
def test_resume_is_exact_with_a_compiled_generator_too(audio_folder, tmp_path, capsys):
    straight, split = tmp_path / "straight", tmp_path / "split"
    assert main(tiny_args(audio_folder, straight, "--compile", "--steps", "4")) == 0
    assert main(tiny_args(audio_folder, split, "--compile", "--steps", "3")) == 0
    assert main(tiny_args(audio_folder, split, "--compile", "--resume", "--steps", "4")) == 0
    capsys.readouterr()
    a = load_checkpoint(straight / "checkpoints" / "step-000000004.safetensors")
    b = load_checkpoint(split / "checkpoints" / "step-000000004.safetensors")
    for part in ("generator", "discriminator"):
        for key, value in a[part].items():
            torch.testing.assert_close(value, b[part][key], rtol=1e-6, atol=1e-7, msg=f"{part} {key}")
