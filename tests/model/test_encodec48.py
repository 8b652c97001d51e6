"""EnCodec 48 kHz (stereo, 1 s normalised segments) reproduces the reference package's outputs.

Fixtures were produced with encodec 0.1.1 by scripts/make_encodec48_fixtures.py (see
tests/fixtures/encodec/README.md): a tiny model in the official 48 kHz layout, its codes,
scales and decoding of a stereo input spanning two segments, segment-length probes, and
.ecdc files written by the package.
"""
import json
import shutil
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from official_fixtures import official_fixtures
import soundfile as sf
import torch

from app.cli.command_line import main
from model import CheckpointError, load_codec
from model.audio_io import read_audio
from model.compression import compress_file, decompress_file, read_clip
from model.ecdc_format import EcdcFormatError, read_ecdc
from model.rvq_format import RvqFormatError, RvqMetadata, read_rvq_with_side, write_rvq

FIXTURES = Path(__file__).parent.parent / "fixtures" / "encodec"
CHECKPOINT = FIXTURES / "encodec48k.th"
ECDC = FIXTURES / "encodec48k.ecdc"
ECDC_24K = FIXTURES / "encodec24k_8codebooks.ecdc"
ECDC_LM = FIXTURES / "encodec48k_lm.ecdc"


reference, codec = official_fixtures(CHECKPOINT, FIXTURES / "encodec48k_expected.npz")


@pytest.fixture(scope="module")
def stereo(reference) -> torch.Tensor:
    return torch.from_numpy(reference["input_pcm16"].astype(np.float32) / np.float32(32767))


@pytest.fixture(scope="module")
def encoded(codec, stereo):
    return codec.encode_audio(stereo)


def test_official_48k_layout_is_recognised_from_its_tensors(codec):
    assert codec.family == "encodec"
    assert (codec.sample_rate, codec.channels, codec.hop_length, codec.frame_rate) == (48000, 2, 320, 150.0)
    assert (codec.n_codebooks, codec.codebook_size, codec.kbps(16)) == (16, 1024, 24.0)
    assert codec.side_info == ("scales", "segment_frames")
    assert codec.describe()["bandwidths"] == {"3 kbps": 2, "6 kbps": 4, "12 kbps": 8, "24 kbps": 16}


def test_codes_scales_and_segments_equal_reference(encoded, reference):
    assert torch.equal(encoded.codes, torch.from_numpy(reference["codes"]).long())
    assert encoded.side["scales"].dtype == torch.float32
    assert np.array_equal(encoded.side["scales"].numpy(), reference["scales"])
    assert encoded.side["segment_frames"].tolist() == [reference["segment_frames"].tolist()]


def test_lower_bandwidth_codes_are_the_reference_prefix_with_the_same_scales(codec, stereo, encoded, reference):
    partial = codec.encode_audio(stereo, n_codebooks=4)
    assert torch.equal(partial.codes, torch.from_numpy(reference["codes_at_6kbps"]).long())
    assert torch.equal(partial.side["scales"], encoded.side["scales"])


def test_decoded_audio_overlap_adds_segments_as_the_reference(codec, encoded, reference):
    decoded = codec.decode(encoded)
    assert decoded.shape == reference["decoded"].shape
    assert np.abs(decoded.numpy() - reference["decoded"]).max() < 1e-4


def test_blocks_in_and_pieces_out_equal_the_whole_signal(codec, stereo, encoded):
    blocks = torch.split(stereo, 7001, dim=-1)
    streamed = codec.encode_audio_blocks(blocks, stereo.shape[-1])
    assert torch.equal(streamed.codes, encoded.codes) and torch.equal(streamed.side["scales"], encoded.side["scales"])
    pieces = list(codec.decode_blocks(encoded))
    assert len(pieces) == 2 and pieces[0].shape[-1] == 47520  # the first segment's part before the second's
    assert torch.equal(torch.cat(pieces, dim=-1), codec.decode(encoded))


def test_segment_layout_and_decoded_length_match_the_reference_probes(codec, reference):
    for length, frames, decoded_length in zip(reference["length_probe_input"],
                                              reference["length_probe_segment_frames"],
                                              reference["length_probe_decoded"]):
        encoded = codec.encode_audio(torch.zeros(1, 2, int(length)))
        counts = encoded.side["segment_frames"][0].tolist()
        assert counts == [f for f in frames.tolist() if f], length
        decoded = codec.decode(encoded)
        if decoded_length >= 0:
            assert decoded.shape[-1] == decoded_length, length
        else:  # the reference's overlap-add fails here; ours ends where the furthest segment ends
            ends = [start * 47520 + 320 * f for start, f in enumerate(counts)]
            assert decoded.shape[-1] == max(ends) >= length and torch.isfinite(decoded).all()


