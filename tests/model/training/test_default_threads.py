"""The trainer's default thread count leaves a core free, so other work cannot collapse its pace."""
from __future__ import annotations

import os

import pytest
import torch
from training_helpers import json_events

from app.cli.command_line import main
from model.training.run_config import default_threads


@pytest.mark.parametrize(("cores", "local_processes", "expected"), [(1, 1, 1), (2, 1, 1), (8, 1, 7), (8, 2, 3),
                                                                   (2, 4, 1)])
def test_all_cores_but_one_shared_among_the_processes_on_this_machine(monkeypatch, cores, local_processes,
                                                                      expected):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(cores)), raising=False)
    monkeypatch.setenv("LOCAL_WORLD_SIZE", str(local_processes))
    assert default_threads() == expected


def test_train_without_threads_runs_on_the_default(audio_folder, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(3)), raising=False)
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    before = torch.get_num_threads()
    try:
        args = ["train", "--data", str(audio_folder), "--out", str(tmp_path / "run"), "--preset", "tiny",
                "--workers", "0", "--steps", "1", "--json-progress"]
        assert main(args) == 0
        start = next(e for e in json_events(capsys.readouterr().out) if e["event"] == "start")
    finally:
        torch.set_num_threads(before)
    assert start["threads"] == 2
