"""`-o` cannot destroy data: not the input, not a device node, not a link; folders are folders."""
import os
import stat
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from app.cli.command_line import main
from model.rvq_format import read_rvq

MODEL = str(Path(__file__).parent.parent / "fixtures" / "dac" / "dac44k.pth")


@pytest.fixture
def wav(tmp_path):
    path = tmp_path / "clip.wav"
    sf.write(path, 0.1 * np.sin(np.arange(22050) / 7.0), 44100)
    return path


def _encode(source, output):
    return main(["encode", str(source), "-o", str(output), "--model", MODEL])


@pytest.mark.parametrize("link", ["same", "symlink", "hardlink"])
def test_output_that_is_the_input_is_refused(tmp_path, wav, capsys, link):
    before = wav.read_bytes()
    out = {"same": lambda: wav, "symlink": lambda: (tmp_path / "s.wav").symlink_to(wav) or tmp_path / "s.wav",
           "hardlink": lambda: os.link(wav, tmp_path / "h.wav") or tmp_path / "h.wav"}[link]()
    assert _encode(wav, out) == 2
    assert "this is the input file" in capsys.readouterr().err
    assert wav.read_bytes() == before


def test_a_symlink_is_followed_and_stays_a_link(tmp_path, wav):
    (tmp_path / "real.rvq").write_bytes(b"old")
    (tmp_path / "link.rvq").symlink_to(tmp_path / "real.rvq")
    assert _encode(wav, tmp_path / "link.rvq") == 0
    assert (tmp_path / "link.rvq").is_symlink()
    assert read_rvq(tmp_path / "real.rvq")[0].shape[0] == 1


def test_a_fifo_is_refused_and_left_alone(tmp_path, wav, capsys):
    fifo = tmp_path / "pipe.rvq"
    os.mkfifo(fifo)
    assert _encode(wav, fifo) == 2
    assert "not a regular file" in capsys.readouterr().err
    assert stat.S_ISFIFO(fifo.lstat().st_mode)


def test_a_trailing_slash_is_a_folder_never_a_file(tmp_path, wav, capsys):
    assert _encode(wav, f"{tmp_path / 'newdir'}/") == 2
    assert "the output folder does not exist" in capsys.readouterr().err
    assert not (tmp_path / "newdir").exists()


@pytest.mark.parametrize("slash", ["", "/"])
def test_an_existing_folder_receives_the_file_named_after_the_input(tmp_path, wav, slash):
    (tmp_path / "out").mkdir()
    assert _encode(wav, f"{tmp_path / 'out'}{slash}") == 0
    assert read_rvq(tmp_path / "out" / "clip.rvq")[0].shape[0] == 1
    assert main(["decode", str(tmp_path / "out" / "clip.rvq"), "-o", str(tmp_path / "out"), "--model", MODEL]) == 0
    assert sf.info(tmp_path / "out" / "clip.wav").frames == 22050


def test_a_mismatched_extension_is_a_warning(tmp_path, wav, capsys):
    assert _encode(wav, tmp_path / "codes.wav") == 0
    err = capsys.readouterr().err
    assert "warning" in err and "holds .rvq data despite its '.wav' extension" in err
    assert read_rvq(tmp_path / "codes.wav")[0].shape[0] == 1
