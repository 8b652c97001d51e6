"""A run folder is never lost: one trainer at a time, and no resume that would start over."""
from __future__ import annotations

import hashlib

import pytest
from training_helpers import tiny_args

from app.cli.command_line import main
from model.training.checkpoint import TrainingStateError
from model.training.run_folder import RunFolder
from model.training.run_lock import RunLock


def _digests(folder) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name != ".lock"}


def test_resume_without_step_checkpoints_is_refused_and_the_trained_model_kept(audio_folder, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(tiny_args(audio_folder, out, "--steps", "4")) == 0
    for step_file in (out / "checkpoints").glob("step-*.safetensors"):
        step_file.unlink()
    before = _digests(out)
    assert "model.safetensors" in before and "checkpoints/best.safetensors" in before
    capsys.readouterr()
    assert main(tiny_args(audio_folder, out, "--resume", "--steps", "6")) == 2
    err = capsys.readouterr().err
    assert "no step checkpoint to resume from" in err and "overwrite" in err
    assert len(err.strip().splitlines()) == 1
    assert _digests(out) == before  # nothing rewritten


def test_a_second_trainer_on_a_locked_run_folder_is_refused_at_once(audio_folder, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(tiny_args(audio_folder, out, "--steps", "2")) == 0
    before = _digests(out)
    capsys.readouterr()
    with RunLock(RunFolder(out).lock_path):  # another trainer holds the run
        assert main(tiny_args(audio_folder, out, "--resume", "--steps", "4")) == 2
        err = capsys.readouterr().err
    assert "in use by another training process" in err
    assert _digests(out) == before
    # Released with its holder: the same command now resumes.
    assert main(tiny_args(audio_folder, out, "--resume", "--steps", "3")) == 0


def test_two_new_runs_into_one_folder_cannot_both_start(audio_folder, tmp_path, capsys):
    out = tmp_path / "run"
    with RunLock(RunFolder(out).lock_path):  # the first new run has the folder, before its config exists
        assert main(tiny_args(audio_folder, out, "--steps", "2")) == 2
    assert "in use by another training process" in capsys.readouterr().err
    assert not RunFolder(out).config_path.exists()


def test_the_lock_names_its_holder_and_is_released_with_it(tmp_path):
    path = RunFolder(tmp_path / "run").lock_path
    first = RunLock(path)
    first.acquire()
    with pytest.raises(TrainingStateError, match=r"process \d+"):
        RunLock(path).acquire()
    first.release()
    with RunLock(path):
        pass


def test_a_refused_new_run_leaves_no_folder_behind(tmp_path, capsys):
    empty = tmp_path / "no-audio"
    empty.mkdir()
    out = tmp_path / "run"
    assert main(tiny_args(empty, out)) == 2
    capsys.readouterr()
    assert not out.exists()
