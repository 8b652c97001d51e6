"""The rvq-studio command line: round trips, sizes, and one-line errors on bad input."""
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from app.cli.command_line import main
from model import load_codec
from model.rvq_format import read_rvq

MODEL = str(Path(__file__).parent.parent / "fixtures" / "dac" / "dac44k.pth")


@pytest.fixture
def stereo_wav(tmp_path):
    rate = 48000
    t = np.arange(int(rate * 1.5)) / rate
    x = np.stack([0.3 * np.sin(2 * np.pi * 440 * t), 0.2 * np.sin(2 * np.pi * 660 * t)], 1)
    path = tmp_path / "clip.wav"
    sf.write(path, x, rate)
    return path


def test_encode_decode_round_trip_keeps_rate_length_channels(tmp_path, stereo_wav, capsys):
    rvq, out = tmp_path / "clip.rvq", tmp_path / "back.flac"
    assert main(["encode", str(stereo_wav), "-o", str(rvq), "--model", MODEL]) == 0
    assert main(["decode", str(rvq), "-o", str(out), "--model", MODEL]) == 0
    info = sf.info(out)
    assert (info.samplerate, info.channels, info.frames) == (48000, 2, 72000)
    assert "kbps" in capsys.readouterr().out


def test_raw_file_size_is_nominal_bitrate_plus_header(tmp_path, stereo_wav):
    rvq = tmp_path / "clip.rvq"
    assert main(["encode", str(stereo_wav), "-o", str(rvq), "--model", MODEL, "-n", "5", "--raw"]) == 0
    codec = load_codec(MODEL)
    codes, meta = read_rvq(rvq)
    frames = math.ceil(72000 * 44100 / 48000 / codec.hop_length)
    assert codes.shape == (2, 5, frames)
    payload = math.ceil(2 * 5 * frames * 10 / 8)  # codebooks x bits x frames, per channel
    header = rvq.stat().st_size - payload
    assert 0 < header < 512


def test_kbps_picks_the_most_codebooks_that_fit(tmp_path, stereo_wav):
    rvq = tmp_path / "clip.rvq"
    assert main(["encode", str(stereo_wav), "-o", str(rvq), "--model", MODEL, "--kbps", "3"]) == 0
    assert read_rvq(rvq)[0].shape[1] == 3  # 3 x 0.86 kbps fits, 4 does not


def test_decode_with_fewer_codebooks_than_stored(tmp_path, stereo_wav):
    rvq = tmp_path / "clip.rvq"
    main(["encode", str(stereo_wav), "-o", str(rvq), "--model", MODEL])
    assert main(["decode", str(rvq), "-o", str(tmp_path / "a.wav"), "--model", MODEL, "-n", "2"]) == 0
    assert main(["decode", str(rvq), "-o", str(tmp_path / "b.wav"), "--model", MODEL, "-n", "10"]) == 2


def test_decoding_with_another_model_is_refused_naming_both(tmp_path, stereo_wav, capsys):
    rvq = tmp_path / "clip.rvq"
    main(["encode", str(stereo_wav), "-o", str(rvq), "--model", MODEL])
    capsys.readouterr()
    assert main(["decode", str(rvq), "-o", str(tmp_path / "x.wav"), "--model", "default"]) == 2
    err = capsys.readouterr().err
    assert "dac44k" in err and "default" in err and not (tmp_path / "x.wav").exists()


def test_eval_json_reports_every_codebook_count(stereo_wav, capsys):
    assert main(["eval", str(stereo_wav), "--model", MODEL, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [r["n_codebooks"] for r in report["rows"]] == list(range(1, 10))
    assert len(report["entropy_bits"]) == 9
    assert all(0 <= h <= 10 for h in report["entropy_bits"])
    assert 0 < report["bitrate_efficiency"] <= 1


@pytest.mark.parametrize("make_input, message", [
    (lambda d: d / "missing.wav", "no such file"),
    (lambda d: (d / "text.wav").write_text("not audio") and d / "text.wav", "not a readable audio file"),
    (lambda d: (sf.write(d / "empty.wav", np.zeros((0, 1)), 44100), d / "empty.wav")[1], "no audio"),
])
def test_bad_input_gives_one_line_error_and_exit_2(tmp_path, capsys, make_input, message):
    source = make_input(tmp_path)
    assert main(["encode", str(source), "-o", str(tmp_path / "out.rvq"), "--model", MODEL]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "out.rvq").exists()


def test_unwritable_output_and_wrong_model(tmp_path, stereo_wav, capsys):
    assert main(["encode", str(stereo_wav), "-o", str(tmp_path / "no" / "x.rvq"), "--model", MODEL]) == 2
    assert main(["encode", str(stereo_wav), "-o", str(tmp_path / "x.rvq"), "--model", str(stereo_wav)]) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 2 and "does not exist" in errors[0] and "not a model file" in errors[1]


def test_info_describes_the_model(capsys):
    assert main(["info", MODEL, "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["family"] == "dac" and info["n_codebooks"] == 9 and info["hop_length"] == 512


def test_help_documents_every_command():
    out = subprocess.run([sys.executable, "-m", "app.cli", "--help"], capture_output=True, text=True,
                         check=True).stdout
    for command in ("encode", "decode", "eval", "info"):
        assert command in out


def test_fast_mode_round_trip_is_close_to_the_exact_one(tmp_path, stereo_wav, capsys):
    exact, fast = tmp_path / "exact.rvq", tmp_path / "fast.rvq"
    assert main(["encode", str(stereo_wav), "-o", str(exact), "--model", MODEL]) == 0
    assert main(["encode", str(stereo_wav), "-o", str(fast), "--model", MODEL, "--fast"]) == 0
    exact_codes, fast_codes = read_rvq(exact)[0], read_rvq(fast)[0]
    assert fast_codes.shape == exact_codes.shape
    assert (fast_codes[:, 0] == exact_codes[:, 0]).mean() > 0.8
    assert main(["decode", str(exact), "-o", str(tmp_path / "exact.wav"), "--model", MODEL]) == 0
    assert main(["decode", str(exact), "-o", str(tmp_path / "fast.wav"), "--model", MODEL, "--fast"]) == 0
    a, _ = sf.read(tmp_path / "exact.wav")
    b, _ = sf.read(tmp_path / "fast.wav")
    assert a.shape == b.shape
    assert 10 * math.log10((a ** 2).sum() / ((a - b) ** 2).sum()) > 25
    capsys.readouterr()
    assert main(["eval", str(stereo_wav), "--model", MODEL, "--fast", "--metrics", "mel"]) == 0
    assert "fast mode (bf16)" in capsys.readouterr().out.splitlines()[0]
