"""SNAC: official-layout folders reproduce the reference package; multi-scale codes; noise.

Fixtures were produced with snac 1.2.1 (see tests/fixtures/snac/README.md). The release's
noise is fresh ``torch.randn`` at every decode, so its audio was recorded with the noise
blocks' gains at zero; here the gains are zeroed the same way before comparing.
"""
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from model import load_codec
from model.codec import Codec
from model.loading import CheckpointError
from model.snac import NoiseBlock, positional_noise

FIXTURES = Path(__file__).parent.parent / "fixtures" / "snac"
NAMES = ["snac24k", "snac32k", "snac44k"]


def silence_noise(codec: Codec) -> None:
    for block in codec.network.modules():
        if isinstance(block, NoiseBlock):
            block.linear.unfold()  # its parameters back (a codec keeps only the folded weight)
            block.linear.weight_g.data.zero_()
            block.linear.fold()


def expected(name: str) -> dict:
    return dict(np.load(FIXTURES / f"{name}_expected.npz", allow_pickle=False))


def reference_codes(ref: dict, codec: Codec) -> torch.Tensor:
    """The release's per-scale codes at the finest rate (each repeated over its stride)."""
    scales = [torch.from_numpy(ref[f"codes_{k}"]).long() for k in range(codec.n_codebooks)]
    return torch.stack([c.repeat_interleave(s, dim=-1) for c, s in zip(scales, codec.codebook_strides)], dim=1)


@pytest.fixture(params=NAMES)
def case(request):
    codec = load_codec(FIXTURES / request.param)
    silence_noise(codec)
    return codec, expected(request.param)


def test_codes_equal_reference(case):
    codec, ref = case
    audio = torch.from_numpy(ref["input"])
    codes = codec.encode(audio)
    frames = -(-audio.shape[-1] // codec.hop_length)
    assert codes.dtype == torch.int64 and codes.shape[-1] == frames
    assert torch.equal(codes, reference_codes(ref, codec)[..., :frames])
    for k, stride in enumerate(codec.codebook_strides):  # the coarse scales, read back
        own = codes[:, k, ::stride]
        assert torch.equal(own, torch.from_numpy(ref[f"codes_{k}"]).long()[..., : own.shape[-1]])


def test_decoded_audio_equals_reference(case):
    codec, ref = case
    decoded = codec.decode(reference_codes(ref, codec))
    assert decoded.shape == ref["decoded"].shape
    assert np.abs(decoded.numpy() - ref["decoded"]).max() < 1e-4


def test_fewer_scales_decode_as_the_reference_sum_of_coarse_scales(case):
    codec, ref = case
    n = codec.n_codebooks - 1
    decoded = codec.decode(reference_codes(ref, codec)[:1, :n]).numpy()
    assert np.abs(decoded - ref[f"decoded_from_{n}_scales"]).max() < 1e-4


def test_training_forward_equals_reference_round_trip(case):
    codec, ref = case
    audio = torch.from_numpy(ref["input"])
    with torch.no_grad():
        recon, _ = codec.network.eval()(audio)
    assert recon.shape == audio.shape
    assert np.abs(recon.numpy() - ref["decoded"][..., : audio.shape[-1]]).max() < 1e-4


def test_chunked_inference_equals_whole_with_noise_on():
    codec = load_codec(FIXTURES / "snac44k")
    assert any(isinstance(m, NoiseBlock) for m in codec.network.modules())
    audio = torch.from_numpy(expected("snac44k")["input"]).repeat(1, 1, 3)  # 6 attention windows
    whole = codec.encode(audio, chunk_seconds=100)
    assert codec.chunk_alignment == 32 and codec.chunkable  # chunks start on attention windows
    for seconds in (0.05, 0.4):
        assert torch.equal(codec.encode(audio, chunk_seconds=seconds, workers=2), whole)
    decoded = codec.decode(whole, chunk_seconds=100)
    assert torch.equal(codec.decode(whole, chunk_seconds=100), decoded)  # deterministic
    silent = load_codec(FIXTURES / "snac44k")
    silence_noise(silent)
    assert (silent.decode(whole) - decoded).abs().max() > 1e-3  # the noise is really there
    for seconds in (0.05, 0.4):
        assert (codec.decode(whole, chunk_seconds=seconds, workers=2) - decoded).abs().max() < 1e-5


def test_positional_noise_is_standard_gaussian_and_keyed_to_position():
    noise = positional_noise(1000, 200_000, 0, torch.device("cpu"))
    assert abs(float(noise.mean())) < 0.01 and abs(float(noise.std()) - 1) < 0.01
    assert torch.equal(positional_noise(1100, 50, 0, torch.device("cpu")), noise[100:150])
    other = positional_noise(1000, 200_000, 1, torch.device("cpu"))
    assert abs(float(torch.corrcoef(torch.stack([noise, other]))[0, 1])) < 0.01
    assert abs(float(torch.corrcoef(torch.stack([noise[1:], noise[:-1]]))[0, 1])) < 0.01


def test_bitrate_counts_each_code_once():
    codec = load_codec(FIXTURES / "snac44k")
    assert codec.codebook_strides == [8, 4, 2, 1]
    per_second = codec.frame_rate * (1 / 8 + 1 / 4 + 1 / 2 + 1)
    assert codec.kbps(4) == pytest.approx(per_second * 7 / 1000)  # 128 entries: 7 bits
    assert codec.kbps(1) == pytest.approx(codec.frame_rate / 8 * 7 / 1000)


def test_weights_file_alone_is_found_with_its_config(tmp_path):
    codec = load_codec(FIXTURES / "snac24k" / "pytorch_model.bin")
    assert codec.family == "snac" and codec.sample_rate == 24000 and codec.hop_length == 512
    assert codec.name == load_codec(FIXTURES / "snac24k").name == "snac24k"
    shutil.copy(FIXTURES / "snac24k" / "pytorch_model.bin", tmp_path / "pytorch_model.bin")
    with pytest.raises(CheckpointError, match="config.json"):
        load_codec(tmp_path / "pytorch_model.bin")
    with pytest.raises(CheckpointError, match="pytorch_model.bin"):
        load_codec(tmp_path.parent)


def test_a_hugging_face_cache_snapshot_loads_under_its_repository_name(tmp_path):
    snapshot = tmp_path / "models--hubertsiuzdak--snac_24khz" / "snapshots" / ("0f" * 20)
    blobs = tmp_path / "models--hubertsiuzdak--snac_24khz" / "blobs"
    blobs.mkdir(parents=True)
    snapshot.mkdir(parents=True)
    for name in ("config.json", "pytorch_model.bin"):  # the cache links snapshot files to blobs
        shutil.copy(FIXTURES / "snac24k" / name, blobs / name)
        (snapshot / name).symlink_to(blobs / name)
    assert load_codec(snapshot).name == load_codec(snapshot / "pytorch_model.bin").name == "snac_24khz"


def test_mismatched_config_is_a_clear_error(tmp_path):
    folder = tmp_path / "model"
    shutil.copytree(FIXTURES / "snac24k", folder)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "decoder_dim": 32}))
    with pytest.raises(CheckpointError, match="weights of the wrong shape"):
        load_codec(folder)
    (folder / "config.json").write_text(json.dumps({**config, "vq_strides": [4, 2, 1, 1]}))
    with pytest.raises(CheckpointError, match="missing 1 weights|missing"):
        load_codec(folder)
    (folder / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="unreadable"):
        load_codec(folder)


