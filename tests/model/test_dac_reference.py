"""Official-layout DAC checkpoints reproduce the reference package's codes and audio.

Fixtures were produced with descript-audio-codec 1.0.0 (see tests/fixtures/dac/README.md).
"""
from pathlib import Path

import numpy as np
import pytest
import torch

from model import load_codec

FIXTURES = Path(__file__).parent.parent / "fixtures" / "dac"
NAMES = ["dac44k", "dac44k_latent128", "dac24k", "dac16k"]


@pytest.fixture(params=NAMES)
def case(request):
    name = request.param
    expected = dict(np.load(FIXTURES / f"{name}_expected.npz", allow_pickle=False))
    return load_codec(FIXTURES / f"{name}.pth"), expected


def test_codes_equal_reference(case):
    codec, ref = case
    raw = torch.from_numpy(ref["input"][..., : int(ref["input_length"])])
    codes = codec.encode(raw)
    assert codes.dtype == torch.int64
    assert torch.equal(codes, torch.from_numpy(ref["codes"]).long())


def test_decoded_audio_equals_reference(case):
    codec, ref = case
    decoded = codec.decode(torch.from_numpy(ref["codes"]).long())
    assert decoded.shape == ref["decoded"].shape  # includes the stride-5 length quirk
    assert np.abs(decoded.numpy() - ref["decoded"]).max() < 1e-4


def test_partial_codebook_decodes_equal_reference(case):
    codec, ref = case
    codes = torch.from_numpy(ref["codes"]).long()
    for n in ref["partial_codebook_counts"].tolist():
        decoded = codec.decode(codes[:, :n]).numpy()
        assert np.abs(decoded - ref[f"decoded_from_{n}_codebooks"]).max() < 1e-4


def test_training_forward_equals_reference_forward(case):
    codec, ref = case
    raw = torch.from_numpy(ref["input"][..., : int(ref["input_length"])])
    with torch.no_grad():
        audio, _ = codec.network.eval()(raw)
    expected = ref["forward_audio"]
    assert audio.shape[-1] >= expected.shape[-1]
    assert np.abs(audio[..., : expected.shape[-1]].numpy() - expected).max() < 1e-4


def test_output_lengths_follow_reference(case):
    codec, ref = case
    for length, frames, decoded in zip(ref["length_probe_input"], ref["length_probe_frames"],
                                       ref["length_probe_decoded"]):
        codes = codec.encode(torch.zeros(1, 1, int(length)))
        assert codes.shape[-1] == frames
        assert codec.decode(codes).shape[-1] == decoded


def test_missing_latent_dim_falls_back_to_encoder_width():
    codec = load_codec(FIXTURES / "dac44k.pth")
    assert codec.describe()["latent_dim"] == 3 * 2**4
