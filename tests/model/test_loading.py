"""load_codec recognises files by content, loads strictly, and refuses what is unsafe."""
import io
import pickle
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch
from safetensors import safe_open

from model import CheckpointError, load_codec
from model.export import save_model_file
from model.loading import load_network

FIXTURES = Path(__file__).parent.parent / "fixtures" / "dac"
OFFICIAL = FIXTURES / "dac16k.pth"


def _official():
    return torch.load(OFFICIAL, map_location="cpu", weights_only=True)


def test_official_checkpoint_is_recognised_by_content_not_name(tmp_path):
    renamed = tmp_path / "some_name.bin"
    renamed.write_bytes(OFFICIAL.read_bytes())
    codec = load_codec(renamed)
    assert codec.family == "dac" and codec.sample_rate == 16000 and codec.hop_length == 320
    assert codec.n_codebooks == 12 and codec.codebook_size == 1024


def test_missing_weight_is_named(tmp_path):
    ckpt = _official()
    del ckpt["state_dict"]["decoder.model.0.bias"]
    torch.save(ckpt, tmp_path / "m.pth")
    with pytest.raises(CheckpointError, match=r"missing 1 weights \(decoder\.model\.0\.bias\)"):
        load_codec(tmp_path / "m.pth")


def test_extra_weight_is_named(tmp_path):
    ckpt = _official()
    ckpt["state_dict"]["decoder.extra.weight"] = torch.zeros(3)
    torch.save(ckpt, tmp_path / "m.pth")
    with pytest.raises(CheckpointError, match=r"1 unexpected weights \(decoder\.extra\.weight\)"):
        load_codec(tmp_path / "m.pth")


def test_mismatched_architecture_is_refused(tmp_path):
    ckpt = _official()
    ckpt["metadata"]["kwargs"]["n_codebooks"] = 9
    torch.save(ckpt, tmp_path / "m.pth")
    with pytest.raises(CheckpointError, match="unexpected weights"):
        load_codec(tmp_path / "m.pth")
    ckpt = _official()
    ckpt["metadata"]["kwargs"]["codebook_dim"] = 4
    torch.save(ckpt, tmp_path / "m.pth")
    with pytest.raises(CheckpointError, match="wrong shape"):
        load_codec(tmp_path / "m.pth")


def test_unknown_configuration_key_is_refused(tmp_path):
    ckpt = _official()
    ckpt["metadata"]["kwargs"]["flux_capacitor"] = 1
    torch.save(ckpt, tmp_path / "m.pth")
    with pytest.raises(CheckpointError, match="flux_capacitor"):
        load_codec(tmp_path / "m.pth")


class _Payload:
    def __reduce__(self):
        return (Path("/tmp/rvq_pwned").touch, ())


def test_pickle_with_code_is_refused_and_never_run(tmp_path):
    target = Path("/tmp/rvq_pwned")
    target.unlink(missing_ok=True)
    torch.save({"state_dict": {}, "metadata": {"kwargs": {}}, "x": _Payload()}, tmp_path / "evil.pth")
    with pytest.raises(CheckpointError, match="refused"):
        load_codec(tmp_path / "evil.pth")
    assert not target.exists()


