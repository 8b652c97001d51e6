"""The official EnCodec 24 kHz checkpoint layout reproduces the reference package's outputs.

Fixtures were produced with encodec 0.1.1 (see tests/fixtures/encodec/README.md).
"""
import shutil
from pathlib import Path

import numpy as np
import pytest
from official_fixtures import official_fixtures
import torch

from model import CheckpointError, load_codec

FIXTURES = Path(__file__).parent.parent / "fixtures" / "encodec"
CHECKPOINT = FIXTURES / "encodec24k.th"


reference, codec = official_fixtures(CHECKPOINT, FIXTURES / "encodec24k_expected.npz")


def test_official_layout_is_recognised_by_content(tmp_path):
    renamed = tmp_path / "weights.bin"
    shutil.copy(CHECKPOINT, renamed)
    codec = load_codec(renamed)
    assert codec.family == "encodec"
    assert (codec.sample_rate, codec.hop_length, codec.n_codebooks, codec.codebook_size) == (24000, 320, 32, 1024)


def test_bandwidths_map_to_codebook_counts(codec):
    assert codec.describe()["bandwidths"] == {"1.5 kbps": 2, "3 kbps": 4, "6 kbps": 8, "12 kbps": 16, "24 kbps": 32}
    assert [codec.kbps(n) for n in (2, 4, 8, 16, 32)] == [1.5, 3.0, 6.0, 12.0, 24.0]


def test_codes_equal_reference(codec, reference):
    codes = codec.encode(torch.from_numpy(reference["input"]))
    assert codes.dtype == torch.int64
    assert torch.equal(codes, torch.from_numpy(reference["codes"]).long())


def test_lower_bandwidth_codes_equal_reference(codec, reference):
    expected = torch.from_numpy(reference["codes_at_6kbps"]).long()
    codes = codec.encode(torch.from_numpy(reference["input"]), n_codebooks=8)
    assert torch.equal(codes, expected)


def test_decoded_audio_equals_reference(codec, reference):
    decoded = codec.decode(torch.from_numpy(reference["codes"]).long())
    assert decoded.shape == reference["decoded"].shape
    assert np.abs(decoded.numpy() - reference["decoded"]).max() < 1e-4


def test_partial_codebook_decodes_equal_reference(codec, reference):
    codes = torch.from_numpy(reference["codes"]).long()
    for n in reference["partial_codebook_counts"].tolist():
        decoded = codec.decode(codes[:, :n]).numpy()
        assert np.abs(decoded - reference[f"decoded_from_{n}_codebooks"]).max() < 1e-4


def test_training_forward_equals_reference_forward(codec, reference):
    with torch.no_grad():
        audio, q = codec.network.eval()(torch.from_numpy(reference["input"]))
    assert audio.shape == reference["forward_audio"].shape
    assert np.abs(audio.numpy() - reference["forward_audio"]).max() < 1e-4
    assert torch.equal(q.codes, torch.from_numpy(reference["codes"]).long())


def test_output_lengths_follow_reference(codec, reference):
    for length, frames, decoded in zip(reference["length_probe_input"], reference["length_probe_frames"],
                                       reference["length_probe_decoded"]):
        codes = codec.encode(torch.zeros(1, 1, int(length)))
        assert codes.shape[-1] == frames
        assert codec.decode(codes).shape[-1] == decoded


def test_lstm_codec_runs_whole_and_its_internal_chunks_are_exact(codec, reference):
    """No chunk margins exist for an LSTM: the codec is not chunkable, but its convolution
    stacks run in internal chunks whose results equal the one-piece computation."""
    assert not codec.chunkable
    assert (codec.encoder_context, codec.decoder_context) == (None, None)
    audio = torch.from_numpy(reference["input"])
    codes = codec.encode(audio, chunk_seconds=0.01)  # ignored: not chunkable
    codec.network.inference_chunk_frames = 3  # 30 frames -> 10 internal chunks
    assert torch.equal(codec.encode(audio), codes)
    chunked = codec.decode(codes)
    codec.network.inference_chunk_frames = 10_000
    assert np.abs(chunked.numpy() - codec.decode(codes).numpy()).max() < 1e-5
    assert np.abs(chunked.numpy() - reference["decoded"]).max() < 1e-4


def test_strict_loading_names_a_missing_official_tensor(tmp_path):
    state = torch.load(CHECKPOINT, weights_only=True)
    del state["decoder.model.1.lstm.bias_hh_l1"]
    path = tmp_path / "broken.th"
    torch.save(state, path)
    with pytest.raises(CheckpointError, match="decoder.model.1.lstm.bias_hh_l1"):
        load_codec(path)


def test_a_layout_mixing_weight_norm_and_group_norm_is_refused_clearly(tmp_path):
    state = torch.load(CHECKPOINT, weights_only=True)
    state["encoder.model.0.conv.norm.weight"] = torch.ones(4)
    path = tmp_path / "mixed.th"
    torch.save(state, path)
    with pytest.raises(CheckpointError, match="mixes weight-normalised and time-group-normed"):
        load_codec(path)