def test_rvq_file_round_trips_codes_and_scales(tmp_path, codec, encoded):
    meta = RvqMetadata(codec_name=codec.name, codec_id=codec.digest(), sample_rate=48000,
                       original_sample_rate=48000, length=52320, hop_length=320, codebook_size=1024)
    side = {name: value.numpy() for name, value in encoded.side.items()}
    for coded in (True, False):
        write_rvq(tmp_path / "x.rvq", encoded.codes.numpy(), meta, entropy_coding=coded, side=side)
        codes, _, read_side = read_rvq_with_side(tmp_path / "x.rvq")
        assert np.array_equal(codes, encoded.codes.numpy())
        assert read_side.keys() == side.keys()
        assert all(np.array_equal(read_side[k], side[k]) and read_side[k].dtype == side[k].dtype for k in side)


def test_rvq_side_information_is_checked(tmp_path, codec, encoded):
    meta = RvqMetadata(codec_name=codec.name, codec_id=codec.digest(), sample_rate=48000,
                       original_sample_rate=48000, length=52320, hop_length=320, codebook_size=1024)
    side = {name: value.numpy() for name, value in encoded.side.items()}
    with pytest.raises(RvqFormatError, match="shape"):
        write_rvq(tmp_path / "x.rvq", encoded.codes.numpy(), meta, side={**side, "scales": np.ones((2, 2), "f4")})
    path = tmp_path / "x.rvq"
    write_rvq(path, encoded.codes.numpy(), meta, entropy_coding=False, side=side)
    data = path.read_bytes()
    header_end = 10 + struct.unpack_from("<I", data, 6)[0]
    header, payload = json.loads(data[10:header_end]), bytearray(data[header_end + 4 :])
    payload[-20:-16] = struct.pack("<f", float("inf"))  # the second scale (16 bytes of frame counts follow)
    header["payload_crc32"] = zlib.crc32(payload)  # checksums made valid: the reader must still refuse
    text = json.dumps(header, separators=(",", ":")).encode()
    prefix = data[:6] + struct.pack("<I", len(text)) + text
    path.write_bytes(prefix + struct.pack("<I", zlib.crc32(prefix)) + payload)
    with pytest.raises(RvqFormatError, match="non-finite"):
        read_rvq_with_side(path)


def test_compression_keeps_the_scales_and_decodes_as_the_reference(tmp_path, codec, stereo, reference):
    source = tmp_path / "stereo.wav"
    sf.write(source, stereo[0].numpy().T, 48000, subtype="FLOAT")
    compress_file(codec, source, tmp_path / "x.rvq", normalize=False)
    clip = read_clip(codec, tmp_path / "x.rvq")
    assert clip.codes.shape == (1, 16, 165)
    assert np.array_equal(clip.side["scales"].numpy(), reference["scales"])
    decompress_file(codec, tmp_path / "x.rvq", tmp_path / "out.wav")
    out = read_audio(tmp_path / "out.wav")
    assert out.samples.shape == (2, 52320)
    assert np.abs(out.samples - reference["decoded"][0]).max() < 1e-4


def test_cli_encodes_and_decodes_a_stereo_file(tmp_path, stereo, reference, capsys):
    source = tmp_path / "stereo.wav"
    sf.write(source, stereo[0].numpy().T, 48000, subtype="FLOAT")
    assert main(["encode", str(source), "-o", str(tmp_path / "x.rvq"), "--model", str(CHECKPOINT),
                 "--no-normalize"]) == 0
    assert main(["decode", str(tmp_path / "x.rvq"), "-o", str(tmp_path / "out.wav"), "--model", str(CHECKPOINT)]) == 0
    assert "2 channel(s), 48000 Hz" in capsys.readouterr().out
    out, rate = sf.read(tmp_path / "out.wav", dtype="float32", always_2d=True)
    assert rate == 48000 and out.shape == (52320, 2)
    assert np.abs(out.T - reference["decoded"][0]).max() < 1e-4


def test_mono_input_is_coded_as_both_channels_and_decodes_to_stereo(tmp_path, codec, stereo):
    mono = stereo[:, :1]
    sf.write(tmp_path / "mono.wav", mono[0, 0].numpy(), 48000, subtype="FLOAT")
    compress_file(codec, tmp_path / "mono.wav", tmp_path / "mono.rvq", normalize=False)
    clip = read_clip(codec, tmp_path / "mono.rvq")
    expected = codec.encode_audio(mono.expand(1, 2, -1))
    assert torch.equal(clip.codes.long(), expected.codes)
    written = decompress_file(codec, tmp_path / "mono.rvq", tmp_path / "out.wav")
    assert (written.channels, written.frames) == (2, mono.shape[-1])


def test_segments_name_each_segments_samples_and_frames_as_encoding_cuts_them(codec, stereo, encoded):
    """Codec.segments: the release's 1 s segments every 47520 samples, their frames as the encode counts them
    (a run of them decoding exactly is the studio's test, with more segments than this clip has)."""
    length = stereo.shape[-1]
    segments = codec.segments(length)
    assert [s[0] for s in segments] == list(range(0, length, 47520)) and segments[-1][1] == length
    assert [s[3] - s[2] for s in segments] == encoded.side["segment_frames"][0].tolist()
    assert codec.n_frames(length) == encoded.codes.shape[-1] == segments[-1][3]
    run = codec.segment_run(encoded, segments, 1, 2)
    assert torch.equal(run.codes, encoded.codes[..., segments[1][2]:]) and run.side["scales"].shape == (1, 1)


