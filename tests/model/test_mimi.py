"""Mimi: the official safetensors layout reproduces Kyutai's ``moshi`` package.

Fixtures were produced with moshi 0.2.13 (see tests/fixtures/mimi/README.md).
"""
from pathlib import Path

import numpy as np
import pytest
from official_fixtures import official_fixtures
import torch
from safetensors.torch import load_file, save_file

from model import CheckpointError, load_codec
from model import causal_transformer
from model.causal_transformer import CausalTransformer
from model.loading import load_network
from model.mimi import parse_official
from model.registry import family, preset

FIXTURES = Path(__file__).parent.parent / "fixtures" / "mimi"
CHECKPOINT = FIXTURES / "mimi.safetensors"


reference, codec = official_fixtures(CHECKPOINT, FIXTURES / "mimi_expected.npz")


def test_official_file_is_recognised_by_its_keys(tmp_path):
    renamed = tmp_path / "weights.bin"
    renamed.write_bytes(CHECKPOINT.read_bytes())
    codec = load_codec(renamed)
    assert codec.family == "mimi"
    assert (codec.sample_rate, codec.hop_length, codec.frame_rate) == (24000, 1920, 12.5)
    assert (codec.n_codebooks, codec.codebook_size) == (32, 2048)  # every codebook of the file


def test_codebook_zero_is_labelled_semantic(codec):
    assert codec.describe()["codebook_labels"] == [("semantic", 0, 1), ("acoustic", 1, 32)]


def test_codes_equal_reference(codec, reference):
    codes = codec.encode(torch.from_numpy(reference["input"]))
    assert torch.equal(codes, torch.from_numpy(reference["codes"]).long())


def test_decoded_audio_equals_reference(codec, reference):
    decoded = codec.decode(torch.from_numpy(reference["codes"]).long())
    assert decoded.shape == reference["decoded"].shape
    assert np.abs(decoded.numpy() - reference["decoded"]).max() < 1e-4


def test_first_n_codebooks_decode_as_the_reference(codec, reference):
    codes = torch.from_numpy(reference["codes"]).long()
    for n in reference["partial_codebook_counts"]:
        decoded = codec.decode(codes[:, :n])
        assert np.abs(decoded.numpy() - reference[f"decoded_from_{n}_codebooks"]).max() < 1e-4


def test_codes_never_depend_on_future_audio(codec, reference):
    x = torch.from_numpy(reference["input"])
    cut = 10 * codec.hop_length
    y = x.clone()
    y[..., cut:] = 0.3 * torch.randn_like(y[..., cut:])
    a, b = codec.encode(x), codec.encode(y)
    assert torch.equal(a[..., :10], b[..., :10]) and not torch.equal(a, b)


def test_current_package_attention_names_read_as_the_release_names():
    release = load_file(str(CHECKPOINT))
    current = {k.replace(".in_proj_weight", ".in_projs.0.weight").replace(".out_proj.", ".out_projs.0."): v
               for k, v in release.items()}
    (config_a, state_a), (config_b, state_b) = parse_official(release), parse_official(current)
    assert config_a == config_b and state_a.keys() == state_b.keys()
    assert all(torch.equal(state_a[k], state_b[k]) for k in state_a)


@pytest.mark.parametrize("change", ["drop", "add"])
def test_missing_or_unexpected_weights_are_a_clear_error(tmp_path, change):
    state = load_file(str(CHECKPOINT))
    key = "decoder_transformer.transformer.layers.1.linear2.weight"
    if change == "drop":
        del state[key]
    else:
        state[key.replace("linear2", "linear3")] = state[key].clone()
    path = tmp_path / "broken.safetensors"
    save_file(state, str(path))
    with pytest.raises(CheckpointError, match=r"^broken\.safetensors: weights do not match .*linear"):
        load_codec(path)


def test_transformer_context_equals_reference_in_any_query_block(monkeypatch):
    """Frames beyond the attention context (10 of 70 here) are ignored as the package does."""
    expected = dict(np.load(FIXTURES / "transformer_expected.npz", allow_pickle=False))
    settings = {k: int(expected[k]) for k in ("d_model", "num_heads", "num_layers", "dim_feedforward", "context")}
    net = CausalTransformer(settings["d_model"], settings["num_heads"], settings["num_layers"],
                            settings["dim_feedforward"], settings["context"], layer_scale=0.01, max_period=10000.0)
    state = {k.removeprefix("transformer.").replace(".in_proj_weight", ".in_proj.weight"): v
             for k, v in load_file(str(FIXTURES / "transformer.safetensors")).items()}
    net.load_state_dict(state, strict=True)
    x = torch.from_numpy(expected["input"])
    with torch.no_grad():
        whole = net(x)
        monkeypatch.setattr(causal_transformer, "QUERY_BLOCK", 7)
        blocked = net(x)
    assert np.abs(whole.numpy() - expected["output"]).max() < 1e-5
    assert (blocked - whole).abs().max() < 1e-6



@pytest.mark.parametrize("key", ["quantizer.rvq_first.input_proj.weight", "downsample.conv.conv.conv.weight",
                                 "encoder_transformer.transformer.layers.0.linear1.weight"])
def test_a_release_file_lacking_what_its_settings_are_read_from_is_one_clear_line(tmp_path, key):
    state = load_file(str(CHECKPOINT))
    del state[key]
    path = tmp_path / "cut.safetensors"
    save_file(state, str(path))
    with pytest.raises(CheckpointError, match=r"^cut\.safetensors: (Mimi checkpoint with invalid settings: layers "
                                              r"are missing|weights do not match)"):
        load_codec(path)


@pytest.mark.parametrize("change", [{"context": 0}, {"num_heads": 3}, {"downsample_stride": 0}, {"n_codebooks": 1}])
def test_settings_no_mimi_can_have_are_refused(change):
    with pytest.raises(ValueError):
        family("mimi").build({**preset("mimi-tiny").architecture, **change})


def test_bounded_memory_pieces_equal_the_one_piece_computation(monkeypatch, reference):
    """The whole-signal path computes the SEANet stacks in chunks and attention in query blocks;
    neither changes the codes, and the audio only by float summation order."""
    codec = load_codec(CHECKPOINT)
    x = torch.from_numpy(reference["input"])
    codes, audio = codec.encode(x), codec.decode(torch.from_numpy(reference["codes"]).long())
    codec.network.inference_chunk_frames = 3  # SEANet frames (25 Hz): chunks of 0.12 s
    monkeypatch.setattr(causal_transformer, "QUERY_BLOCK", 8)
    assert torch.equal(codec.encode(x), codes)
    assert (codec.decode(codes) - audio).abs().max() < 1e-5


def test_the_release_layout_loads_for_fine_tuning_and_trains_end_to_end(reference):
    """load_network gives the weight-normalised training layout; gradients reach every part."""
    key, _, net, _ = load_network(CHECKPOINT)
    assert key == "mimi" and net.training
    recon, q = net(torch.from_numpy(reference["input"])[..., :4000])
    assert recon.shape == (1, 1, 4000) and q.codes.shape[1] == 32
    (recon.abs().mean() + q.commitment_loss).backward()
    for part in ("encoder.seanet", "encoder.transformer", "encoder.downsample", "quantizer.semantic.input_proj",
                 "quantizer.acoustic.output_proj", "decoder.upsample", "decoder.transformer", "decoder.seanet"):
        grads = [p.grad for name, p in net.named_parameters() if name.startswith(part)]
        assert grads and all(g is not None for g in grads), part
