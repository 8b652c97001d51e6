"""Dead-code revival: rare codes move onto batch latents, become used, and nothing else changes."""
from __future__ import annotations

import json

import pytest
import torch
from training_helpers import json_events, tiny_args

from app.cli.command_line import main
from model.registry import family as codec_family
from model.registry import preset
from model.hificodec import HifiCodec, HifiCodecConfig
from model.soundstream import SoundStream, SoundStreamConfig
from model.training.checkpoint import load_checkpoint
from model.training.code_revival import CodeRevival
from model.training.progress import event_text

TINY_ARCH = preset("tiny").architecture


def _tiny_dac(seed: int = 0):
    torch.manual_seed(seed)
    return codec_family("dac").build(TINY_ARCH).train()


def _batch(seed: int = 1, items: int = 2, samples: int = 3200) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return 0.3 * torch.randn(items, 1, samples, generator=g)


def test_usage_is_counted_per_codebook():
    revival = CodeRevival(_tiny_dac(), window=10, min_uses=1, seed=0)
    codes = torch.tensor([[[0, 0, 5], [1, 2, 2], [31, 31, 31]]])  # [B=1, N=3, T=3]
    revival.observe(codes)
    revival.observe(codes)
    assert revival.observed == 2 and not revival.due()
    expected = torch.zeros(3, 32, dtype=torch.long)
    expected[0, 0], expected[0, 5] = 4, 2
    expected[1, 1], expected[1, 2] = 2, 4
    expected[2, 31] = 6
    assert torch.equal(revival.uses, expected)


def test_rare_codes_move_onto_batch_latents_and_become_used():
    network = _tiny_dac()
    optimizer = torch.optim.AdamW(network.parameters(), lr=1e-3)
    real = _batch()
    fake, q = network(real)
    (fake.pow(2).mean() + q.codebook_loss).backward()  # give AdamW moments to forget
    optimizer.step()
    before = {n: p.detach().clone() for n, p in network.named_parameters()}
    moments = {n: {k: v.clone() for k, v in optimizer.state[p].items()} for n, p in network.named_parameters()}

    padded = torch.nn.functional.pad(real, (0, -real.shape[-1] % network.hop_length))
    with torch.no_grad():  # what revive() sees (convolutions round differently with autograd on)
        inputs = network.quantizer.stage_inputs(network.encoder_stack()(padded))
    revival = CodeRevival(network, window=1, min_uses=1, seed=0)
    used = torch.zeros(3, 32, dtype=torch.long)
    used[:, :20] = 5  # codes 20..31 of every codebook count as unused
    revival.uses.copy_(used)
    event = revival.revive(real, optimizer, step=1)

    assert event["event"] == "revival" and event["rare"] == [12, 12, 12] and event["revived"] == [12, 12, 12]
    assert torch.equal(revival.uses, torch.zeros_like(revival.uses))  # a new window starts
    for i, stage in enumerate(network.quantizer.quantizers):
        name = f"quantizer.quantizers.{i}.codebook.weight"
        weight = stage.codebook.weight.detach()
        assert torch.equal(weight[:20], before[name][:20]), "used codes must not move"
        with torch.no_grad():
            rows = stage.code_vectors(inputs[i])
        for code in range(20, 32):
            # each revived code is exactly one of this stage's latents on the batch...
            source = (rows - weight[code]).abs().amax(1).argmin()
            torch.testing.assert_close(rows[source], weight[code], rtol=0, atol=0)
            # ...and that latent's nearest code is now a revived one: the code is in use
            assert int(stage.nearest(rows[source][None, :, None])) >= 20
        state = optimizer.state[stage.codebook.weight]
        for key in ("exp_avg", "exp_avg_sq"):
            assert torch.equal(state[key][20:], torch.zeros_like(state[key][20:]))
            assert torch.equal(state[key][:20], moments[name][key][:20])
    changed = [n for n, p in network.named_parameters() if not torch.equal(p.detach(), before[n])]
    assert sorted(changed) == [f"quantizer.quantizers.{i}.codebook.weight" for i in range(3)]
    assert set(network.state_dict()) == set(_tiny_dac().state_dict())  # no new entries in the model


def test_the_event_reads_as_one_line_for_people():
    text = event_text({"event": "revival", "step": 400, "rare": [30, 2], "revived": [20, 2], "min_uses": 3,
                       "window": 200})
    assert text == "codes revived at step 400: 22 in all, per codebook 20 2 (used < 3 times in 200 steps)"


