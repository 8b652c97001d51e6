"""`rvq-studio eval` and `info` on every codec family, with no family-specific code in app/.

Models are random-weight networks of the tiny recipe of every family in the registry, saved with
model/export.py (EMA codebooks initialised by one training step), EnCodec's 48 kHz
configuration (stereo, normalised segments) on the tiny recipe's widths, plus the
official-layout EnCodec fixtures (24 and 48 kHz) and the Mimi fixture.
"""
import json
import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import throwaway_family
import torch

from app.cli.command_line import main
from model import load_codec
from model.encodec import RELEASE_48K_SETTINGS
from model.export import save_model_file
from model.rvq_format import read_rvq
from model.registry import FAMILIES, family, preset

ENCODEC_FIXTURE = Path(__file__).parent.parent / "fixtures" / "encodec" / "encodec24k.th"
MIMI_FIXTURES = Path(__file__).parent.parent / "fixtures" / "mimi"
ENCODEC48_FIXTURE = ENCODEC_FIXTURE.with_name("encodec48k.th")
VARIANTS = {"encodec-48k": ("encodec", {**RELEASE_48K_SETTINGS, "segment_seconds": 0.1})}


@pytest.fixture
def clip(tmp_path) -> Path:
    rate = 22050
    t = np.arange(int(rate * 0.6)) / rate
    x = np.stack([0.3 * np.sin(2 * np.pi * 330 * t), 0.2 * np.sin(2 * np.pi * 550 * t)], 1)
    path = tmp_path / "clip.wav"
    sf.write(path, x, rate)
    return path


@pytest.fixture(params=[*FAMILIES, *VARIANTS])
def model_file(request, tmp_path) -> tuple[str, Path]:
    name, changes = VARIANTS.get(request.param, (request.param, {}))
    recipe = preset(family(name).recipes.tiny)
    architecture = {**recipe.architecture, **changes}
    torch.manual_seed(0)
    net = family(recipe.family).build(architecture)
    with torch.no_grad():
        if changes:  # refuses the training forward: the quantizer alone initialises
            net.quantizer.train()(net.encoder_stack()(0.3 * torch.randn(2, net.channels, 2048)))
        else:
            net.train()(0.3 * torch.randn(2, 1, 2048))
    path = tmp_path / f"{request.param}.safetensors"
    save_model_file(net.eval(), path, family=recipe.family, config=architecture, name=recipe.name,
                    trained=False)
    return name, path


def _eval_json(clip: Path, model: Path, capsys) -> dict:
    assert main(["eval", str(clip), "--model", str(model), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_eval_runs_on_every_family(clip, model_file, capsys):
    name, path = model_file
    report = _eval_json(clip, path, capsys)
    expected = load_codec(path).n_codebooks
    assert [r["n_codebooks"] for r in report["rows"]] == list(range(1, expected + 1))
    for row in report["rows"]:
        assert all(math.isfinite(row[k]) for k in ("kbps", "mel_distance", "stft_distance", "si_sdr"))
    assert len(report["entropy_bits"]) == expected


def test_fast_mode_of_a_family_that_cannot_run_it_is_one_line(clip, tmp_path, capsys):
    assert main(["encode", str(clip), "-o", str(tmp_path / "x.rvq"), "--model", str(ENCODEC_FIXTURE), "--fast"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("rvq-studio: error: fast mode is not available") and "\n" not in err


def test_info_names_the_family(model_file, capsys):
    name, path = model_file
    assert main(["info", str(path), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["family"] == name and info["trained"] is False


def test_eval_and_info_on_the_official_encodec_layout(clip, capsys):
    report = _eval_json(clip, ENCODEC_FIXTURE, capsys)
    assert len(report["rows"]) == 32
    assert report["rows"][7]["kbps"] == pytest.approx(6.0)
    assert main(["info", str(ENCODEC_FIXTURE)]) == 0
    out = capsys.readouterr().out
    assert "encodec" in out and "6 kbps" in out


def test_eval_and_info_on_the_official_encodec48_layout(clip, capsys):
    report = _eval_json(clip, ENCODEC48_FIXTURE, capsys)
    assert len(report["rows"]) == 16
    assert report["rows"][3]["kbps"] == pytest.approx(6.0)
    assert main(["info", str(ENCODEC48_FIXTURE), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert (info["channels"], info["sample_rate"], info["frame_rate"]) == (2, 48000, 150.0)
    assert info["bandwidths"] == {"3 kbps": 2, "6 kbps": 4, "12 kbps": 8, "24 kbps": 16}


def test_info_and_eval_on_a_family_only_the_registry_knows(clip, monkeypatch, tmp_path, capsys):
    fam = throwaway_family.register(monkeypatch)
    architecture = preset(fam.recipes.tiny).architecture
    torch.manual_seed(0)
    path = tmp_path / "toy.safetensors"
    save_model_file(fam.build(architecture), path, family=fam.key, config=architecture, name="toy")
    assert main(["info", str(path), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert (info["family"], info["architecture"], info["n_codebooks"]) == ("throwaway", "throwaway test codec", 3)
    report = _eval_json(clip, path, capsys)
    assert [r["n_codebooks"] for r in report["rows"]] == [1, 2, 3]


def test_round_trip_through_an_rvq_file_with_the_official_mimi_layout(tmp_path, capsys):
    """encode -> .rvq -> decode, info and eval with the official file, no family named in app/."""
    reference = dict(np.load(MIMI_FIXTURES / "mimi_expected.npz", allow_pickle=False))
    checkpoint = MIMI_FIXTURES / "mimi.safetensors"
    wav, rvq, back = tmp_path / "clip.wav", tmp_path / "clip.rvq", tmp_path / "back.wav"
    sf.write(wav, reference["input"][0, 0], 24000, subtype="FLOAT")
    assert main(["encode", str(wav), "-o", str(rvq), "--model", str(checkpoint), "--no-normalize"]) == 0
    codes, _ = read_rvq(rvq)
    assert torch.equal(torch.as_tensor(codes).long(), torch.from_numpy(reference["codes"]).long())
    assert main(["decode", str(rvq), "-o", str(back), "--model", str(checkpoint), "-n", "8"]) == 0
    decoded, rate = sf.read(back, dtype="float32")
    expected = reference["decoded_from_8_codebooks"][0, 0, : reference["input"].shape[-1]]
    assert rate == 24000 and decoded.shape == expected.shape
    assert np.abs(decoded - expected).max() < 1e-4
    capsys.readouterr()
    assert main(["info", str(checkpoint), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert (info["family"], info["n_codebooks"], info["codebook_labels"][0]) == ("mimi", 32, ["semantic", 0, 1])
    assert main(["eval", str(wav), "--model", str(checkpoint), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert [r["n_codebooks"] for r in rows] == list(range(1, 33))
    assert rows[0]["kbps"] == pytest.approx(0.1375)  # 11 bits at 12.5 Hz
