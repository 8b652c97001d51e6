"""The command line against hostile files and careless use: escaped names, one-line errors, no window."""
import errno
import tempfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from app.cli.command_line import main
from crafted_rvq import rebuild, split
from model.export import save_model_file
from model.loading import load_network

MODEL = str(Path(__file__).parent.parent / "fixtures" / "dac" / "dac44k.pth")
HOSTILE_NAME = "evil\x1b]0;owned\x07\x1b[2J\u202edecoded"


@pytest.fixture
def wav(tmp_path):
    path = tmp_path / "clip.wav"
    sf.write(path, 0.1 * np.sin(np.arange(22050) / 7.0), 44100)
    return path


@pytest.fixture(scope="module")
def hostile_model(tmp_path_factory):
    family, config, network, _ = load_network(MODEL)
    path = tmp_path_factory.mktemp("models") / "hostile.safetensors"
    save_model_file(network, path, family=family, config=config, name=HOSTILE_NAME)
    return path


def _no_raw_controls(text: str) -> bool:
    return not any(ch in text for ch in "\x1b\x07\u202e")


def test_model_names_are_printed_escaped(hostile_model, capsys):
    assert main(["info", str(hostile_model)]) == 0
    out = capsys.readouterr().out
    assert _no_raw_controls(out) and "evil\\x1b]0;owned\\x07" in out


def test_names_from_rvq_headers_are_printed_escaped(tmp_path, wav, capsys):
    rvq = tmp_path / "clip.rvq"
    assert main(["encode", str(wav), "-o", str(rvq), "--model", MODEL]) == 0
    header, payload = split(rvq.read_bytes())
    rvq.write_bytes(rebuild({**header, "codec_name": HOSTILE_NAME, "codec_id": "00" * 32}, payload))
    capsys.readouterr()
    assert main(["decode", str(rvq), "-o", str(tmp_path / "out.wav"), "--model", MODEL]) == 2
    err = capsys.readouterr().err
    assert _no_raw_controls(err) and "evil\\x1b" in err and len(err.strip().splitlines()) == 1


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_device_without_cuda_is_one_line(wav, tmp_path, capsys):
    assert main(["encode", str(wav), "-o", str(tmp_path / "x.rvq"), "--model", MODEL, "--device", "cuda"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "rvq-studio: error: --device cuda: CUDA is not available on this machine"


def test_a_mistyped_device_is_one_line(wav, tmp_path, capsys):
    assert main(["eval", str(wav), "--model", MODEL, "--device", "gpu0"]) == 2
    assert capsys.readouterr().err.strip().startswith("rvq-studio: error: --device gpu0: not a torch device")


@pytest.mark.parametrize("argv, message", [
    (["encode"], "rvq-studio encode: error: the following arguments are required: input, -o/--output"),
    (["decode", "x.rvq", "-o", "y.wav", "-n", "many"], "rvq-studio decode: error: argument --codebooks/-n: invalid int"),
    (["--bogus"], "rvq-studio: error: unrecognized arguments: --bogus"),
])
def test_usage_errors_are_one_line_with_a_hint(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith(message) and err.endswith("-h')")


@pytest.fixture
def no_window(monkeypatch):
    """Fails the test if the studio window would be opened."""
    import app.main

    def refuse(*args, **kwargs):
        raise AssertionError("the window was opened")

    monkeypatch.setattr(app.main, "run_gui", refuse)


@pytest.mark.parametrize("argv, message", [
    (["typo"], "unknown command or file 'typo' (commands: encode, decode, eval, info, train"),
    (["missing.wav"], "missing.wav: no such file"),
    (["missing.wav", "--screenshot", "shot.png"], "missing.wav: no such file"),
    (["--model", "absent.pth"], "absent.pth: no such model file"),
])
def test_what_the_window_cannot_open_is_an_error_before_it_opens(argv, message, capsys, no_window, tmp_path,
                                                                monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith(f"rvq-studio: error: {message}")
    assert len(captured.err.strip().splitlines()) == 1 and captured.out == ""


def test_a_file_that_is_not_audio_is_refused_before_the_window(tmp_path, capsys, no_window):
    (tmp_path / "notes.txt").write_text("hello")
    assert main([str(tmp_path / "notes.txt"), "--screenshot", str(tmp_path / "s.png")]) == 2
    assert "notes.txt: not a readable audio file" in capsys.readouterr().err


def test_an_ecdc_file_goes_to_the_window_which_opens_it(tmp_path, monkeypatch):
    """An .ecdc file is not audio, but the studio opens it (its decoding and its codes)."""
    import app.main

    opened = []
    monkeypatch.setattr(app.main, "run_gui", lambda path, model, screenshot: opened.append(path) or 0)
    ecdc = Path(__file__).parents[1] / "fixtures" / "encodec" / "encodec48k.ecdc"
    assert main([str(ecdc), "--screenshot", str(tmp_path / "s.png")]) == 0 and opened == [str(ecdc)]


def test_no_space_left_names_the_users_path_not_the_temporary_file(tmp_path, wav, capsys, monkeypatch):
    import model.atomic_file

    def full_disk(fd):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / ".out.rvq.x1y2.part"))

    monkeypatch.setattr(model.atomic_file.os, "fsync", full_disk)
    out = tmp_path / "out.rvq"
    assert main(["encode", str(wav), "-o", str(out), "--model", MODEL]) == 2
    assert capsys.readouterr().err.strip() == f"rvq-studio: error: {out}: No space left on device"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.wav"]


def test_permission_denied_names_the_users_path(tmp_path, wav, capsys, monkeypatch):
    def denied(prefix, suffix, dir):
        raise PermissionError(errno.EACCES, "Permission denied", str(Path(dir) / f"{prefix}abc{suffix}"))

    monkeypatch.setattr(tempfile, "mkstemp", denied)
    out = tmp_path / "back.wav"
    rvq = tmp_path / "clip.rvq"
    monkeypatch.undo()
    assert main(["encode", str(wav), "-o", str(rvq), "--model", MODEL]) == 0
    monkeypatch.setattr(tempfile, "mkstemp", denied)
    capsys.readouterr()
    assert main(["decode", str(rvq), "-o", str(out), "--model", MODEL]) == 2
    assert capsys.readouterr().err.strip() == f"rvq-studio: error: {out}: Permission denied"


def test_eval_table_escapes_the_model_name(hostile_model, wav, capsys):
    assert main(["eval", str(wav), "--model", str(hostile_model)]) == 0
    out = capsys.readouterr().out
    assert _no_raw_controls(out) and out.startswith("evil\\x1b]0;owned\\x07")


def test_a_7_1_stem_encodes_decodes_and_evaluates(tmp_path, capsys):
    """Eight channels: more than pyloudnorm's five, loudness-normalised all the same."""
    source = tmp_path / "stem.wav"
    t = np.arange(48000) / 48000
    sf.write(source, np.stack([0.05 * (c + 1) * np.sin(2 * np.pi * (200 + 50 * c) * t) for c in range(8)], 1), 48000)
    rvq, back = tmp_path / "stem.rvq", tmp_path / "back.wav"
    assert main(["encode", str(source), "-o", str(rvq), "--model", MODEL]) == 0
    assert main(["decode", str(rvq), "-o", str(back), "--model", MODEL]) == 0
    assert main(["eval", str(source), "--model", MODEL, "--json"]) == 0
    assert sf.info(back).channels == 8 and capsys.readouterr().err.count("error") == 0
