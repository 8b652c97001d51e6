"""scripts/carry_run.py: a run parked in the repository and restored elsewhere continues exactly."""
from __future__ import annotations

import subprocess
import sys

import torch
from training_helpers import REPO, cli_env, json_events, tiny_args

from app.cli.command_line import main
from model.training.checkpoint import CheckpointFolder, load_checkpoint

SCRIPT = REPO / "scripts" / "carry_run.py"


def _carry(direction: str, run, log, parked, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), direction, "--run", str(run), "--log", str(log),
                           "--parked", str(parked), *extra], env=cli_env(), capture_output=True, text=True,
                          timeout=120)


def _train(args: list[str], log, capsys) -> None:
    assert main(args) == 0
    with open(log, "a") as stream:
        stream.write(capsys.readouterr().out)


def test_parked_and_restored_run_continues_like_the_uninterrupted_one(audio_folder, tmp_path, capsys):
    straight, first, second = tmp_path / "straight", tmp_path / "machine1", tmp_path / "machine2"
    parked, log1, log2 = tmp_path / "repo" / "parked", tmp_path / "one.log", tmp_path / "two.log"
    _train(tiny_args(audio_folder, straight), tmp_path / "straight.log", capsys)
    _train(tiny_args(audio_folder, first, "--steps", "3", "--json-progress"), log1, capsys)

    parking = _carry("park", first, log1, parked)
    assert parking.returncode == 0, parking.stderr
    assert [p.name for _, p in CheckpointFolder(parked / "checkpoints").periodic()] == ["step-000000003.pt"]
    assert not (parked / "checkpoints" / "best.pt").exists()
    assert (parked / "progress.jsonl").read_text() == log1.read_text()

    restoring = _carry("restore", second, log2, parked)
    assert restoring.returncode == 0, restoring.stderr
    _train(tiny_args(audio_folder, second, "--resume", "--steps", "6", "--json-progress"), log2, capsys)

    a = load_checkpoint(straight / "checkpoints" / "step-000000006.pt")
    b = load_checkpoint(second / "checkpoints" / "step-000000006.pt")
    for key, value in a["generator"].items():
        torch.testing.assert_close(b["generator"][key], value, rtol=1e-6, atol=1e-7, msg=key)
    steps = [e["step"] for e in json_events(log2.read_text()) if e.get("event") == "step"]
    assert steps[0] <= 3 and steps[-1] == 6  # the restored log goes on where the parked one ended


def test_older_state_never_replaces_newer(audio_folder, tmp_path, capsys):
    run, parked, log = tmp_path / "run", tmp_path / "parked", tmp_path / "run.log"
    _train(tiny_args(audio_folder, run, "--steps", "3", "--json-progress"), log, capsys)
    assert _carry("park", run, log, parked).returncode == 0
    _train(tiny_args(audio_folder, run, "--resume", "--steps", "6", "--json-progress"), log, capsys)

    refused = _carry("restore", run, log, parked)
    assert refused.returncode == 2
    assert "already holds step 6, newer than step 3" in refused.stderr
    assert CheckpointFolder(run / "checkpoints").periodic()[-1][0] == 6


def test_a_folder_without_a_run_is_refused(tmp_path):
    result = _carry("park", tmp_path / "nothing", tmp_path / "none.log", tmp_path / "parked")
    assert result.returncode == 2
    assert "holds no run" in result.stderr
    assert not (tmp_path / "parked").exists()
