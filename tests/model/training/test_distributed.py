"""Two gloo processes under torchrun: disjoint data shards, identical weights, rank 0 writes."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from training_helpers import REPO, cli_env, initial_tiny_generator_state, json_events

from model.training.checkpoint import load_checkpoint

RANK_SCRIPT = Path(__file__).with_name("ddp_rank.py")


@pytest.mark.slow
def test_two_gloo_ranks_keep_identical_weights(audio_folder, tmp_path):
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent))
    assert torchrun is not None
    out, prefix = tmp_path / "run", str(tmp_path / "rank")
    proc = subprocess.run(
        # --standalone: the rendezvous takes a free port (a fixed one fails the test whenever
        # something else on the machine holds it, a run of the suite beside this one included)
        [torchrun, "--standalone", "--nproc_per_node", "2", str(RANK_SCRIPT),
         str(audio_folder), str(out), prefix, "4"],
        cwd=REPO, env=cli_env(), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ranks = [torch.load(f"{prefix}{r}.pt", weights_only=True) for r in (0, 1)]
    assert ranks[0]["step"] == ranks[1]["step"] == 4
    assert set(ranks[0]["first_batch"].tolist()).isdisjoint(ranks[1]["first_batch"].tolist())
    for part in ("generator", "discriminator"):
        for key, value in ranks[0][part].items():
            assert torch.equal(value, ranks[1][part][key]), (part, key)
    # Only rank 0 reports and writes; its checkpoint holds both ranks' random states.
    events = json_events(proc.stdout)
    assert [e["step"] for e in events if e["event"] == "done"] == [4]
    final = load_checkpoint(out / "checkpoints" / "step-000000004.safetensors")
    assert len(final["rng"]) == 2 and not torch.equal(final["rng"][0]["torch"], final["rng"][1]["torch"])
    for key, value in final["generator"].items():
        assert torch.equal(value, ranks[0]["generator"][key])
    initial = initial_tiny_generator_state()
    assert sum(not torch.equal(initial[k], final["generator"][k]) for k in initial) > len(initial) // 2
