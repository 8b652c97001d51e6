"""Model files stored in float16 (the bundled default): loaded as float32, decoding as the original."""
from __future__ import annotations

import torch
from safetensors import safe_open

import model.loading
from model.export import save_model_file
from model.loading import load_codec
from model.registry import DEFAULT_PRESET, family, preset


def _network_and_codes():
    torch.manual_seed(3)
    config = dict(preset(DEFAULT_PRESET).architecture)
    network = family("dac").build(config)
    codes = torch.randint(0, config["codebook_size"], (1, config["n_codebooks"], 40))
    return config, network, codes


def test_float16_file_halves_the_storage_and_loads_as_float32(tmp_path):
    config, network, _ = _network_and_codes()
    save_model_file(network, tmp_path / "m32.safetensors", family="dac", config=config, name="m")
    save_model_file(network, tmp_path / "m16.safetensors", family="dac", config=config, name="m",
                    dtype=torch.float16)
    with safe_open(str(tmp_path / "m16.safetensors"), framework="pt") as f:
        stored = {k: f.get_tensor(k) for k in f.keys()}
    assert {t.dtype for t in stored.values()} == {torch.float16}
    for key, value in network.state_dict().items():  # exactly the float32 weights rounded to float16
        assert torch.equal(stored[key], value.to(torch.float16)), key
    size32, size16 = (tmp_path / "m32.safetensors").stat().st_size, (tmp_path / "m16.safetensors").stat().st_size
    assert size16 < 0.51 * size32
    codec = load_codec(tmp_path / "m16.safetensors")
    assert {p.dtype for p in codec.network.parameters()} == {torch.float32}


def test_float16_file_decodes_close_to_the_float32_model(tmp_path):
    config, network, codes = _network_and_codes()
    save_model_file(network, tmp_path / "m32.safetensors", family="dac", config=config, name="m")
    save_model_file(network, tmp_path / "m16.safetensors", family="dac", config=config, name="m",
                    dtype=torch.float16)
    full = load_codec(tmp_path / "m32.safetensors").decode(codes)
    half = load_codec(tmp_path / "m16.safetensors").decode(codes)
    assert not torch.equal(full, half)  # the rounding is real...
    snr = 10 * torch.log10((full**2).sum() / ((half - full) ** 2).sum())
    assert snr > 40.0  # ...and costs less than 1 % of the signal amplitude


def test_load_codec_default_loads_the_bundled_float16_file(tmp_path, monkeypatch):
    config, network, codes = _network_and_codes()
    path = tmp_path / "default.safetensors"
    save_model_file(network, path, family="dac", config=config, name="bundled", dtype=torch.float16)
    monkeypatch.setattr(model.loading, "DEFAULT_MODEL_PATH", path)
    codec = load_codec("default")
    assert codec.name == "default" and codec.trained and codec.source == str(path)
    assert torch.equal(codec.decode(codes), load_codec(path).decode(codes))