def test_truncated_and_foreign_files_give_clear_errors(tmp_path):
    data = OFFICIAL.read_bytes()
    (tmp_path / "cut.pth").write_bytes(data[: len(data) // 2])
    (tmp_path / "text.pth").write_text("hello")
    (tmp_path / "empty.pth").write_bytes(b"")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("readme.txt", "not a checkpoint")
    (tmp_path / "zip.pth").write_bytes(buf.getvalue())
    for name in ["cut.pth", "text.pth", "empty.pth", "zip.pth", "absent.pth"]:
        with pytest.raises(CheckpointError) as err:
            load_codec(tmp_path / name)
        assert name in str(err.value) and "\n" not in str(err.value)
    torch.save({"weights": torch.zeros(2)}, tmp_path / "other.pth")
    with pytest.raises(CheckpointError, match="not a codec checkpoint"):
        load_codec(tmp_path / "other.pth")


def test_own_safetensors_round_trip_preserves_outputs(tmp_path):
    official = load_codec(OFFICIAL)  # the file's own weights (a codec keeps only their inference form)
    save_model_file(load_network(OFFICIAL)[2], tmp_path / "mine.safetensors", family="dac",
                    config=official.config, name="my model")
    mine = load_codec(tmp_path / "mine.safetensors")
    assert mine.name == "my model" and mine.digest() == official.digest()
    x = torch.randn(1, 1, 8000) * 0.2
    codes = official.encode(x)
    assert torch.equal(mine.encode(x), codes)
    assert torch.equal(mine.decode(codes), official.decode(codes))


def test_exporting_the_same_model_twice_gives_identical_bytes(tmp_path):
    official = load_codec(OFFICIAL)
    extra = {f"key{i}": str(i) for i in range(8)}  # enough keys that hash-map order would vary
    files = [tmp_path / f"{n}.safetensors" for n in "ab"]
    for path in files:
        save_model_file(load_network(OFFICIAL)[2], path, family="dac", config=official.config, name="same",
                        extra=extra)
    assert files[0].read_bytes() == files[1].read_bytes()
    with safe_open(files[0], "pt") as opened:
        assert list(opened.metadata()) and opened.metadata()["key7"] == "7"
    assert load_codec(files[0]).digest() == official.digest()


def test_half_precision_file_loads_close_to_original(tmp_path):
    official = load_codec(OFFICIAL)
    save_model_file(official.network, tmp_path / "half.safetensors", family="dac",
                    config=official.config, name="half", dtype=torch.float16)
    half = load_codec(tmp_path / "half.safetensors")
    assert (tmp_path / "half.safetensors").stat().st_size < 0.6 * OFFICIAL.stat().st_size
    codes = official.encode(torch.randn(1, 1, 8000) * 0.2)
    assert (half.decode(codes) - official.decode(codes)).abs().max() < 0.05


def test_new_style_weight_norm_keys_load(tmp_path):
    ckpt = _official()
    state = {}
    for k, v in ckpt["state_dict"].items():
        k = k.replace("weight_g", "parametrizations.weight.original0").replace(
            "weight_v", "parametrizations.weight.original1")
        state[k] = v
    ckpt["state_dict"] = state
    torch.save(ckpt, tmp_path / "new.pth")
    assert load_codec(tmp_path / "new.pth").digest() == load_codec(OFFICIAL).digest()


def test_default_model_loads_and_is_labelled():
    codec = load_codec("default")
    assert codec.sample_rate == 44100 and codec.hop_length == 512
    assert codec.n_codebooks == 12 and codec.codebook_size == 1024
    if not codec.trained:
        assert "untrained" in codec.name
    assert 0.85 < codec.kbps(1) < 0.87 and 10.3 < codec.kbps(12) < 10.4


def test_checking_a_model_files_shapes_imports_no_symbolic_maths():
    """Every family's network is built on the meta device before its weights are allocated; some
    of torch's meta kernels import sympy, which would add 75 MiB to every process that opens a model."""
    script = (
        "import sys, torch\n"
        "from model import load_codec\n"
        "from model.registry import FAMILIES\n"
        "load_codec('default')\n"
        "for fam in FAMILIES.values():\n"
        "    for recipe in fam.recipes.all:\n"
        "        with torch.device('meta'):\n"
        "            fam.build(recipe.architecture)\n"
        "print('sympy' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                            cwd=Path(__file__).resolve().parents[2])
    assert result.stdout.strip() == "False"


def test_a_training_checkpoint_opened_as_a_model_says_what_to_open_instead(tmp_path):
    from model.training.checkpoint import CheckpointFolder

    path = CheckpointFolder(tmp_path).save(1, {"step": 1, "generator": {"w": torch.zeros(2)}}, keep=1)
    with pytest.raises(CheckpointError, match="a training checkpoint, not a model: open the run's model.safetensors"):
        load_codec(path)
