"""`rvq-studio export MODEL --onnx DIR`: runnable graphs of the model, refusals before any work."""
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from synthetic_audio import music_clip
from tiny_codecs import tiny_network, tiny_recipe

from app.cli.command_line import main
from model import load_codec, onnx_export
from model.export import save_model_file


@pytest.fixture
def model_file(tmp_path) -> Path:
    path = tmp_path / "tiny.safetensors"
    save_model_file(tiny_network("dac"), path, family="dac", config=tiny_recipe("dac").architecture, name="tiny")
    return path


@pytest.mark.slow
def test_export_writes_graphs_that_encode_and_decode_as_the_model(tmp_path, model_file, capsys):
    ort = pytest.importorskip("onnxruntime")
    folder = tmp_path / "out"
    assert main(["export", str(model_file), "--onnx", str(folder)]) == 0
    assert "encoder.onnx, decoder.onnx, codec.json" in capsys.readouterr().out
    codec = load_codec(model_file)
    assert json.loads((folder / "codec.json").read_text())["digest"] == codec.digest()
    audio = torch.from_numpy(music_clip(0.5, codec.sample_rate))[None]
    codes = ort.InferenceSession(str(folder / "encoder.onnx")).run(None, {"audio": audio.numpy()})[0]
    np.testing.assert_array_equal(codes, codec.encode(audio).numpy())
    decoded = ort.InferenceSession(str(folder / "decoder.onnx")).run(None, {"codes": codes[:, :2]})[0]
    np.testing.assert_allclose(decoded, codec.decode(torch.from_numpy(codes[:, :2])).numpy(), rtol=0, atol=1e-4)


def _refused(args: list[str], capsys) -> str:
    assert main(["export", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("rvq-studio: error: ") and "\n" not in err
    return err


def test_the_model_file_itself_as_output_is_refused(model_file, capsys):
    before = model_file.read_bytes()
    assert "this is the input" in _refused([str(model_file), "--onnx", str(model_file)], capsys)
    assert model_file.read_bytes() == before


def test_an_existing_file_or_a_missing_parent_is_refused(tmp_path, model_file, capsys):
    (tmp_path / "file").write_text("x")
    assert "is not a folder" in _refused([str(model_file), "--onnx", str(tmp_path / "file")], capsys)
    assert "does not exist" in _refused([str(model_file), "--onnx", str(tmp_path / "no" / "out")], capsys)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "tiny.safetensors"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_a_folder_without_write_permission_is_refused(tmp_path, model_file, capsys):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    assert "no permission" in _refused([str(model_file), "--onnx", str(locked / "out")], capsys)


def test_missing_packages_say_how_to_install_them(model_file, tmp_path, monkeypatch, capsys):
    real = onnx_export.importlib.util.find_spec
    monkeypatch.setattr(onnx_export.importlib.util, "find_spec",
                        lambda name, *a: None if name in ("onnx", "onnxscript") else real(name, *a))
    err = _refused([str(model_file), "--onnx", str(tmp_path / "out")], capsys)
    assert "onnx, onnxscript" in err and "pip install 'rvq-studio[onnx]'" in err
    assert not (tmp_path / "out").exists()


def test_help_lists_the_export_command(capsys):
    assert main(["-h"]) == 0
    assert "rvq-studio export M --onnx DIR" in capsys.readouterr().out
