"""`rvq-studio compare`: every contestant over every file, the JSON/CSV shapes, renders at the
input's rate, length and channels, the plot, and bad input as one line."""
import csv
import json

import numpy as np
import pytest
import soundfile
from synthetic_audio import write_music_clip
from tiny_codecs import tiny_network, tiny_recipe

from app.cli.command_line import main
from app.compare.bitrate import match_count
from app.compare.rendering import ClipRenderer
from app.compare import contestants
from model import load_codec
from model.audio_io import read_audio
from model.export import save_model_file


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "tiny.safetensors"
    save_model_file(tiny_network("dac"), path, family="dac", config=tiny_recipe("dac").architecture, name="tiny")
    return path


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """A folder with a mono 24 kHz clip and, in a sub-folder, a stereo 16 kHz one."""
    root = tmp_path_factory.mktemp("clips")
    (root / "more").mkdir()
    write_music_clip(root / "a.wav", 1.0, 24000)
    write_music_clip(root / "more" / "b.wav", 0.75, 16000, channels=2, seed=1)
    return root


@pytest.mark.slow
def test_every_contestant_over_every_file_with_renders(tmp_path, model_file, clips, capsys):
    out = tmp_path / "out.json"
    argv = ["compare", str(clips), "--codec", f"{model_file}:2", "--codec", f"{model_file}@3", "--opus", "16",
            "--mp3", "32", "--original", "--metrics", "mel,si_sdr", "--renders", str(tmp_path / "r"),
            "--json", str(out), "--csv", str(tmp_path / "out.csv")]
    assert main(argv) == 0
    report = json.loads(out.read_text())
    names = [c["name"] for c in report["contestants"]]
    assert names == ["tiny:2", "tiny@3", "opus 16", "mp3 32", "original"]
    codec = load_codec(model_file)
    first = report["contestants"][1]
    assert first["n_codebooks"] == match_count(codec, 3.0, channels=1)
    assert first["nominal_kbps"] == pytest.approx(codec.kbps(first["n_codebooks"]))
    files = [str(clips / "a.wav"), str(clips / "more" / "b.wav")]
    assert [(r["file"], r["contestant"]) for r in report["results"]] == [(f, n) for f in files for n in names]
    for row in report["results"]:
        assert {"mel_distance", "si_sdr", "si_sdr_aligned", "delay_samples"} <= set(row)
        source, render = read_audio(row["file"]), read_audio(row["render"])
        assert render.sample_rate == source.sample_rate and render.samples.shape == source.samples.shape
    original = [r for r in report["results"] if r["contestant"] == "original"]
    assert all(r["mel_distance"] == 0 and r["si_sdr"] is None and r["kbps"] is None for r in original)
    # a codec's bitrate is that of its .rvq stream: the engine's own measurement on the file
    renderer = ClipRenderer(read_audio(files[0]))
    renderer.shelf._codecs[str(model_file)] = codec
    expected = renderer.render(contestants.codec(str(model_file), 2)).measured_kbps
    assert report["results"][0]["kbps"] == pytest.approx(expected)
    for mean in report["means"]:
        rows = [r for r in report["results"] if r["contestant"] == mean["contestant"]]
        assert mean["mel_distance"] == pytest.approx(np.mean([r["mel_distance"] for r in rows]))
    with open(tmp_path / "out.csv", newline="") as stream:
        table = list(csv.DictReader(stream))
    assert [(r["file"], r["contestant"]) for r in table] == [(r["file"], r["contestant"]) for r in report["results"]]
    assert "opus 16" in capsys.readouterr().out  # the means table


def test_plot_is_a_png_of_the_means(tmp_path, clips, capsys):
    from PySide6.QtGui import QImage

    plot = tmp_path / "chart.png"
    assert main(["compare", str(clips / "a.wav"), "--opus", "12,24", "--anchors", "--plot", str(plot)]) == 0
    image = QImage(str(plot))
    assert not image.isNull() and image.width() > 400


def test_stereo_renders_keep_both_channels_apart(tmp_path, clips):
    assert main(["compare", str(clips / "more" / "b.wav"), "--mp3", "64", "--original",
                 "--renders", str(tmp_path / "r")]) == 0
    original, _ = soundfile.read(tmp_path / "r" / "b" / "original.wav", always_2d=True)
    assert original.shape[1] == 2 and not np.allclose(original[:, 0], original[:, 1])


@pytest.mark.parametrize(("argv", "message"), [
    (["--opus", "12"], "2 to 8 contestants, got 1"),
    (["--opus", "12,12"], "opus 12 is given twice"),
    (["--opus", "12", "--opus", "12"], "opus 12 is given twice"),
    (["--opus", "12,x"], "'12,x' is not a bitrate in kbps"),
    (["--opus", "12", "24"], "24: no such file or folder (--opus and --mp3 take one value each"),
    (["--opus", "12", "--codec", "default:0"], "at least 1"),
    (["--opus", "12", "--original", "--metrics", "loudness"], "unknown metric"),
    (["--opus", "12", "--original", "--json", "/no/such/folder/x.json"], "does not exist"),
])
def test_bad_options_are_one_line(clips, capsys, argv, message):
    assert main(["compare", str(clips / "a.wav"), *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_files_and_options_come_in_any_order(clips):
    from app.cli.command_line import build_compare_parser

    a, b = str(clips / "a.wav"), str(clips / "more" / "b.wav")
    orders = [[a, b, "--opus", "12,24", "--mp3", "32"],
              ["--opus", "12", a, "--mp3", "32", "--opus", "24", b],
              ["--mp3", "32", "--opus", "12,24", a, b]]
    for argv in orders:
        args = build_compare_parser().parse_intermixed_args(argv)
        assert (args.inputs, args.opus, args.mp3) == ([a, b], [12.0, 24.0], [32.0])


def test_missing_input_and_too_many_codebooks_are_one_line(tmp_path, model_file, clips, capsys):
    assert main(["compare", str(tmp_path / "none.wav"), "--opus", "12", "--original"]) == 2
    assert "no such file or folder" in capsys.readouterr().err
    assert main(["compare", str(clips / "a.wav"), "--codec", f"{model_file}:99", "--original"]) == 2
    err = capsys.readouterr().err
    assert "codebooks" in err and len(err.strip().splitlines()) == 1


@pytest.mark.slow
def test_bundled_model_at_a_matched_bitrate(tmp_path, clips, capsys):
    out = tmp_path / "out.json"
    assert main(["compare", str(clips / "a.wav"), "--codec", "default@6", "--codec", "default:1",
                 "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    codec = load_codec("default")
    n = report["contestants"][0]["n_codebooks"]
    rates = [codec.kbps(k) for k in range(1, codec.n_codebooks + 1)]
    assert abs(rates[n - 1] - 6) == min(abs(r - 6) for r in rates)
    # residual codebooks refine: the matched count is closer to the clip than one codebook
    assert report["results"][0]["mel_distance"] < report["results"][1]["mel_distance"]
    assert report["results"][0]["si_sdr_aligned"] > report["results"][1]["si_sdr_aligned"]