def test_three_channels_are_refused_by_a_stereo_codec(tmp_path, codec):
    sf.write(tmp_path / "three.wav", np.zeros((4800, 3), np.float32), 48000)
    with pytest.raises(ValueError, match="neither mono nor a multiple of 2"):
        compress_file(codec, tmp_path / "three.wav", tmp_path / "x.rvq")


def test_ecdc_of_the_package_decodes_as_its_decompress(codec, reference):
    encoded, length = read_ecdc(ECDC, codec)
    assert length == 52320
    assert torch.equal(encoded.codes, torch.from_numpy(reference["codes"]).long())
    assert np.array_equal(encoded.side["scales"].numpy(), reference["scales"])
    decoded = codec.decode(encoded)[..., :length]
    assert np.abs(decoded.numpy() - reference["decoded"][..., :length]).max() < 1e-4


def test_cli_decodes_24k_and_48k_ecdc_files(tmp_path, reference, capsys):
    assert main(["decode", str(ECDC), "-o", str(tmp_path / "48.wav"), "--model", str(CHECKPOINT)]) == 0
    out, rate = sf.read(tmp_path / "48.wav", dtype="float32", always_2d=True)
    assert rate == 48000 and np.abs(out.T - reference["decoded"][0]).max() < 1e-4
    expected24 = np.load(FIXTURES / "encodec24k_expected.npz")["decoded_from_8_codebooks"][0, 0]
    assert main(["decode", str(ECDC_24K), "-o", str(tmp_path / "24.wav"),
                 "--model", str(FIXTURES / "encodec24k.th")]) == 0
    out24, rate24 = sf.read(tmp_path / "24.wav", dtype="float32")
    assert rate24 == 24000 and np.abs(out24 - expected24[: len(out24)]).max() < 1e-4 and len(out24) == 9483


def test_ecdc_with_the_wrong_model_or_without_its_language_model_is_refused(tmp_path, codec, monkeypatch, capsys):
    with pytest.raises(EcdcFormatError, match="encodec_24khz"):
        read_ecdc(ECDC_24K, codec)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))  # no language model anywhere
    assert main(["decode", str(ECDC_LM), "-o", str(tmp_path / "x.wav"), "--model", str(CHECKPOINT)]) == 2
    assert "encodec_lm_48khz-7add9fc3.th are needed" in capsys.readouterr().err
    (tmp_path / "short.ecdc").write_bytes(ECDC.read_bytes()[:-10])
    with pytest.raises(EcdcFormatError, match="truncated"):
        read_ecdc(tmp_path / "short.ecdc", codec)


@pytest.fixture
def release_folder(tmp_path) -> Path:
    """The model and its language model side by side, under the names the package gives them."""
    shutil.copy(CHECKPOINT, tmp_path / "encodec_48khz-7e698e3e.th")
    shutil.copy(FIXTURES / "encodec48k_lm.th", tmp_path / "encodec_lm_48khz-7add9fc3.th")
    return tmp_path


def test_ecdc_coded_with_the_language_model_decodes_its_codes(release_folder, reference):
    codec = load_codec(release_folder / "encodec_48khz-7e698e3e.th")
    encoded, length = read_ecdc(ECDC_LM, codec)
    assert length == 52320
    assert torch.equal(encoded.codes, torch.from_numpy(reference["codes"][:, :2]).long())
    assert np.array_equal(encoded.side["scales"].numpy(), reference["scales"])


def test_cli_decodes_a_language_model_ecdc_as_its_codes_decode(release_folder, stereo):
    model = release_folder / "encodec_48khz-7e698e3e.th"
    assert main(["decode", str(ECDC_LM), "-o", str(release_folder / "out.wav"), "--model", str(model)]) == 0
    out, rate = sf.read(release_folder / "out.wav", dtype="float32", always_2d=True)
    codec = load_codec(model)
    expected = codec.decode(codec.encode_audio(stereo, n_codebooks=2))[0, :, : stereo.shape[-1]]
    assert rate == 48000 and np.abs(out.T - expected.numpy()).max() < 1e-6


def test_strict_loading_names_a_missing_group_norm_tensor(tmp_path):
    state = torch.load(CHECKPOINT, weights_only=True)
    del state["decoder.model.3.convtr.norm.bias"]
    torch.save(state, tmp_path / "broken.th")
    with pytest.raises(CheckpointError, match="decoder.model.3.convtr.norm.bias"):
        load_codec(tmp_path / "broken.th")


def test_streaming_is_refused_with_the_reason(codec):
    """Its codes come with per-segment scales computed over whole 1 s segments: streamers refuse it
    plainly rather than hand out codes that lack them."""
    for make in (codec.stream_encoder, lambda: codec.stream_decoder(1)):
        with pytest.raises(ValueError, match="side information .*segment"):
            make()