def test_cli_round_trip_stores_each_code_once(tmp_path, capsys):
    """encode -> .rvq -> decode on the official folder; the raw payload holds each code once."""
    import soundfile as sf

    from app.cli.command_line import main
    from model.rvq_format import read_rvq

    folder = FIXTURES / "snac44k"
    rate, length = 44100, 44100
    t = np.arange(length) / rate
    sf.write(tmp_path / "clip.wav", 0.3 * np.sin(2 * np.pi * 330 * t) + 0.05 * np.sin(2 * np.pi * 3000 * t), rate)
    rvq, out = tmp_path / "clip.rvq", tmp_path / "back.wav"
    assert main(["encode", str(tmp_path / "clip.wav"), "-o", str(rvq), "--model", str(folder), "--raw"]) == 0
    assert main(["decode", str(rvq), "-o", str(out), "--model", str(folder)]) == 0
    assert sf.info(out).frames == length
    codec = load_codec(folder)
    codes, meta = read_rvq(rvq)
    frames = -(-length // codec.hop_length)
    assert codes.shape == (1, 4, frames) and meta.codebook_strides == (8, 4, 2, 1)
    stored = sum(-(-frames // s) for s in (8, 4, 2, 1))
    assert rvq.stat().st_size - math.ceil(stored * 7 / 8) < 512  # header only besides the codes
    capsys.readouterr()
    assert main(["info", str(folder)]) == 0
    assert "vq_strides" in capsys.readouterr().out
    assert main(["eval", str(tmp_path / "clip.wav"), "--model", str(folder), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [row["kbps"] for row in report["rows"]] == pytest.approx([codec.kbps(n) for n in range(1, 5)])


def test_a_config_json_beside_another_familys_checkpoint_changes_nothing(tmp_path):
    release = Path(__file__).parent.parent / "fixtures" / "encodec" / "encodec24k.th"
    shutil.copy(release, tmp_path / "encodec24k.th")
    shutil.copy(FIXTURES / "snac24k" / "config.json", tmp_path / "config.json")
    assert load_codec(tmp_path / "encodec24k.th").family == "encodec"