def test_at_most_one_code_per_batch_frame_is_revived():
    network = _tiny_dac()
    revival = CodeRevival(network, window=1, min_uses=1, seed=0)
    real = _batch(items=1, samples=320)  # 10 frames at hop 32
    event = revival.revive(real, torch.optim.AdamW(network.parameters()), step=1)  # nothing used yet
    assert event["rare"] == [32, 32, 32] and event["revived"] == [10, 10, 10]


def test_revival_is_deterministic_for_a_seed_and_step():
    a, b = _tiny_dac(), _tiny_dac()
    for network in (a, b):
        CodeRevival(network, 1, 1, seed=7).revive(_batch(), torch.optim.AdamW(network.parameters()), step=40)
    for (name, pa), pb in zip(a.named_parameters(), b.parameters()):
        assert torch.equal(pa, pb), name


def test_frozen_or_ema_codebooks_get_no_revival():
    network = _tiny_dac()
    assert CodeRevival.for_network(network, window=0, min_uses=3, seed=0) is None  # off
    assert CodeRevival.for_network(network, window=5, min_uses=3, seed=0) is not None
    for p in network.quantizer.parameters():
        p.requires_grad_(False)  # the decoder-only fine-tune keeps codes compatible
    assert CodeRevival.for_network(network, window=5, min_uses=3, seed=0) is None
    ema = SoundStream(SoundStreamConfig(n_filters=2, dimension=8, n_codebooks=2, codebook_size=16))
    assert CodeRevival.for_network(ema, window=5, min_uses=3, seed=0) is None


def test_hificodec_group_codebooks_are_revived_in_their_own_code_space():
    torch.manual_seed(0)
    network = HifiCodec(HifiCodecConfig(encoder_dim=2, latent_dim=8, decoder_dim=16, codebook_size=16)).train()
    revival = CodeRevival.for_network(network, window=1, min_uses=1, seed=0)
    assert revival is not None
    event = revival.revive(_batch(samples=network.hop_length * 8), torch.optim.AdamW(network.parameters()), step=1)
    assert all(r > 0 for r in event["revived"])
    stage = network.quantizer.quantizers[0]
    assert stage.learned_codebook().weight.shape[1] == stage.stop - stage.start


def test_counts_that_do_not_fit_the_model_are_refused():
    revival = CodeRevival(_tiny_dac(), window=1, min_uses=1, seed=0)
    with pytest.raises(ValueError, match="do not fit"):
        revival.load_state_dict({"uses": torch.zeros(4, 32, dtype=torch.long)})


def test_a_resumed_run_with_revival_equals_the_uninterrupted_one(audio_folder, tmp_path, capsys):
    straight, split = tmp_path / "straight", tmp_path / "split"
    assert main(tiny_args(audio_folder, straight, "--revive-every", "2", "--json-progress")) == 0
    straight_events = [e for e in json_events(capsys.readouterr().out) if e["event"] == "revival"]
    assert main(tiny_args(audio_folder, split, "--revive-every", "2", "--steps", "3", "--json-progress")) == 0
    # the window of steps 3-4 spans the interruption: its counts must come back from the checkpoint
    assert main(tiny_args(audio_folder, split, "--resume", "--steps", "6", "--json-progress")) == 0
    split_events = [e for e in json_events(capsys.readouterr().out) if e["event"] == "revival"]
    assert [e["step"] for e in straight_events] == [2, 4, 6]
    assert split_events == straight_events
    assert sum(sum(e["revived"]) for e in straight_events) > 0
    config = json.loads((split / "config.json").read_text())
    assert config["preset"]["revival_window"] == 2  # the resume without the flag kept it
    a = load_checkpoint(straight / "checkpoints" / "step-000000006.safetensors")
    b = load_checkpoint(split / "checkpoints" / "step-000000006.safetensors")
    for key, value in a["generator"].items():
        torch.testing.assert_close(value, b["generator"][key], rtol=1e-6, atol=1e-7, msg=key)
    assert torch.equal(a["revival"]["uses"], b["revival"]["uses"])


def test_revive_every_on_resume_is_written_to_the_run_config(audio_folder, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(tiny_args(audio_folder, out, "--steps", "2")) == 0
    assert json.loads((out / "config.json").read_text())["preset"]["revival_window"] == 0
    capsys.readouterr()
    assert main(tiny_args(audio_folder, out, "--resume", "--steps", "5", "--revive-every", "2", "--json-progress")) == 0
    preset = json.loads((out / "config.json").read_text())["preset"]
    assert preset["revival_window"] == 2 and preset["steps"] == 5
    # the checkpoint had no counts: the first window starts at the resume (step 2), not at step 0
    revivals = [e["step"] for e in json_events(capsys.readouterr().out) if e["event"] == "revival"]
    assert revivals == [4]
