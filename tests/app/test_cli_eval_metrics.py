"""rvq-studio eval --metrics / --worst: chosen metrics per codebook count, absent ones explained."""
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from pystoi import stoi

from app.cli.command_line import main
from model import load_codec
from model.compression import read_model_input

MODEL = str(Path(__file__).parent.parent / "fixtures" / "dac" / "dac44k.pth")
SPEECH_CLIP = Path(__file__).resolve().parents[2] / "resources" / "audio" / "2-speech-festival-slt.flac"


@pytest.fixture
def speech_wav(tmp_path):
    samples, rate = sf.read(SPEECH_CLIP, dtype="float32", frames=int(1.6 * 44100))
    path = tmp_path / "speech.wav"
    sf.write(path, samples, rate)
    return path


def test_chosen_metrics_are_the_row_keys_and_equal_the_library_on_the_decoded_audio(speech_wav, capsys):
    assert main(["eval", str(speech_wav), "--model", MODEL, "--metrics", "si_sdr,stoi,pesq", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    rows = report["rows"]
    assert [r["n_codebooks"] for r in rows] == list(range(1, 10))
    assert all(set(r) == {"n_codebooks", "kbps", "si_sdr", "si_sdr_aligned", "delay_samples", "stoi", "pesq"}
               for r in rows)
    assert all(isinstance(r["delay_samples"], int) and abs(r["delay_samples"]) <= 0.05 * 44100 for r in rows)
    codec = load_codec(MODEL)
    reference, _ = read_model_input(codec, speech_wav)
    decoded = codec.decode(codec.encode(reference))[..., : reference.shape[-1]]
    expected = stoi(reference[0, 0].double().numpy(), decoded[0, 0].double().numpy(), codec.sample_rate)
    assert rows[-1]["stoi"] == pytest.approx(expected, rel=1e-12)
    try:
        import pesq  # noqa: F401  (optional: only when the user installed it)
    except ImportError:
        assert all(r["pesq"] is None for r in rows) and "pesq package" in report["unavailable"]["pesq"]


def test_worst_windows_per_codebook_count(speech_wav, capsys):
    assert main(["eval", str(speech_wav), "--model", MODEL, "--metrics", "mel", "--worst", "2", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    for row in rows:
        worst = row["worst_windows"]
        assert len(worst) == 2 and worst[0]["mel_distance"] >= worst[1]["mel_distance"]
        assert all(0 <= w["start"] < w["end"] <= 1.6 + 1e-9 for w in worst)
    assert main(["eval", str(speech_wav), "--model", MODEL, "--metrics", "mel", "--worst", "1"]) == 0
    table = capsys.readouterr().out
    assert "worst 0.5 s windows" in table and " mel " in table and "SI-SDR" not in table


@pytest.mark.parametrize("options, message", [
    (["--metrics", "mel,visqul"], "unknown metric 'visqul'"),
    (["--worst", "-1"], "--worst must be 0 or more"),
])
def test_bad_metric_options_are_one_line_errors(speech_wav, capsys, options, message):
    assert main(["eval", str(speech_wav), "--model", MODEL, *options]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err
